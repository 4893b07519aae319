"""Gradient checking: central differences and relative error.

Taught in ``notebooks/05_forward_backward.ipynb``; used by the tests of every layer and net.
"""
from __future__ import annotations

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "layer_gradcheck"]


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored; ``f`` takes no argument
    and must read ``x`` (so the same call works for a layer input or a net's parameter).
    Use float64: in float32 the differences drown in rounding error.

    Valid only where the function is smooth within ``h`` of ``x``. At a kink -- ReLU at exactly
    0, a max over tied values -- a central difference averages the two one-sided slopes (ReLU
    at 0 gives 0.5), while backprop follows a convention (convlab, like PyTorch: ReLU'(0) = 0,
    the first maximum of a window wins). Check such points against a reference implementation
    instead (the tests use loop references and PyTorch).
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be a contiguous array (it is perturbed in place)")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def rel_error(a, b):
    """Worst-case relative error between two gradients: max|a - b| / max(max|a|, max|b|).

    Normalising by the largest entry (not entry by entry) keeps tiny entries, whose
    central differences are pure rounding noise, from dominating. 0 when both are zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def layer_gradcheck(layer, x, dout=None, params=("W", "b"), h=1e-5, rng=0):
    """Compare a layer's backward with central differences of L = sum(forward(x) * dout).

    Returns {"x": err, "W": err, ...}: the relative error per input and parameter.
    """
    x = np.array(x, dtype=np.float64)
    out = layer.forward(x)
    if dout is None:
        dout = np.random.default_rng(rng).standard_normal(out.shape)
    dx = layer.backward(dout)
    analytic = {"x": dx}
    for p in params:
        if hasattr(layer, p):
            analytic[p] = getattr(layer, "d" + p)

    def loss():
        return float(np.sum(layer.forward(x) * dout))

    errs = {"x": rel_error(dx, numerical_gradient(loss, x, h))} if dx is not None else {}
    for p in params:
        if hasattr(layer, p):
            errs[p] = rel_error(analytic[p], numerical_gradient(loss, getattr(layer, p), h))
    return errs
