"""Where a SimpleConvNet training step spends its time: convlab's fused step (what Trainer runs),
convlab layer by layer, and the textbook.

    python bench/profile_step.py                # default threads
    python bench/profile_step.py --threads 1    # steadier on a busy machine
    python bench/profile_step.py --net deep --threads 1   # a registry net's plan, CPU time
    python bench/profile_step.py --net lenet --threads 1 --batch 50   # one of two threads' slice

``--net NAME`` profiles the registry net NAME as ``Trainer`` runs it, in CPU time (steadier than
wall time on a shared machine): through ``convlab.fast.blocks.BlockPlan`` (lenet, lenet-modern:
each block's forward and backward pass, the affine layers with the loss, Adam), else through
``convlab.fast.plan.LayerPlan`` (every layer's twin, forward and backward, the loss, Adam), per
layer and summed per layer kind.

Times the fused step's parts (convlab.fast.fused), every layer's forward and backward, the loss and the Adam update inside real training
steps (batch 100, synthetic MNIST-shaped images), medians over ``--steps`` after a warm-up, and
prints each part in ms and as a share of the step. Use it to decide what to optimise next;
``bench/run.py`` is the benchmark that compares implementations.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # for ``import threads, textbook``
from threads import set_threads_from_argv  # noqa: E402

if __name__ == "__main__":
    set_threads_from_argv(sys.argv[1:])       # before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import textbook  # noqa: E402

from convlab.fast.fused import FusedSimpleConvNet  # noqa: E402
from convlab.fast.plan import LayerPlan  # noqa: E402
from convlab.fast.workspace import Workspace  # noqa: E402
from convlab.nets import SimpleConvNet  # noqa: E402
from convlab.optim import Adam  # noqa: E402


def profile(net, opt, x, t, steps, warmup=10, workspace=None, clock=time.perf_counter):
    """{part: [seconds per step]} for net (convlab or textbook: both have .layers and
    .last_layer with the book's contract) and optimiser opt; ``workspace`` (convlab only) is
    attached for the forward and backward passes of every step, as the Trainer does."""
    times = {}

    def timed(name, f, *args):
        t0 = clock()
        out = f(*args)
        times.setdefault(name, []).append(clock() - t0)
        return out

    for step in range(warmup + steps):
        if step == warmup:
            times.clear()
        with workspace.attached(net) if workspace is not None else contextlib.nullcontext():
            h = x
            for name, layer in net.layers.items():
                if getattr(layer, "uses_train_flg", False):
                    h = timed(f"{name} forward", layer.forward, h, True)
                else:
                    h = timed(f"{name} forward", layer.forward, h)
            timed("loss forward", net.last_layer.forward, h, t)
            d = timed("loss backward", net.last_layer.backward, 1)
            for name, layer in reversed(list(net.layers.items())):
                d = timed(f"{name} backward", layer.backward, d)
        grads = {k: getattr(net.layers[lname], "d" + attr) for k, (lname, attr) in owners(net).items()}
        timed("Adam update", opt.update, net.params, grads)
    return times


def profile_fused(fused, opt, x, t, steps, warmup=10):
    """{part: [seconds per step]} for the fused step (convlab.fast.fused) on one thread: its three
    named parts are timed by wrapping them on the instance; the rest of ``gradient`` (softmax,
    loss, the affine layers' backward) is the step's gradient time minus those three."""
    times = {}
    parts = {"_conv_pool": "conv + pool forward (fused)", "_head": "ReLU, Affine1-2 forward (fused)",
             "_conv_pool_backward": "pool + conv backward (fused)"}
    for attr, name in parts.items():
        def timed(*args, _f=getattr(fused, attr), _name=name):
            t0 = time.perf_counter()
            out = _f(*args)
            times.setdefault(_name, []).append(time.perf_counter() - t0)
            return out
        setattr(fused, attr, timed)
    for step in range(warmup + steps):
        if step == warmup:
            times.clear()
        t0 = time.perf_counter()
        grads = fused.gradient(x, t)[1]
        total = time.perf_counter() - t0
        inner = sum(times[n][-1] for n in parts.values())
        times.setdefault("loss, Affine backward (fused)", []).append(total - inner)
        t0 = time.perf_counter()
        opt.update(fused.params, grads)
        times.setdefault("Adam update", []).append(time.perf_counter() - t0)
    return times


def wall_clock(fused, opt, x, t, steps, warmup=10):
    """Median seconds of a whole fused step (``FusedSimpleConvNet.step``, as Trainer runs it)."""
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        fused.step(x, t, opt)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[warmup:]))


def owners(net):
    """param name -> (layer name, attribute) for either implementation (W1 -> Conv1.W, ...)."""
    names = [n for n, layer in net.layers.items() if hasattr(layer, "W")]
    return {f"{a}{i + 1}": (n, a) for i, n in enumerate(names) for a in ("W", "b")}


def profile_blocks(plan, opt, x, t, steps, warmup=3, clock=time.process_time):
    """{part: [seconds per step]} for a BlockPlan's step (convlab.fast.blocks) on one thread:
    each block's forward and backward pass timed by wrapping the two methods on the instance;
    the affine layers and the loss are the slice's time minus the blocks'."""
    times, inner = {}, []

    def wrap(attr, label):
        f = getattr(plan, attr)

        def timed(B, b, *args, **kwargs):
            t0 = clock()
            out = f(B, b, *args, **kwargs)
            dt = clock() - t0
            times.setdefault(label.format(b + 1), []).append(dt)
            inner.append(dt)
            return out
        setattr(plan, attr, timed)
    wrap("_block_forward", "Block{} forward (conv, act, pool)")
    wrap("_block_backward", "Block{} backward")
    for step in range(warmup + steps):
        if step == warmup:
            times.clear()
        inner.clear()
        t0 = clock()
        grads = plan.gradient(x, t)
        times.setdefault("Affine layers and loss", []).append(clock() - t0 - sum(inner))
        t0 = clock()
        opt.update(plan.params, grads)
        times.setdefault("Adam update", []).append(clock() - t0)
    return times


def profile_net(name, steps, batch=100):
    """Print where a registry net's step spends its CPU time on one thread, per part: its
    BlockPlan's blocks where compile_net gives it one (lenet, lenet-modern), else its
    LayerPlan's layers, per layer and per kind. ``batch``: images per step (50: what each of
    two threads runs of a batch of 100)."""
    from convlab.fast import BlockPlan, compile_net
    from convlab.nets import build_net
    net = build_net(name, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + net.input_dim, dtype=np.float32)
    t = rng.integers(0, net.output_size, batch)
    if isinstance(compile_net(net), BlockPlan):
        times = profile_blocks(BlockPlan(net, threads=1), Adam(lr=0.001), x, t, steps)
        med = {k: float(np.median(v)) for k, v in times.items()}
        total = sum(med.values())
        print(f"{name} (BlockPlan, one thread, batch {batch}): {total * 1e3:.2f} ms CPU per step "
              f"(sum of medians over {steps} steps)")
        for part, s in sorted(med.items(), key=lambda kv: -kv[1]):
            print(f"  {part:<34s} {s * 1e3:7.2f} ms  {100 * s / total:5.1f}%")
        return
    plan = LayerPlan(net)
    times = profile(plan, Adam(lr=0.001), x, t, steps, warmup=3, workspace=plan.workspace,
                    clock=time.process_time)
    med = {k: float(np.median(v)) for k, v in times.items()}
    total = sum(med.values())
    print(f"{name} (LayerPlan, batch {batch}): {total * 1e3:.2f} ms CPU per step (sum of medians "
          f"over {steps} steps)")
    kinds = {}
    for part, s in sorted(med.items(), key=lambda kv: -kv[1]):
        kind = part.split()[0].rstrip("0123456789")
        kinds[kind] = kinds.get(kind, 0.0) + s
        if s / total >= 0.005:
            print(f"  {part:<34s} {s * 1e3:7.2f} ms  {100 * s / total:5.1f}%")
    print("  per layer kind (forward + backward):")
    for kind, s in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:<12s} {s * 1e3:7.2f} ms  {100 * s / total:5.1f}%")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="timed steps (default 100)")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads (default: NumPy's); applied before NumPy is imported")
    ap.add_argument("--net", default=None,
                    help="profile this registry net's plan instead (CPU time)")
    ap.add_argument("--batch", type=int, default=100,
                    help="with --net: images per step (default 100; 50: one of two threads' slice)")
    args = ap.parse_args(argv)
    if args.net is not None:
        return profile_net(args.net, args.steps, args.batch)
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    params = {k: v.copy() for k, v in SimpleConvNet(seed=0).params.items()}
    impls = {"convlab": (LayerPlan(SimpleConvNet(seed=0)), Adam(lr=0.001), Workspace()),
             "textbook": (textbook.SimpleConvNet(params=params), textbook.Adam(lr=0.001), None)}
    fused = FusedSimpleConvNet(SimpleConvNet(seed=0))
    wall = wall_clock(fused, Adam(lr=0.001), x, t, args.steps)
    print(f"convlab fused step as Trainer runs it ({fused.threads} thread(s)): {wall * 1e3:.2f} ms "
          f"per step (gradient + Adam, median wall clock); its parts, timed on one thread:")
    impls = {"convlab (fused step, one thread)":
             (FusedSimpleConvNet(SimpleConvNet(seed=0), threads=1), Adam(lr=0.001), None),
             "convlab (layer by layer)": impls["convlab"], "textbook": impls["textbook"]}
    for name, (net, opt, ws) in impls.items():
        if isinstance(net, FusedSimpleConvNet):
            times = profile_fused(net, opt, x, t, args.steps)
        else:
            times = profile(net, opt, x, t, args.steps, workspace=ws)
        med = {k: float(np.median(v)) for k, v in times.items()}
        total = sum(med.values())
        print(f"\n{name}: {total * 1e3:.2f} ms per step (sum of medians over {args.steps} steps)")
        for part, s in sorted(med.items(), key=lambda kv: -kv[1]):
            if s / total >= 0.005:
                print(f"  {part:<34s} {s * 1e3:7.2f} ms  {100 * s / total:5.1f}%")


if __name__ == "__main__":
    main()
