"""convlab speed benchmark: convlab vs the textbook baseline vs PyTorch CPU, in one process.

    python bench/run.py                  # full run (a few minutes; the textbook epoch is slow)
    python bench/run.py --quick          # a rough run in well under a minute
    python bench/run.py --json out.json  # also write every figure plus machine information

What is measured (median wall time over ``--repeats``; the implementations take turns inside
every repeat, so a burst of load from elsewhere hits all of them alike):

- per layer, forward and forward+backward (input, weight and bias gradients):
  (a) Convolution N=100, C=1, 28x28, 30 filters 5x5, stride 1, pad 0;
  (b) Convolution N=100, C=16, 14x14, 32 filters 3x3, stride 1, pad 1;
  (c) 2x2 max pooling, stride 2, on (100, 30, 24, 24);
- a SimpleConvNet training step (batch 100: forward, backward, Adam update; each sample times
  10 steps in a row), evaluating 10,000 images, and a full epoch of 60,000 images (a fresh
  permutation, 600 steps, gathering each batch), median over ``--epochs``;
- peak memory of one training step above the process's baseline, in a fresh subprocess per
  implementation (see ``memory_child``: peak RSS via /proc/self/status VmHWM after resetting it,
  and for the NumPy implementations also the peak of NumPy's own allocations via tracemalloc).

Implementations: convlab (float32, the fused step and Adam on its threads, as ``Trainer`` runs
SimpleConvNet), layers (convlab's fast layer twins, ``convlab.fast.plan.LayerPlan``, what
``Trainer`` runs for the other nets), ``bench/textbook.py`` (the book's style: float64 im2col buffers, pooling through im2col),
and PyTorch (when importable) with ``torch.set_num_threads``
set to NumPy's BLAS thread count. All three start from the same weights. Before timing anything
the script checks that textbook and convlab compute the same loss and gradients.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))   # for ``import threads, textbook``
from threads import set_threads_from_argv  # noqa: E402

if __name__ == "__main__":
    set_threads_from_argv(sys.argv[1:])       # before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))          # convlab from this checkout, even if not installed

import textbook  # noqa: E402

from convlab.fast.fused import EVAL_BATCH, fused_for  # noqa: E402
from convlab.fast.layers import Convolution, Pooling  # noqa: E402
from convlab.fast.plan import LayerPlan  # noqa: E402
from convlab.fast.workspace import Workspace  # noqa: E402
from convlab.nets import SimpleConvNet  # noqa: E402
from convlab.optim import Adam  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:                           # torch is optional
    torch = None

IMPLS = ("convlab", "layers", "textbook", "torch")   # layers: convlab without the fused step
BATCH = 100
STEPS_PER_SAMPLE = 10     # training steps per timed sample of the step row
LAYER_CASES = {   # name: (kind, x shape, W shape or pool size, stride, pad)
    "conv_a": ("conv", (100, 1, 28, 28), (30, 1, 5, 5), 1, 0),
    "conv_b": ("conv", (100, 16, 14, 14), (32, 16, 3, 3), 1, 1),
    "pool_c": ("pool", (100, 30, 24, 24), 2, 2, 0),
}
LABELS = {"conv_a": "conv (a) 1->30 5x5 28x28", "conv_b": "conv (b) 16->32 3x3 p1 14x14",
          "pool_c": "pool (c) 2x2/2 30x24x24"}


# ------------------------------------------------------------------------------------ threads --

def blas_threads():
    """(threads NumPy's BLAS uses, how we know). threadpoolctl asks the library itself; without
    it we assume OpenBLAS's default of one thread per CPU this process may run on."""
    try:
        import threadpoolctl
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas":
                return int(info["num_threads"]), f"threadpoolctl ({info.get('internal_api')})"
    except ImportError:
        pass
    if os.environ.get("OPENBLAS_NUM_THREADS"):
        return int(os.environ["OPENBLAS_NUM_THREADS"]), "OPENBLAS_NUM_THREADS (set by --threads)"
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return n, "assumed: OpenBLAS default, one thread per available CPU"


# --------------------------------------------------------------------------------------- data --

def get_data(kind, n_train, seed=0):
    """(x (N, 1, 28, 28) float32 in [0, 1], t (N,) int64, description)."""
    if kind in ("auto", "mnist"):
        try:
            from convlab.data import load_mnist
            (x, t), _ = load_mnist(flatten=False, download=False)
            return x[:n_train], t[:n_train].astype(np.int64), f"MNIST training images ({n_train:,})"
        except Exception as e:          # noqa: BLE001 -- any failure means: no MNIST here
            if kind == "mnist":
                raise SystemExit(f"--data mnist: MNIST could not be loaded ({e})")
    rng = np.random.default_rng(seed)
    x = rng.random((n_train, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, n_train)
    return x, t, f"synthetic uniform [0, 1) images of MNIST shape ({n_train:,})"


# ------------------------------------------------------------------------- implementations --

def initial_params(seed=0):
    """SimpleConvNet's initial weights (float32), shared by all three implementations."""
    return {k: v.copy() for k, v in SimpleConvNet(seed=seed).params.items()}


def convlab_net(params):
    """A convlab SimpleConvNet holding copies of ``params``."""
    net = SimpleConvNet(seed=0)
    for k, p in net.params.items():
        p[...] = params[k]
    return net


class TorchSimpleConvNet:
    """The same net in PyTorch: Conv2d - ReLU - MaxPool2d - Linear - ReLU - Linear, cross-entropy
    loss, torch.optim.Adam(lr=0.001). Built from convlab's initial weights."""

    def __init__(self, params):
        self.model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(4320, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
        m = self.model
        with torch.no_grad():
            m[0].weight.copy_(torch.from_numpy(params["W1"]))
            m[0].bias.copy_(torch.from_numpy(params["b1"]))
            m[4].weight.copy_(torch.from_numpy(params["W2"].T.copy()))
            m[4].bias.copy_(torch.from_numpy(params["b2"]))
            m[6].weight.copy_(torch.from_numpy(params["W3"].T.copy()))
            m[6].bias.copy_(torch.from_numpy(params["b3"]))
        self.opt = torch.optim.Adam(m.parameters(), lr=0.001)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def step(self, x, t):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), t)
        loss.backward()
        self.opt.step()
        return loss


def make_trainer(impl, params):
    """step(x, t) for one training step of SimpleConvNet with Adam(lr=0.001), plus a converter
    from NumPy batches to what that implementation eats."""
    if impl == "convlab":                     # what convlab.train.Trainer runs for this net
        net = convlab_net(params)
        opt, fused = Adam(lr=0.001), fused_for(net)

        def step(x, t):
            fused.step(x, t, opt)
        return step, lambda a: a
    if impl == "layers":                      # the fast layer twins (what other nets get)
        plan, opt = LayerPlan(convlab_net(params)), Adam(lr=0.001)

        def step(x, t):
            plan.step(x, t, opt)
        return step, lambda a: a
    if impl == "textbook":
        net = textbook.SimpleConvNet(params=params)
        opt = textbook.Adam(lr=0.001)

        def step(x, t):
            opt.update(net.params, net.gradient(x, t))
        return step, lambda a: a
    tnet = TorchSimpleConvNet(params)
    return tnet.step, torch.from_numpy


def make_layer(impl, case, rng):
    """(forward(), forward_backward()) closures for one layer case; the backward computes the
    input gradient too (and the weight and bias gradients for a convolution)."""
    kind, xs, ws, stride, pad = LAYER_CASES[case]
    x = rng.random(xs, dtype=np.float32)
    if kind == "conv":
        W = (0.1 * rng.standard_normal(ws)).astype(np.float32)
        b = (0.1 * rng.standard_normal(ws[0])).astype(np.float32)
        N, _, H, Wd = xs
        OH, OW = (H + 2 * pad - ws[2]) // stride + 1, (Wd + 2 * pad - ws[3]) // stride + 1
        out_shape = (N, ws[0], OH, OW)
    else:
        N, C, H, Wd = xs
        out_shape = (N, C, (H - ws) // stride + 1, (Wd - ws) // stride + 1)
    dout = rng.standard_normal(out_shape, dtype=np.float32)

    if impl in ("convlab", "textbook"):
        mod = {"convlab": None, "textbook": textbook}[impl]
        if kind == "conv":
            layer = (Convolution(W, b, stride, pad) if impl == "convlab"
                     else mod.Convolution(W.astype(np.float64), b.astype(np.float64), stride, pad))
        else:
            layer = Pooling(ws, ws, stride) if impl == "convlab" else mod.Pooling(ws, ws, stride)

        ws = Workspace() if impl == "convlab" else None   # as in a training step

        def fwd():
            if ws is None:
                return layer.forward(x)
            with ws.attached([layer]):
                return layer.forward(x)

        def fwd_bwd():
            if ws is None:
                layer.forward(x)
                return layer.backward(dout.copy())
            with ws.attached([layer]):
                layer.forward(x)
                return layer.backward(dout)
        return fwd, fwd_bwd

    tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)
    txg = tx.clone().requires_grad_(True)
    if kind == "conv":
        tW, tb = torch.from_numpy(W), torch.from_numpy(b)
        tWg, tbg = tW.clone().requires_grad_(True), tb.clone().requires_grad_(True)

        def fwd():
            with torch.no_grad():
                return F.conv2d(tx, tW, tb, stride=stride, padding=pad)

        def fwd_bwd():
            out = F.conv2d(txg, tWg, tbg, stride=stride, padding=pad)
            return torch.autograd.grad(out, (txg, tWg, tbg), tdout)
    else:
        def fwd():
            with torch.no_grad():
                return F.max_pool2d(tx, ws, stride)

        def fwd_bwd():
            out = F.max_pool2d(txg, ws, stride)
            return torch.autograd.grad(out, (txg,), tdout)
    return fwd, fwd_bwd


# ------------------------------------------------------------------------------ correctness --

def check_agreement(n=20, seed=1):
    """Textbook and convlab (both float64, same weights) must give the same loss and gradients on
    a small batch, or the baseline is not a baseline. Returns the worst relative error of the
    gradients and the loss difference (the textbook adds 1e-7 inside the log, convlab does not)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28))
    t = rng.integers(0, 10, n)
    cnet = SimpleConvNet(seed=seed, dtype=np.float64, weight_init_std=0.1)
    tnet = textbook.SimpleConvNet(params=cnet.params)
    cg, tg = cnet.gradient(x, t), tnet.gradient(x, t)
    worst = max(float(np.max(np.abs(cg[k] - tg[k])) / max(np.max(np.abs(cg[k])), 1e-300)) for k in cg)
    loss_diff = abs(float(cnet.loss(x, t)) - float(tnet.loss(x, t)))
    return worst, loss_diff


# ------------------------------------------------------------------------------------ timing --

def make_evaluator(impl, params, x, t):
    """evaluate() -> accuracy on (x, t), in batches as that implementation's training loop
    evaluates (convlab: the fused predict in chunks of EVAL_BATCH; textbook: 100; torch: 100,
    no_grad). Every implementation counts the same correct answers (the weights are the same)."""
    if impl in ("convlab", "layers"):
        net = convlab_net(params)
        target = fused_for(net) if impl == "convlab" else LayerPlan(net)
        return lambda: target.accuracy(x, t, batch_size=EVAL_BATCH)
    if impl == "textbook":
        net = textbook.SimpleConvNet(params=params)
        return lambda: sum(int(np.sum(net.predict(x[i:i + 100]).argmax(1) == t[i:i + 100]))
                           for i in range(0, len(x), 100)) / len(x)
    model, X, T = TorchSimpleConvNet(params).model.eval(), torch.from_numpy(x), torch.from_numpy(t)

    def evaluate():
        with torch.no_grad():
            correct = sum(int((model(X[i:i + 100]).argmax(1) == T[i:i + 100]).sum())
                          for i in range(0, len(X), 100))
        return correct / len(X)
    return evaluate


def time_interleaved(funcs, repeats, warmup=1):
    """{name: [seconds]} for each zero-argument function, taking turns within every repeat."""
    for f in funcs.values():
        for _ in range(warmup):
            f()
    times = {name: [] for name in funcs}
    names = list(funcs)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:   # rotate who goes first
            t0 = time.perf_counter()
            funcs[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def epoch_runner(step, conv, x, t, seed):
    """One epoch: a fresh permutation, then every full batch of BATCH images in turn."""
    X, T = conv(x), conv(t)
    rng = np.random.default_rng(seed)

    def run():
        perm = rng.permutation(x.shape[0])
        if torch is not None and isinstance(X, torch.Tensor):
            perm = torch.from_numpy(perm)
        for i in range(0, x.shape[0] - BATCH + 1, BATCH):
            idx = perm[i:i + BATCH]
            step(X[idx], T[idx])
    return run


# ------------------------------------------------------------------------------------ memory --

def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024        # kB -> bytes
    return None


def _release():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)            # hand freed heap back to the OS
    except (OSError, AttributeError):
        pass


def memory_child(impl, threads, mode):
    """Run in a fresh process (one per implementation and mode); prints JSON.

    The baseline is the process after imports, data, net and optimiser are set up, before any
    step. ``first`` is the peak above it over the first 3 training steps: this counts everything
    training needs -- Adam's state, gradients, and the arrays convlab keeps for reuse. ``steady``
    is the peak of one more step above the memory in use just before it (what a step adds once
    everything persistent exists). mode 'rss': resident set size from /proc/self/status, peak
    VmHWM after resetting it via /proc/self/clear_refs. mode 'traced' (NumPy implementations):
    NumPy's own allocations, which it reports to tracemalloc; immune to allocator caching.
    """
    if impl == "torch":
        torch.set_num_threads(threads)
    x, t, _ = get_data("synthetic", BATCH)
    step, conv = make_trainer(impl, initial_params())
    X, T = conv(x), conv(t)
    if mode == "traced":
        import tracemalloc
        tracemalloc.start()
    _release()

    def now():
        return tracemalloc.get_traced_memory()[0] if mode == "traced" else _status("VmRSS")

    def reset_and_run(n):
        base = now()
        if mode == "traced":
            tracemalloc.reset_peak()
        else:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                                # resets VmHWM to the current RSS
        for _ in range(n):
            step(X, T)
        peak = tracemalloc.get_traced_memory()[1] if mode == "traced" else _status("VmHWM")
        return peak - base

    first = reset_and_run(3)
    _release()
    steady = reset_and_run(1)
    print(json.dumps({"first": first, "steady": steady}))


def measure_memory(impl, threads):
    """{mode: {'first': bytes, 'steady': bytes}} for mode 'rss' and, NumPy only, 'traced'."""
    out = {}
    for mode in ("rss", "traced") if impl != "torch" else ("rss",):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", impl,
               "--memory-mode", mode, "--threads", str(threads)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
            out[mode] = json.loads(res.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError) as e:
            out[mode] = {"error": str(e)}
    return out


# ----------------------------------------------------------------------------- machine info --

def machine_info(threads, thread_method):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:               # noqa: BLE001 -- older NumPy: no dict mode
        blas = None
    info = {"cpu": cpu, "cpu_count": os.cpu_count(),
            "available_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "blas": blas, "threads": threads, "threads_method": thread_method,
            "torch": torch.__version__ if torch is not None else None,
            "loadavg_start": os.getloadavg()}
    if torch is not None:
        info["torch_num_threads"] = torch.get_num_threads()
    return info


# ------------------------------------------------------------------------------------ report --

TARGETS = {   # row -> (ratio key, comparison, bound): issues 5 and 12
    "conv_a fwd+bwd": ("convlab/torch", "<=", 1.5),
    "conv_b fwd+bwd": ("convlab/torch", "<=", 1.5),
    "pool_c fwd+bwd": ("convlab/torch", "<=", 1.5),
    "step": ("convlab/torch", "<=", 0.6),     # issue 12 (two threads; 0.8 with one thread)
    "epoch": ("convlab/torch", "<=", 0.6),
    "eval": ("convlab/torch", "<=", 0.5),
}


def fmt_cell(v, unit):
    if v is None:
        return "-"
    if unit == "bytes":
        return f"{v / 2**20:.1f} MiB"
    return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"


def ratio(a, b):
    return None if a is None or b is None else a / b


def print_table(rows, impls):
    head = f"{'case':<36s}" + "".join(f"{i:>12s}" for i in impls) + f"{'text/conv':>11s}{'conv/torch':>11s}"
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        cells = "".join(f"{fmt_cell(r['median'].get(i), r['unit']):>12s}" for i in impls)
        tc, ct = r.get("textbook/convlab"), r.get("convlab/torch")
        print(f"{r['label']:<36s}{cells}{(f'{tc:.1f}x' if tc else '-'):>11s}{(f'{ct:.2f}x' if ct else '-'):>11s}")


def markdown_table(results):
    """The table of a --json results file as Markdown (for the README)."""
    rows, impls = results["rows"], [i for i in IMPLS if any(i in r["median"] for r in results["rows"].values())]
    lines = ["| case | " + " | ".join(impls) + " | textbook / convlab | convlab / torch |",
             "|---|" + "---:|" * (len(impls) + 2)]
    for r in rows.values():
        tc, ct = r.get("textbook/convlab"), r.get("convlab/torch")
        cells = [fmt_cell(r["median"].get(i), r["unit"]) for i in impls]
        lines.append(f"| {r['label'].strip()} | " + " | ".join(cells) +
                     f" | {f'{tc:.1f}x' if tc else '-'} | {f'{ct:.2f}x' if ct else '-'} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats per layer case and training step (default 30; 5 with --quick)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="timed epochs per implementation (default 3; 1 with --quick)")
    ap.add_argument("--json", metavar="PATH", help="also write results and machine info as JSON")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats, an 'epoch' of 3,000 images, no memory subprocesses")
    ap.add_argument("--data", choices=("auto", "synthetic", "mnist"), default="auto",
                    help="epoch data: MNIST via convlab.data if on disk (auto), or synthetic")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if importable")
    ap.add_argument("--no-textbook-epoch", action="store_true",
                    help="skip the textbook's epoch (about a minute each)")
    ap.add_argument("--markdown", metavar="JSON", help="print the table of a --json file as Markdown and exit")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS and torch threads (default: NumPy's BLAS default, one per CPU); "
                         "--threads 1 gives steadier figures on a busy shared machine")
    ap.add_argument("--memory-child", choices=IMPLS, help=argparse.SUPPRESS)
    ap.add_argument("--memory-mode", choices=("rss", "traced"), default="rss", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.markdown:
        print(markdown_table(json.loads(Path(args.markdown).read_text())))
        return None
    global torch
    if args.no_torch:
        torch = None
    threads, thread_method = blas_threads()
    if args.threads:
        threads = args.threads
    if torch is not None:
        torch.set_num_threads(threads)
    if args.memory_child:
        return memory_child(args.memory_child, threads, args.memory_mode)

    repeats = args.repeats or (5 if args.quick else 30)
    n_epochs = args.epochs or (1 if args.quick else 3)
    n_train = 3000 if args.quick else 60000
    impls = [i for i in IMPLS if i != "torch" or torch is not None]
    info = machine_info(threads, thread_method)
    print(f"CPU: {info['cpu']} ({info['available_cpus']} available); NumPy {np.__version__} "
          f"({(info['blas'] or {}).get('name', '?')} {(info['blas'] or {}).get('version', '')}); "
          f"torch {info['torch'] or 'not installed'}; threads {threads} ({thread_method})")
    print("load average at start: " + " ".join(f"{v:.2f}" for v in info["loadavg_start"]))

    worst, loss_diff = check_agreement()
    print(f"check: textbook vs convlab (float64) gradients agree to {worst:.1e} relative, "
          f"loss to {loss_diff:.1e}")
    if worst > 1e-8:
        raise SystemExit("textbook and convlab disagree; not timing a wrong baseline")

    rows, raw = {}, {}
    rng = np.random.default_rng(0)

    def add(key, label, times, unit="s"):
        med = {i: float(np.median(v)) for i, v in times.items()}
        row = {"label": label, "unit": unit, "median": med,
               "textbook/convlab": ratio(med.get("textbook"), med.get("convlab")),
               "convlab/torch": ratio(med.get("convlab"), med.get("torch"))}
        rows[key], raw[key] = row, {i: list(map(float, v)) for i, v in times.items()}
        print(f"  measured {label}", flush=True)

    # layers
    for case in LAYER_CASES:
        fns = {i: make_layer(i, case, np.random.default_rng(1)) for i in impls if i != "layers"}
        add(f"{case} fwd", f"{LABELS[case]} fwd", time_interleaved({i: f[0] for i, f in fns.items()}, repeats))
        add(f"{case} fwd+bwd", f"{LABELS[case]} fwd+bwd",
            time_interleaved({i: f[1] for i, f in fns.items()}, repeats))
        del fns
        gc.collect()

    # training step and epoch
    params = initial_params()
    x, t, data_desc = get_data(args.data, n_train)
    trainers = {i: make_trainer(i, params) for i in impls}
    xb, tb = x[:BATCH], t[:BATCH]
    # STEPS_PER_SAMPLE steps in a row per timing: the first step after another library ran
    # meets its idle threads still spinning (OpenBLAS, OpenMP); in a row, as in training, not.
    steps = {i: (lambda s=s, X=c(xb), T=c(tb): [s(X, T) for _ in range(STEPS_PER_SAMPLE)])
             for i, (s, c) in trainers.items()}
    times = time_interleaved(steps, repeats, warmup=1)
    add("step", "SimpleConvNet train step (batch 100)",
        {i: [v / STEPS_PER_SAMPLE for v in ts] for i, ts in times.items()})
    n_eval = min(10000, len(x))
    evals = {i: make_evaluator(i, params, x[:n_eval], t[:n_eval]) for i in impls}
    accs = {i: f() for i, f in evals.items()}
    if len(set(accs.values())) != 1:
        raise SystemExit(f"the implementations disagree on the accuracy: {accs}")
    add("eval", f"evaluate {n_eval:,} images", time_interleaved(evals, max(3, repeats // 5)))
    epoch_impls = [i for i in impls if not (args.no_textbook_epoch and i == "textbook")]
    epochs = {i: epoch_runner(*trainers[i], x, t, seed=1) for i in epoch_impls}
    add("epoch", f"SimpleConvNet epoch ({n_train:,} images)", time_interleaved(epochs, n_epochs, warmup=0))
    del trainers, steps, epochs
    gc.collect()

    # memory
    if not args.quick:
        mem = {i: measure_memory(i, threads) for i in impls}
        for mode, what in (("rss", "RSS"), ("traced", "NumPy tracemalloc")):
            for phase, label in (("first", "first 3 steps"), ("steady", "1 later step")):
                vals = {i: [m[mode][phase]] for i, m in mem.items() if phase in m.get(mode, {})}
                if vals:
                    add(f"memory_{mode}_{phase}", f"peak {what}, {label}", vals, unit="bytes")
        raw["memory_detail"] = mem

    info["loadavg_end"] = os.getloadavg()
    print()
    print(f"medians over {repeats} repeats (layers, step) and {n_epochs} epoch(s); data: {data_desc}")
    print_table(rows, impls)
    print(f"load average at end: " + " ".join(f"{v:.2f}" for v in info["loadavg_end"]))

    verdicts = {}
    for key, (rkey, op, bound) in TARGETS.items():
        if key in ("step", "epoch") and threads == 1:
            bound = 0.8                              # issue 12's target for one thread
        v = rows.get(key, {}).get(rkey)
        verdicts[key] = None if v is None else {"ratio": v, "target": f"{rkey} {op} {bound}", "met": v <= bound}
    e = rows["epoch"].get("textbook/convlab")
    verdicts["epoch vs textbook"] = None if e is None else {"ratio": e, "target": "textbook/convlab >= 8",
                                                            "met": e >= 8}
    tt = ratio(rows["epoch"]["median"].get("textbook"), rows["epoch"]["median"].get("torch"))
    if verdicts["epoch vs textbook"] and tt is not None:
        verdicts["epoch vs textbook"]["torch_for_comparison"] = tt   # textbook/torch, same run
    if "memory_rss_first" in rows:
        m = rows["memory_rss_first"]["convlab/torch"]
        verdicts["memory"] = None if m is None else {"ratio": m, "target": "convlab/torch <= 1", "met": m <= 1}
    print("targets: " + "; ".join(f"{k} {v['target']}: {v['ratio']:.2f} {'met' if v['met'] else 'NOT met'}"
                                  for k, v in verdicts.items() if v))
    ev = verdicts.get("epoch vs textbook")
    if ev and "torch_for_comparison" in ev:
        print(f"for comparison, PyTorch is {ev['torch_for_comparison']:.2f}x faster than the textbook "
              "per epoch in this run")

    if args.json:
        out = {"machine": info, "data": data_desc, "repeats": repeats, "epochs": n_epochs,
               "check": {"grad_rel_error": worst, "loss_diff": loss_diff},
               "rows": rows, "targets": verdicts, "raw_seconds": raw}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
