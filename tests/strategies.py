"""Shared hypothesis strategies and value generators for the layer tests.

Geometry: ``conv_case`` and ``pool_case`` sweep shapes, strides, paddings (and dilations).

Values: ``values(rng, shape, kind)`` fills an array in one of ``KINDS``. Random normal values
are never exactly 0 and never tie, yet on MNIST exact zeros are everywhere: the background
pixels, zero padding, pre-activations of a zero bias over a blank patch, whole pooling windows
of zeros after a ReLU. The other kinds make those cases common:

* ``normal``: standard normal (no zeros, no ties);
* ``zeros``: about 70% exact zeros (some -0.0), the rest normal;
* ``relu``: max(0, normal): what a ReLU hands on, half exact zeros;
* ``ties``: multiples of 0.5 in [-1, 1]: ties everywhere, a fifth of them 0;
* ``digits``: MNIST-like: a zero background with a blob (at most 70% of each side) of values in
  (0, 1], a third of them exactly 1.

Finite differences are not valid where a function has a kink (ReLU at 0, a max over tied
values), so ReLU and max pooling are checked at such points against the loop references in
tests/reference.py and against PyTorch, with the convention ReLU'(0) = 0 and "the first
maximum wins"; the finite-difference checks use every kind wherever the function is smooth.
"""
import numpy as np
from hypothesis import strategies as st

KINDS = ("normal", "zeros", "relu", "ties", "digits")
kinds = st.sampled_from(KINDS)
seeds = st.integers(0, 2**32 - 1)


def values(rng, shape, kind):
    """A float64 array of ``shape`` filled as ``kind`` says (see the module docstring)."""
    shape = tuple(shape)
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "zeros":
        x = rng.standard_normal(shape) * (rng.random(shape) < 0.3)
        x[rng.random(shape) < 0.1] = -0.0
        return x
    if kind == "relu":
        return np.maximum(rng.standard_normal(shape), 0)
    if kind == "ties":
        return rng.integers(-2, 3, shape) * 0.5
    if kind == "digits":
        x = np.zeros(shape)
        if len(shape) < 2:
            x[...] = rng.random(shape) * (rng.random(shape) < 0.3)
            return x
        H, W = shape[-2:]
        for idx in np.ndindex(*shape[:-2]):          # one blob per image and channel
            h = rng.integers(1, max(1, (7 * H) // 10) + 1)     # at most 70% of each side:
            w = rng.integers(1, max(1, (7 * W) // 10) + 1)     # a blank margin, as on MNIST
            y0, x0 = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
            blob = np.minimum(rng.random((h, w)) * 1.5, 1.0)    # a third saturate at exactly 1
            x[idx][y0:y0 + h, x0:x0 + w] = blob
        return x
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def away_from_zero(rng, shape, gap=0.05):
    """Normal values pushed at least ``gap`` away from 0 (no ReLU kink within reach of h)."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (gap + np.abs(x))


def distinct(rng, shape, spacing=0.01):
    """A random permutation of evenly spaced values: no ties, neighbours > 1e-3 apart."""
    n = int(np.prod(shape))
    return (rng.permutation(n) - n / 2).reshape(shape) * spacing


@st.composite
def conv_case(draw, max_dilation=2, max_filters=3, extra=5):
    """((N, C, H, W), (FN, C, FH, FW), stride, pad, dilation), strides/pads/dilations as pairs."""
    N, C, FN = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, max_filters))
    FH, FW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    D = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    hmin = max(1, D[0] * (FH - 1) + 1 - 2 * P[0])
    wmin = max(1, D[1] * (FW - 1) + 1 - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + extra)), draw(st.integers(wmin, wmin + extra))
    return (N, C, H, W), (FN, C, FH, FW), S, P, D


@st.composite
def pool_case(draw, max_size=3, extra=5):
    """((N, C, H, W), (PH, PW), stride, pad, mode) with pad at most half the window."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, PH // 2)), draw(st.integers(0, PW // 2)))
    hmin, wmin = max(1, PH - 2 * P[0]), max(1, PW - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + extra)), draw(st.integers(wmin, wmin + extra))
    return (N, C, H, W), (PH, PW), S, P, draw(st.sampled_from(["max", "avg"]))
