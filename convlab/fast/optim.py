"""The optimiser's update as the fast path runs it: ``convlab.optim``'s rules, the same numbers,
plus what only speed needs.

:func:`update` is ``optimizer.update(params, grads)`` for any optimiser. For convlab's
:class:`~convlab.optim.Adam` it does the same arithmetic in the same order through two scratch
arrays per parameter instead of five temporaries, optionally split into row shares run on the
fused step's threads (``split``), and keeps m and v out of the subnormal range (FLUSH_EVERY).
"""
from __future__ import annotations

import numpy as np

from ..optim import Adam

__all__ = ["update", "share", "SPLIT_MIN", "FLUSH_EVERY", "FLUSH_BELOW"]

FLUSH_EVERY, FLUSH_BELOW = 64, 1e-30
"""Every FLUSH_EVERY updates Adam's entries of m and v below FLUSH_BELOW are set to 0. Such an
entry moves its weight by at most lr * 1e-30 / 1e-7, nothing at float32 precision; left alone,
the m of a weight whose gradient stays 0 shrinks by beta1 per step into subnormal numbers
(below 1.2e-38), which x86 CPUs compute with many times slower (measured on SimpleConvNet:
the update grew from 1.1 to 3.9 ms after about 1,000 steps). In 64 steps an entry above 1e-30
cannot shrink below 1e-33, so no entry ever reaches the subnormal range."""

SPLIT_MIN = 16_384
"""Arrays of fewer numbers than this are not split (``share``): a share of a small array saves less
than the extra NumPy calls cost (each one waits for the GIL while other threads run)."""


def share(a, i, n):
    """The rows lo:hi of array ``a`` that call i of n works on when an update is split: n
    contiguous shares of the rows, as even as whole rows allow; an array of fewer than SPLIT_MIN
    numbers (or a 0-d one) goes whole to call 0."""
    if a.size < SPLIT_MIN or a.ndim == 0:
        return (0, len(a) if a.ndim else 1) if i == 0 else (0, 0)
    return len(a) * i // n, len(a) * (i + 1) // n


def update(optimizer, params, grads, split=None):
    """``optimizer.update(params, grads)``, faster for :class:`~convlab.optim.Adam` (exactly that
    class: a subclass may have changed the rule). ``split``: optional runner that calls fn(i, n)
    for i in range(n), e.g. on n threads (``FusedSimpleConvNet.split``); call i then updates the
    rows ``share(p, i, n)`` of every parameter p. Each number's arithmetic is the same either
    way, so the result does not depend on n."""
    if type(optimizer) is not Adam:
        optimizer.update(params, grads)          # (split is for Adam only)
        return
    opt = optimizer
    if opt.m is None:
        opt.m = {k: np.zeros_like(p) for k, p in params.items()}
        opt.v = {k: np.zeros_like(p) for k, p in params.items()}
    opt.iter += 1
    lr_t = float(opt.lr * np.sqrt(1.0 - opt.beta2 ** opt.iter) / (1.0 - opt.beta1 ** opt.iter))
    arrays = [(params[k], grads[k], opt.m[k], opt.v[k]) for k in params]
    if split is None:
        for p, g, m, v in arrays:
            _adam_step(opt, p, g, m, v, lr_t)
    else:
        split(lambda i, n: _adam_rows(opt, arrays, lr_t, i, n))
    if opt.iter % FLUSH_EVERY == 0:
        for state in (opt.m, opt.v):
            for a in state.values():
                a[np.abs(a) < FLUSH_BELOW] = 0


def _adam_rows(opt, arrays, lr_t, i, n):
    """Call i of n of a split Adam update: the rows ``share(p, i, n)`` of every parameter."""
    for group in arrays:
        lo, hi = share(group[0], i, n)
        if hi > lo:
            parts = group if group[0].ndim == 0 else tuple(a[lo:hi] for a in group)  # views
            _adam_step(opt, *parts, lr_t)


def _adam_step(opt, p, g, m, v, lr_t):
    """``Adam.update``'s three lines for the arrays p (parameter), g, m, v of one shape, in place,
    in the same order, through two scratch arrays (out=...) instead of five fresh temporaries."""
    a, b = np.empty_like(m), np.empty_like(m)
    np.subtract(g, m, out=a)
    a *= 1 - opt.beta1
    m += a                                        # m += (1 - beta1) * (g - m)
    np.multiply(g, g, out=a)
    a -= v
    a *= 1 - opt.beta2
    v += a                                        # v += (1 - beta2) * (g*g - v)
    np.sqrt(v, out=a)
    a += 1e-7
    np.multiply(m, lr_t, out=b)
    b /= a
    p -= b                                        # W -= lr_t * m / (sqrt(v) + 1e-7)
