"""The compute floor of a training step: multiply-adds counted from a net's own layers.

Only the products count (Convolution and Affine; pooling, ReLU, LRN, the loss and Adam are
passes over memory with no multiply-add worth the name). Per image, a convolution's forward pass
is OH * OW * FN * (C * FH * FW) multiply-adds and an affine layer's D * M. A training step runs
each product three times, forward, weight gradient and input gradient, except the net's first
layer, whose input gradient (the images') nobody needs. At ``GEMM_GFLOPS`` (2 flops per
multiply-add) that is the least time a step can take on this machine:

    python bench/macs.py              # every registry net, batch 100
"""
from __future__ import annotations

import numpy as np

from convlab.layers import Affine, Convolution
from convlab.nets import NETS, build_net

GEMM_GFLOPS = 200.0
"""float32 GEMM rate measured on this machine's two cores (issue 19), in 10^9 flops per second."""
GEMM_CORES = 2
"""The cores ``GEMM_GFLOPS`` was measured on: one thread gets its share, ``gflops_for(1)``."""


def multiply_adds(net, batch=100):
    """(forward, step): multiply-adds of the forward pass and of a training step (forward and
    backward) on ``batch`` images, from the conv and affine layers' shapes. The output sizes
    are read off one forward pass of a blank image."""
    net.predict(np.zeros((1,) + tuple(net.input_dim), dtype=net.dtype))
    forward = step = 0
    for i, layer in enumerate(net.layers.values()):
        if isinstance(layer, Convolution):
            n = int(np.prod(layer.out_shape[2:])) * layer.W.size       # positions x FN*C*FH*FW
        elif isinstance(layer, Affine):
            n = layer.W.size                                           # D x M
        else:
            continue
        forward += n
        step += n * (2 if i == 0 else 3)            # forward, dW, and dx unless it is the images'
    return batch * forward, batch * step


def floor_ms(step_multiply_adds, gflops=GEMM_GFLOPS):
    """The least time of a step, in ms: 2 flops per multiply-add at ``gflops``."""
    return 2 * step_multiply_adds / (gflops * 1e9) * 1e3


def gflops_for(threads, gflops=GEMM_GFLOPS):
    """The GEMM rate a step on ``threads`` threads can reach: ``gflops`` shared out per core
    (one thread on this 2-core machine: 100 GFLOP/s; more threads than cores gain nothing)."""
    return gflops * min(max(int(threads), 1), GEMM_CORES) / GEMM_CORES


def measure_gflops(n=1024, repeats=7):
    """The float32 GEMM rate NumPy's BLAS reaches here and now (n x n times n x n, the best of
    ``repeats``), in 10^9 flops per second: a check of ``GEMM_GFLOPS`` on the day; a loaded
    machine gives less."""
    import time
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b                                                    # warm up: threads, pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def main():
    print(f"{'net':14} {'forward':>12} {'step':>14} {'GFLOP/step':>11} {'floor ms':>9}   "
          f"(batch 100, {GEMM_GFLOPS:.0f} GFLOP/s)")
    for name in NETS:
        fwd, step = multiply_adds(build_net(name, seed=0))
        print(f"{name:14} {fwd:12,d} {step:14,d} {2 * step / 1e9:11.3f} {floor_ms(step):9.2f}")
    print(f"float32 GEMM measured now (1024^3, best of 7): {measure_gflops():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
