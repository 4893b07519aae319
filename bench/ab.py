"""Same-process A/B of the training step as ``Trainer`` runs it, for every registry net: this
checkout's convlab against another checkout's (e.g. the main branch before a refactor).

    python bench/ab.py /path/to/other/checkout [--steps 5] [--repeats 7] [--batch 100]

Both packages are loaded side by side (the other one under the name ``convlab_b``), every net is
built from the same seed in both, and the two take turns inside every repeat (who goes first alternates), so load from
elsewhere hits both alike. Prints each net's median step time in both and the ratio this / other
(below 1: this checkout is faster). Evaluation of 1,000 images is timed the same way.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import convlab  # noqa: E402
import convlab.train  # noqa: E402,F401


def load_other(root):
    """The convlab package of checkout ``root``, imported as ``convlab_b``."""
    spec = importlib.util.spec_from_file_location(
        "convlab_b", Path(root) / "convlab" / "__init__.py",
        submodule_search_locations=[str(Path(root) / "convlab")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["convlab_b"] = mod
    spec.loader.exec_module(mod)
    importlib.import_module("convlab_b.train")
    return mod


def trainer(pkg, name, x, t):
    net = pkg.nets.build_net(name, seed=0)
    return pkg.train.Trainer(net, x, t, x[:1000], t[:1000], epochs=1, mini_batch_size=len(x),
                             train_eval_size=1000, verbose=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", help="root of the other checkout (holding convlab/)")
    ap.add_argument("--steps", type=int, default=5, help="steps per timed sample")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--nets", default=",".join(convlab.nets.NETS))
    args = ap.parse_args(argv)
    other = load_other(args.other)
    rng = np.random.default_rng(0)
    x = rng.random((1000, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 1000)
    xb, tb = x[:args.batch], t[:args.batch]
    print(f"{'net':<14s} {'step this':>10s} {'step other':>11s} {'ratio':>6s}   "
          f"{'eval this':>10s} {'eval other':>11s} {'ratio':>6s}")
    for name in args.nets.split(","):
        trainers = {"this": trainer(convlab, name, x, t), "other": trainer(other, name, x, t)}
        step = {k: [] for k in trainers}
        ev = {k: [] for k in trainers}
        for tr in trainers.values():                       # warm up: arrays, threads, caches
            tr.train_step(xb, tb)
        for rep in range(args.repeats):
            order = list(trainers.items())
            for k, tr in (order if rep % 2 == 0 else order[::-1]):   # who goes first alternates
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    tr.train_step(xb, tb)
                step[k].append((time.perf_counter() - t0) / args.steps)
                t0 = time.perf_counter()
                tr.evaluate()
                ev[k].append(time.perf_counter() - t0)
        s = {k: float(np.median(v)) for k, v in step.items()}
        e = {k: float(np.median(v)) for k, v in ev.items()}
        print(f"{name:<14s} {s['this'] * 1e3:8.1f}ms {s['other'] * 1e3:9.1f}ms "
              f"{s['this'] / s['other']:6.2f}   {e['this']:9.2f}s {e['other']:10.2f}s "
              f"{e['this'] / e['other']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
