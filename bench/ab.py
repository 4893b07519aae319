"""A/B of the training step and the evaluation as ``Trainer`` runs them, for every registry net:
this checkout's convlab against another checkout's (e.g. the main branch before a refactor).

    python bench/ab.py /path/to/other/checkout [--rounds 5] [--steps 5] [--nets simple,deep]
    python bench/ab.py /path/to/other/checkout --one-thread     # tighter: see below

Each measurement runs in a fresh process (two convlab packages in one process disturb each
other's timings: an A/A run of this very checkout against a copy of itself came out 1.35x in one
process). The two checkouts take turns, round after round, who goes first alternating, so load
from elsewhere hits both alike; the table gives the medians over the rounds and the ratio
this / other (below 1: this checkout is faster), of wall time and of the process's CPU time (less
sensitive to load from elsewhere; it counts every thread, spinning included).

``--one-thread``: both packages in ONE process on one thread (BLAS and convlab), the steps timed
in CPU time, 12 alternating rounds of 3 steps: the tightest comparison on a loaded machine (about
+-8% here), but it says nothing about the second core.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETS = ("simple", "lenet", "lenet-modern", "alexnet", "deep")

CHILD = r"""
import json, sys, time
import numpy as np
from convlab.nets import build_net
from convlab.train import Trainer
name, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.random((1000, 1, 28, 28), dtype=np.float32)
t = rng.integers(0, 10, 1000)
tr = Trainer(build_net(name, seed=0), x, t, x, t, epochs=1, mini_batch_size=batch,
             train_eval_size=1000, verbose=False)
xb, tb = x[:batch], t[:batch]
for _ in range(2):
    tr.train_step(xb, tb)                                   # warm up: arrays, threads, caches
times, cpu = [], []
for _ in range(steps):
    t0, c0 = time.perf_counter(), time.process_time()
    tr.train_step(xb, tb)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
t0, c0 = time.perf_counter(), time.process_time()
tr.evaluate()                                               # 1,000 + 1,000 images
print(json.dumps({"step": sorted(times)[len(times) // 2], "eval": time.perf_counter() - t0,
                  "step_cpu": sorted(cpu)[len(cpu) // 2], "eval_cpu": time.process_time() - c0}))
"""


def measure(root, name, steps, batch):
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(steps), str(batch)], env=env,
                         cwd=str(root), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


ONE_THREAD = r"""
import importlib, importlib.util, sys, time
import numpy as np
def load(name, root):
    spec = importlib.util.spec_from_file_location(name, root + "/convlab/__init__.py",
                                                  submodule_search_locations=[root + "/convlab"])
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    importlib.import_module(name + ".train")
    return m
pkgs = {"this": load("convlab_this", sys.argv[1]), "other": load("convlab_other", sys.argv[2])}
rng = np.random.default_rng(0)
x = rng.random((100, 1, 28, 28), dtype=np.float32)
t = rng.integers(0, 10, 100)
for name in sys.argv[3].split(","):
    tr = {k: m.train.Trainer(m.nets.build_net(name, seed=0), x, t, x, t, epochs=1, verbose=False)
          for k, m in pkgs.items()}
    for k in tr:
        tr[k].train_step(x, t)
    res = {k: [] for k in tr}
    for r in range(12):
        for k in (["this", "other"] if r % 2 else ["other", "this"]):
            c0 = time.process_time()
            for _ in range(3):
                tr[k].train_step(x, t)
            res[k].append((time.process_time() - c0) / 3)
    a, b = float(np.median(res["this"])), float(np.median(res["other"]))
    print(f"{name:<14s} {a * 1e3:8.1f}ms {b * 1e3:9.1f}ms {a / b:6.2f}", flush=True)
"""


def one_thread(roots, nets):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", CONVLAB_THREADS="1")
    print(f"{'net':<14s} {'step this':>10s} {'step other':>11s} {'ratio':>6s}  (CPU time, one thread)",
          flush=True)
    subprocess.run([sys.executable, "-c", ONE_THREAD, str(roots["this"]), str(roots["other"]),
                    nets], env=env, check=True)


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", help="root of the other checkout (holding convlab/)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per process (their median)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--one-thread", action="store_true", help="one process, one thread, CPU time")
    args = ap.parse_args(argv)
    roots = {"this": HERE.parent, "other": Path(args.other).resolve()}
    if args.one_thread:
        return one_thread(roots, args.nets)
    print(f"{'net':<14s} {'step this':>10s} {'step other':>11s} {'ratio':>6s} {'cpu ratio':>9s}   "
          f"{'eval this':>10s} {'eval other':>11s} {'ratio':>6s} {'cpu ratio':>9s}", flush=True)
    for name in args.nets.split(","):
        got = {k: [] for k in roots}
        for r in range(args.rounds):
            order = list(roots) if r % 2 == 0 else list(roots)[::-1]   # who goes first alternates
            for k in order:
                got[k].append(measure(roots[k], name, args.steps, args.batch))
        m = {f: {k: median([g[f] for g in v]) for k, v in got.items()}
             for f in ("step", "eval", "step_cpu", "eval_cpu")}
        s, e = m["step"], m["eval"]
        print(f"{name:<14s} {s['this'] * 1e3:8.1f}ms {s['other'] * 1e3:9.1f}ms "
              f"{s['this'] / s['other']:6.2f} {m['step_cpu']['this'] / m['step_cpu']['other']:9.2f}   "
              f"{e['this']:9.2f}s {e['other']:10.2f}s {e['this'] / e['other']:6.2f} "
              f"{m['eval_cpu']['this'] / m['eval_cpu']['other']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
