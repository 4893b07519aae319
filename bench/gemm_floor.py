"""What this machine's BLAS allows: each registry net's GEMM floor, measured (issue 19).

    python bench/gemm_floor.py                      # every net, 2 and 1 threads, 3 runs (a few minutes)
    python bench/gemm_floor.py --runs 1 --nets deep --json out.json
    python bench/gemm_floor.py --reference bench/latest_nets.json   # also against a quiet run's PyTorch
    python bench/gemm_floor.py --markdown bench/latest_gemm_floor.json   # the tables again

``bench/macs.py`` states a floor as multiply-adds at an assumed 200 GFLOP/s. This script measures
it instead: it times, with NumPy's own BLAS, exactly the matrix products a net needs, and sets
them against the same net's PyTorch twin timed in the same process.

The products (``products``), read off the net's own layers (``build_net(name, seed=0)``); per
convolution with K = C*FH*FW and P = OH*OW output pixels, per affine layer D x M, N images:

    conv   forward  (FN x K) @ (K x N*P)       affine  forward  (N x D) @ (D x M)
           dW       (FN x N*P) @ (N*P x K)             dW       (D x N) @ (N x M)
           dx       (K x FN) @ (FN x N*P)              dx       (N x M) @ (M x D)

A training step (batch 100) runs all three, except the first layer's dx (nobody needs the images'
gradient); an evaluation of 10,000 images runs the forward products only, in passes. Their
multiply-adds equal ``bench/macs.py``'s count (a test says so).

How they are timed: float32, C-contiguous operands made in advance, the result written into an
array made in advance; one process per thread count (``--threads N`` before NumPy loads OpenBLAS,
as ``bench/run.py``). A step is timed, and the better kept, in two ways on two threads:

* "one call": each product once on the whole batch, with all of OpenBLAS's threads: the sum of
  each product's best time (of at least ``--repeats`` calls, more while under 0.05 s);
* "split": half the images on each thread, every thread with one OpenBLAS thread and its own
  operands, as ``convlab.fast.plan.LayerPlan`` runs a step (its ``Workers``): the best time
  of the whole list, dispatch to join.

Evaluation is timed per pass and multiplied by the passes 10,000 images take, for passes of
50 images per thread, of the plan's own evaluation batch per thread (``eval_per_thread``:
``eval_batch`` of the plan ``compile_net`` picks) and of 1,000 images, each "one call" and
"split"; the best of these is the floor. On one thread only "one call" exists.

PyTorch (``bench/twins.py``, torch threads = ``--threads``): its training step (Adam, batch 100)
and its evaluation of the 10,000 MNIST test images (synthetic ones without MNIST) in the batch
``Trainer`` evaluates that net in, as ``bench/run.py`` runs them, but timed best-of like the GEMMs
(``torch_times``: single steps; the evaluation in pieces of 200 images) rather than by medians:
on a shared 2-core machine a descheduled thread makes a two-thread PyTorch pass many times
slower. The targets are issue 19's (``run.NET_TARGETS``): a step <= 1.0x PyTorch's
(SimpleConvNet: 0.5x), an evaluation <= 0.5x. ``--reference bench/latest_nets.json`` sets the
same GEMM times against the PyTorch times of a ``bench/run.py --nets`` run on a quiet machine too.

Every time is taken on two clocks, each with its own best: wall time (what the targets are
about) and the process's CPU time (every thread, spinning included; on one thread the figure
least disturbed by other processes, on two not comparable with the targets).

Left out, on purpose: everything but the products -- im2col and col2im, the copies and
transposes that make contiguous operands, the bias, pooling, ReLU, LRN, the loss, the gradients'
sum over threads and Adam's update -- and the cache misses of operands a real step has just
written elsewhere. So a step that multiplies these shapes with NumPy cannot be faster than this
floor, and in practice is well slower. It is no bound for the same products cut into other
shapes (the fused SimpleConvNet's stacked small GEMMs beat one big one), for other algorithms
(Winograd, FFT) or for compiled code.

``--runs R`` (default 3) repeats everything R times, each thread count in a fresh process, and
reports the medians of the R best-of numbers and their spread ((max - min) / median).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))                 # for ``import threads, run``
from threads import set_threads_from_argv  # noqa: E402

if __name__ == "__main__":
    set_threads_from_argv(sys.argv[1:])       # before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE.parent))          # convlab from this checkout, even if not installed

import run  # noqa: E402  -- bench/run.py: the PyTorch twin's timing, as the per-net bench does it

from convlab.fast import compile_net  # noqa: E402
from convlab.fast.threads import Workers  # noqa: E402
from convlab.layers import Affine, Convolution  # noqa: E402
from convlab.nets import NETS, build_net  # noqa: E402
from convlab.train import Trainer  # noqa: E402

BATCH = 100                 # training batch
EVAL_IMAGES = 10_000        # the test set
MIN_SECONDS = 0.05          # least time spent on each best-of timing (see best_time)
EVAL_PIECE = 200            # PyTorch's evaluation is timed in pieces of this many images
EVAL_PASS = 1000            # images per pass, besides the plan's own (eval_per_thread) ...
EVAL_SMALL = 50             # ... and this many per thread (small products, in the cache)


# -------------------------------------------------------------------------------- products --

def products(net, images, train=True):
    """[{"layer", "kind", "m", "k", "n"}]: the (m x k) @ (k x n) products of a training step
    (``train``) or a forward pass on ``images`` images, from the layers' shapes (output sizes
    read off one forward pass of a blank image, as bench/macs.py)."""
    net.predict(np.zeros((1,) + tuple(net.input_dim), dtype=net.dtype))
    out = []
    for i, (name, layer) in enumerate(net.layers.items()):
        if isinstance(layer, Convolution):
            FN, C, FH, FW = layer.W.shape
            K, NP = C * FH * FW, images * int(np.prod(layer.out_shape[2:]))
            shapes = {"forward": (FN, K, NP), "dW": (FN, NP, K), "dx": (K, FN, NP)}
        elif isinstance(layer, Affine):
            D, M = layer.W.shape
            shapes = {"forward": (images, D, M), "dW": (D, images, M), "dx": (images, M, D)}
        else:
            continue
        kinds = ("forward", "dW", "dx") if train else ("forward",)
        out += [dict(layer=name, kind=kind, m=m, k=k, n=n)
                for kind, (m, k, n) in shapes.items() if kind in kinds and not (kind == "dx" and i == 0)]
    return out


def multiply_adds(prods):
    return sum(p["m"] * p["k"] * p["n"] for p in prods)


def operands(prods, rng):
    """[(A, B, out)] float32, C-contiguous, one triple per product."""
    return [(rng.random((p["m"], p["k"]), dtype=np.float32), rng.random((p["k"], p["n"]), dtype=np.float32),
             np.empty((p["m"], p["n"]), np.float32)) for p in prods]


def _run_all(ops):
    for A, B, C in ops:
        np.matmul(A, B, out=C)


CLOCKS = ("wall", "cpu")     # perf_counter; process_time (every thread of the process, spinning too)


def best_time(fn, repeats, min_seconds=None, warmup=True):
    """{"wall": s, "cpu": s}: the least of each clock's times of ``fn()`` over at least
    ``repeats`` calls, and more while they have taken under ``min_seconds`` of wall time (at
    most 200 calls): on a shared machine a short product needs many tries to find one that
    nothing interrupted. One untimed call first unless ``warmup`` is False."""
    min_seconds = MIN_SECONDS if min_seconds is None else min_seconds
    if warmup:
        fn()
    best, spent, calls = {c: float("inf") for c in CLOCKS}, 0.0, 0
    while calls < repeats or (spent < min_seconds and calls < 200):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = {"wall": min(best["wall"], dt), "cpu": min(best["cpu"], dc)}
        spent, calls = spent + dt, calls + 1
    return best


def _sum(times, factor=1):
    """factor x the sum of [{"wall", "cpu"}], clock by clock."""
    return {c: factor * sum(t[c] for t in times) for c in CLOCKS}


def best_each(ops, repeats):
    """[best times of each product], on this thread with its OpenBLAS threads."""
    return [best_time(lambda A=A, B=B, C=C: np.matmul(A, B, out=C), repeats) for A, B, C in ops]


def best_split(per_thread_ops, workers, repeats):
    """Best times of every thread running its whole list of products at once
    (``Workers.run``: one OpenBLAS thread each), dispatch to join."""
    jobs = [(ops,) for ops in per_thread_ops]
    return best_time(lambda: workers.run(_run_all, jobs), repeats)


def eval_per_thread(net):
    """Images per thread and pass when the net's fast plan evaluates (its ``eval_batch``)."""
    return compile_net(net, threads=1, warn=False).eval_batch


def gemm_times(net, threads, repeats, workers, rng):
    """The net's GEMM-only times at ``threads`` threads: step and evaluation, each per way."""
    step_prods = products(net, BATCH)
    ops = operands(step_prods, rng)
    each = best_each(ops, repeats)
    for p, t in zip(step_prods, each):
        p["seconds"] = t
    step = {"one call": _sum(each)}
    del ops
    if workers.threads > 1:
        ops = [operands(products(net, BATCH // threads), rng) for _ in range(threads)]
        step["split"] = best_split(ops, workers, repeats)
        del ops
    ev = {}
    for chunk in dict.fromkeys((EVAL_SMALL * threads, eval_per_thread(net) * threads, EVAL_PASS)):                    # images per pass
        passes = EVAL_IMAGES / chunk
        ops = operands(products(net, chunk, train=False), rng)
        ev[f"one call, {chunk} per pass"] = _sum(best_each(ops, repeats), passes)
        del ops
        if workers.threads > 1:
            ops = [operands(products(net, chunk // threads, train=False), rng) for _ in range(threads)]
            ev[f"split, {chunk // threads} per thread"] = _sum([best_split(ops, workers, repeats)], passes)
            del ops
    return step_prods, step, ev


def best_way(ways):
    """{"wall", "cpu"}: each clock's least time over the ways (which may differ per clock)."""
    return {c: min(w[c] for w in ways.values()) for c in CLOCKS}


# -------------------------------------------------------------------------------- PyTorch --

def torch_times(net, x, t, rounds, eval_rounds):
    """(step, evaluation of x, its batch) of the net's PyTorch twin (bench/run.py's TorchTwin:
    Adam, batch 100; no_grad and eval mode in the batch Trainer evaluates this net in), best
    of, like the GEMMs: the step the best of ``rounds`` steps; the evaluation the sum over
    pieces of EVAL_PIECE images of each piece's best of ``eval_rounds``, so a burst of load
    from elsewhere spoils one piece's try, not the total."""
    tr = Trainer(net, x[:1], t[:1], x, t, epochs=1, mini_batch_size=BATCH, train_eval_size=1,
                 verbose=False)
    ebs = run.trainer_eval_batch(tr)
    tw = run.TorchTwin(net)
    X, T = run.torch.from_numpy(x), run.torch.from_numpy(t)
    Xb, Tb = X[:BATCH], T[:BATCH]
    tw.accuracy(X[:EVAL_PIECE], T[:EVAL_PIECE], ebs)         # warm up
    for _ in range(2):
        tw.step(Xb, Tb)
    st = best_time(lambda: tw.step(Xb, Tb), rounds, min_seconds=0)
    ev = _sum([best_time(lambda i=i: tw.accuracy(X[i:i + EVAL_PIECE], T[i:i + EVAL_PIECE], ebs),
                         eval_rounds, min_seconds=0, warmup=False)
               for i in range(0, len(x), EVAL_PIECE)])
    return st, ev, ebs


# ------------------------------------------------------------------------------- one process --

def measure(names, threads, repeats, rounds, eval_rounds, use_torch, data):
    """Every net of ``names`` at this process's thread count: a dict for JSON."""
    if use_torch:
        run.torch.set_num_threads(threads)
        x, t, desc = run.eval_data(data, EVAL_IMAGES)
    workers = Workers(threads)
    out = {"threads": threads, "split_threads": workers.threads, "repeats": repeats,
           "loadavg_start": os.getloadavg(), "eval_data": desc if use_torch else None, "nets": {}}
    rng = np.random.default_rng(0)
    for name in names:
        net = build_net(name, seed=0)
        prods, step, ev = gemm_times(net, threads, repeats, workers, rng)
        r = {"step_multiply_adds": multiply_adds(prods),
             "eval_multiply_adds": multiply_adds(products(net, EVAL_IMAGES, train=False)),
             "step_gemm_ways": step, "eval_gemm_ways": ev,
             "step_gemm": best_way(step), "eval_gemm": best_way(ev), "products": prods}
        if use_torch:
            r["torch_step"], r["torch_eval"], r["torch_eval_batch"] = torch_times(
                net, x, t, rounds, eval_rounds)
        out["nets"][name] = r
        print(f"  [{threads} thread(s)] {name} (wall): GEMMs step {r['step_gemm']['wall'] * 1e3:.2f} ms, "
              f"eval {r['eval_gemm']['wall'] * 1e3:.0f} ms" + (
                  f"; PyTorch step {r['torch_step']['wall'] * 1e3:.2f} ms, eval "
                  f"{r['torch_eval']['wall'] * 1e3:.0f} ms" if use_torch else ""), flush=True)
    out["loadavg_end"] = os.getloadavg()
    return out


# ----------------------------------------------------------------------- runs and medians --

MEDIANED = ("step_gemm", "eval_gemm", "torch_step", "torch_eval")


def _against(name, row, torch_step, torch_eval):
    """The targets set by PyTorch's times (None: not measured): per step and evaluation, the
    target in seconds, GEMM / target, whether the GEMMs alone exceed it; PyTorch's GFLOP/s."""
    out = {}
    for what, tt in (("step", torch_step), ("eval", torch_eval)):
        if tt is not None:
            bound = run.NET_TARGETS["simple step" if (what, name) == ("step", "simple") else what]
            out[f"torch_{what}"] = tt
            out[f"torch_{what}_gflops"] = 2 * row[f"{what}_multiply_adds"] / tt / 1e9
            out[f"{what}_target"] = {"bound": bound, "seconds": bound * tt,
                                     "gemm/target": row[f"{what}_gemm"] / (bound * tt),
                                     "gemm_exceeds": row[f"{what}_gemm"] > bound * tt}
    return out


def summarize(runs, clock="wall", reference=None):
    """{threads: {net: row}} from the runs (each {threads: measure()}), by ``clock``: the
    medians of the best-of numbers, their spread, the targets and verdicts, GFLOP/s. With
    ``reference`` (a ``bench/run.py --nets`` JSON, wall clock only) each row also holds, under
    "reference", the targets set by that run's PyTorch times."""
    out = {}
    for th in runs[0]:
        out[th] = {}
        for name, first in runs[0][th]["nets"].items():
            row = {"step_multiply_adds": first["step_multiply_adds"],
                   "eval_multiply_adds": first["eval_multiply_adds"], "spread": {}}
            med = {}
            for key in MEDIANED:
                vals = [r[th]["nets"][name][key][clock] for r in runs if key in r[th]["nets"][name]]
                if vals:
                    med[key] = float(np.median(vals))
                    row["spread"][key] = (max(vals) - min(vals)) / med[key]
            row.update(step_gemm=med["step_gemm"], eval_gemm=med["eval_gemm"])
            for what in ("step", "eval"):
                row[f"{what}_gemm_gflops"] = 2 * row[f"{what}_multiply_adds"] / row[f"{what}_gemm"] / 1e9
            row.update(_against(name, row, med.get("torch_step"), med.get("torch_eval")))
            ref = (reference or {}).get("per_thread", {}).get(th, {}).get("nets", {}).get(name)
            if ref is not None and clock == "wall":
                row["reference"] = _against(name, row, ref["step"]["torch"]["wall"],
                                            ref["eval"]["torch"]["wall"])
            out[th][name] = row
    return out


CLOCK_NOTES = {"wall": "wall time",
               "cpu": "process CPU time, every thread (spinning too): on one thread the least "
                      "sensitive to load from elsewhere; on two, not what the targets measure"}


def markdown(summary, n_runs, clock="wall", reference=None):
    """The tables of ``summary`` (one clock's), one per thread count; with ``reference`` (its
    file name) against the PyTorch times of that file instead of this run's."""
    def ms(v):
        return f"{v * 1e3:.2f} ms" if v < 0.01 else f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"

    def verdict(tg):
        return "-" if tg is None else (f"**yes**, {tg['gemm/target']:.2f}x" if tg["gemm_exceeds"]
                                       else f"no, {tg['gemm/target']:.2f}x")
    tables = []
    for th, rows in summary.items():
        torch_from = f"PyTorch: {reference}'s" if reference else "PyTorch: this run's"
        lines = [f"**{th} thread(s), {CLOCK_NOTES[clock]}** (medians of {n_runs} run(s); GEMM-only = "
                 f"the best way; {torch_from}; spread = (max - min) / median over the runs)", "",
                 "| net | GEMM-only step | PyTorch step | target | GEMMs exceed it? (GEMM / target) "
                 "| GEMM-only eval | PyTorch eval | target (0.5x) | GEMMs exceed it? (GEMM / target) "
                 "| GFLOP/s GEMM step / eval | GFLOP/s PyTorch step / eval | spread GEMM / PyTorch |",
                 "|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---|"]
        for name, r in rows.items():
            t = r.get("reference", {}) if reference else r
            st, et = t.get("step_target"), t.get("eval_target")
            sp = r["spread"]
            torch_spread = [sp[k] for k in ("torch_step", "torch_eval") if k in sp and not reference]
            lines.append(
                f"| {name} | {ms(r['step_gemm'])} | {ms(t['torch_step']) if st else '-'} | "
                f"{ms(st['seconds']) + ' (%gx)' % st['bound'] if st else '-'} | {verdict(st)} | "
                f"{ms(r['eval_gemm'])} | {ms(t['torch_eval']) if et else '-'} | "
                f"{ms(et['seconds']) if et else '-'} | {verdict(et)} | "
                f"{r['step_gemm_gflops']:.0f} / {r['eval_gemm_gflops']:.0f} | "
                + (f"{t['torch_step_gflops']:.0f} / {t['torch_eval_gflops']:.0f}" if st else "-")
                + f" | {max(sp['step_gemm'], sp['eval_gemm']):.0%} / "
                + (f"{max(torch_spread):.0%}" if torch_spread else "-") + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def combine(res, reference=None):
    """Sets res["median"] (per clock) from res["runs"], and res["reference"] if given a file."""
    ref = None
    if reference:
        ref = json.loads(Path(reference).read_text())
        res["reference"] = {"file": str(reference), "machine": ref.get("machine")}
    res["median"] = {c: summarize(res["runs"], c, ref) for c in CLOCKS}


def report(res):
    """Every table of a results dict: per clock, and against the reference run if it has one."""
    n, ref = len(res["runs"]), res.get("reference")
    tables = [markdown(res["median"][c], n, c) for c in CLOCKS]
    if ref:
        tables.append(markdown(res["median"]["wall"], n, "wall", ref["file"]))
    return "\n\n".join(tables)


def machine():
    info = run.machine_info(None, "one process per thread count (--threads N in each)")
    info.pop("threads"), info.pop("loadavg_start")
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", default="all", help="'all' or a comma-separated list of registry nets")
    ap.add_argument("--thread-counts", default="2,1", metavar="N,N",
                    help="one fresh process per thread count and run (default 2,1)")
    ap.add_argument("--threads", type=int, help="measure at this thread count in this process")
    ap.add_argument("--runs", type=int, default=3, help="repeats of everything; medians reported")
    ap.add_argument("--repeats", type=int, default=5,
                    help=f"best of at least this many per GEMM timing (more while under {MIN_SECONDS} s)")
    ap.add_argument("--rounds", type=int, default=7, help="rounds of 3 PyTorch steps (the best)")
    ap.add_argument("--eval-rounds", type=int, default=3,
                    help="PyTorch evaluations (the best per slice of 1,000 images)")
    ap.add_argument("--no-torch", action="store_true", help="GEMMs only")
    ap.add_argument("--data", choices=("auto", "synthetic", "mnist"), default="auto",
                    help="PyTorch's evaluation images: MNIST's test set if on disk (auto)")
    ap.add_argument("--reference", metavar="JSON",
                    help="also set the GEMMs against the PyTorch times of a bench/run.py --nets "
                         "JSON (e.g. bench/latest_nets.json, measured on a quiet machine)")
    ap.add_argument("--json", metavar="PATH", help="also write everything as JSON")
    ap.add_argument("--markdown", metavar="JSON", help="print the tables of a --json file and exit")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if args.markdown:
        res = json.loads(Path(args.markdown).read_text())
        if args.reference:
            combine(res, args.reference)
        print(report(res))
        if args.json:                                      # e.g. with a --reference added
            Path(args.json).write_text(json.dumps(res, indent=1))
        return res
    names = list(NETS) if args.nets == "all" else args.nets.split(",")
    unknown = [n for n in names if n not in NETS]
    if unknown:
        raise SystemExit(f"--nets: unknown net(s) {unknown}; known: {list(NETS)} or 'all'")
    use_torch = run.torch is not None and not args.no_torch

    if args.threads is not None:                           # one process, one thread count
        res = measure(names, args.threads, args.repeats, args.rounds, args.eval_rounds, use_torch, args.data)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))
        return res

    t0 = time.perf_counter()
    counts = [int(c) for c in args.thread_counts.split(",")]
    child, skip = [], False                   # argv less the options of this process
    for a in argv:
        if not skip and a.split("=")[0] not in ("--json", "--thread-counts", "--runs", "--reference"):
            child.append(a)
        skip = a in ("--json", "--thread-counts", "--runs", "--reference")
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.runs):
            runs.append({})
            for n in counts:
                print(f"run {i + 1} of {args.runs}, {n} thread(s)", flush=True)
                path = Path(d) / f"run{i}_threads{n}.json"
                subprocess.run([sys.executable, str(Path(__file__).resolve()), *child, "--threads",
                                str(n), "--json", str(path)], env=dict(os.environ, CONVLAB_THREADS=str(n)),
                               check=True)
                runs[-1][str(n)] = json.loads(path.read_text())
    res = {"machine": machine(), "seconds": time.perf_counter() - t0, "settings": vars(args),
           "runs": runs}
    combine(res, args.reference)
    print()
    print(report(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
        print(f"wrote {args.json}")
    return res


if __name__ == "__main__":
    main()
