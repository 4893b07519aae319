"""Layers with the book's contract: ``forward(x)`` returns the output, ``backward(dout)`` returns
dx and stores parameter gradients next to the parameters (``W``/``dW``, ``b``/``db``).

Taught in ``notebooks/05_forward_backward.ipynb`` (Convolution, Pooling) and used by every net.
Symbols follow the book: N batch, C channels, H/W height/width, FN filters, FH/FW filter size,
OH/OW output size. No layer modifies the array it is given; every layer keeps the input dtype.
"""
from __future__ import annotations

import sys

import numpy as np

from .im2col import col2im_transposed, col2im_wide, fold, im2col_transposed, windows, window_geometry
from .arith import pair

__all__ = ["Convolution", "Pooling", "Relu", "Sigmoid", "Affine", "Dropout", "SoftmaxWithLoss",
           "LRN", "softmax", "cross_entropy_error", "check_labels"]


def _as_array(x, name="x", ndim=None):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (N, C, H, W), got shape {x.shape}")
    return x


# Reuse relies on CPython's reference counts as they are up to 3.13. Python 3.14 may "borrow"
# references (counts come out lower) and free-threaded builds count differently, so there we
# always allocate: slower, never wrong.
_REFCOUNTS_EXACT = (sys.implementation.name == "cpython" and sys.version_info < (3, 14)
                    and getattr(sys, "_is_gil_enabled", lambda: True)())


def _scratch(layer, name, shape, dtype):
    """An uninitialised array for ``layer`` to write a result into: the one it got under ``name``
    last time if nothing outside the layer still refers to it, else a new one.

    Training calls each layer thousands of times with the same shapes. Reusing its big arrays
    spares the operating system mapping and zero-filling fresh memory for every one of them at
    every step (a large share of a step's time). The reference count makes this safe: an array
    that a caller still holds, directly or through a view, is never reused. A layer must drop
    its own attribute (``self.mask = None``) before asking for that attribute's array again.
    """
    if not _REFCOUNTS_EXACT:
        return np.empty(shape, dtype)
    bufs = layer.__dict__.setdefault("_scratch", {})
    buf = bufs.get(name)
    # 3 references when nobody else has it: the dict, ``buf`` and getrefcount's own argument
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype or sys.getrefcount(buf) > 3:
        buf = bufs[name] = np.empty(shape, dtype)
    return buf


# ------------------------------------------------------------------------------- convolution --

class Convolution:
    """2-D convolution (cross-correlation, as in the book) via im2col and one GEMM.

    W: (FN, C, FH, FW), b: (FN,). x: (N, C, H, W) -> out: (N, FN, OH, OW).
    The column matrix is the book's, transposed (``im2col_transposed``), with a row of ones
    added for the bias; backward folds the input gradient with ``col2im_wide`` when stride is 1.
    ``stride``, ``pad`` and ``dilation`` are ints or (h, w) pairs. Set ``need_dx = False`` on a
    first layer: backward then skips the input gradient (nobody needs it) and returns None.
    """

    def __init__(self, W, b, stride=1, pad=0, dilation=1):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 4:
            raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {W.shape}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape (FN,) = ({W.shape[0]},) to match W {W.shape}, "
                             f"got {b.shape}")
        self.W, self.b = W, b
        self.stride, self.pad, self.dilation = pair("stride", stride, 1), pair("pad", pad, 0), \
            pair("dilation", dilation, 1)
        self.need_dx = True
        self.dW = self.db = None
        self.x_shape = self.col = None

    def output_shape(self, input_shape):
        """(FN, OH, OW) for an input of shape (C, H, W)."""
        C, H, W = input_shape
        FN, _, FH, FW = self.W.shape
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), FH, FW, self.stride, self.pad, self.dilation)
        return (FN, OH, OW)

    def forward(self, x):
        x = _as_array(x, "x", 4)
        FN, C, FH, FW = self.W.shape
        if x.shape[1] != C:
            raise ValueError(f"x has {x.shape[1]} channel(s) (shape {x.shape}) but W of shape "
                             f"(FN, C, FH, FW) = {self.W.shape} expects C = {C}")
        N, _, H, W_, OH, OW, *_ = window_geometry(x.shape, FH, FW, self.stride, self.pad, self.dilation)
        CK = C * FH * FW
        dtype = np.result_type(x.dtype, self.W.dtype, self.b.dtype)
        # im2col(x).T, built directly: one GEMM then gives filters first (see im2col_transposed).
        # One more row of ones below it: the bias is the weight of an input that is always 1, so
        # [W | b] @ [col; 1] adds it inside the same GEMM (and backward gets db from the GEMM too).
        self.col = None                                                 # so _scratch may reuse it
        col = _scratch(self, "col", (CK + 1, N * OH * OW), x.dtype)     # (C*FH*FW + 1, N*OH*OW)
        im2col_transposed(x, FH, FW, self.stride, self.pad, self.dilation, out=col[:CK])
        col[CK] = 1
        Wb = np.concatenate([self.W.reshape(FN, CK), self.b.reshape(FN, 1)], axis=1)  # (FN, CK+1)
        prod = _scratch(self, "work", (FN, N * OH * OW), dtype)        # backward reuses it
        np.matmul(Wb, col, out=prod)                                    # (FN, N*OH*OW), bias added
        y = _scratch(self, "y", (N, FN, OH, OW), dtype)
        np.copyto(y, prod.reshape(FN, N, OH, OW).transpose(1, 0, 2, 3))  # (N, FN, OH, OW) order
        self.x_shape, self.col = x.shape, col
        return y

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        CK = C * FH * FW
        dout = np.asarray(dout)
        N, _, OH, OW = dout.shape
        d = _scratch(self, "work", (FN, N * OH * OW), dout.dtype)      # forward's product array
        np.copyto(d.reshape(FN, N, OH, OW), dout.transpose(1, 0, 2, 3))  # (FN, N, OH, OW) copy
        dWb = d @ self.col.T                                            # (FN, CK+1) = [dW | db]
        self.dW = dWb[:, :CK].reshape(FN, C, FH, FW)                    # (FN, C, FH, FW)
        self.db = dWb[:, CK].copy()                                     # (FN,): the ones row's weight
        if not self.need_dx:
            return None
        dtype = np.result_type(d.dtype, self.W.dtype)
        if self.stride != (1, 1):
            dcol = _scratch(self, "dcol", (CK, N * OH * OW), dtype)
            np.matmul(self.W.reshape(FN, -1).T, d, out=dcol)            # (C*FH*FW, N*OH*OW)
            return col2im_transposed(dcol, self.x_shape, FH, FW, self.stride, self.pad, self.dilation)
        # Stride 1: stretch each row of d to the padded width W' with zeros, so that col2im can
        # add long contiguous slices (see col2im_wide); same numbers, several times faster.
        Wp = self.x_shape[3] + 2 * self.pad[1]
        dwide = _scratch(self, "dwide", (FN, N, OH, Wp), d.dtype)        # (FN, N, OH, W')
        dwide[..., OW:] = 0
        np.copyto(dwide[..., :OW], d.reshape(FN, N, OH, OW))            # the last W' - OW stay 0
        dcol = _scratch(self, "dcol", (CK, N * OH * Wp), dtype)
        np.matmul(self.W.reshape(FN, -1).T, dwide.reshape(FN, -1), out=dcol)  # (C*FH*FW, N*OH*W')
        return col2im_wide(dcol, self.x_shape, FH, FW, self.pad, self.dilation)


# ----------------------------------------------------------------------------------- pooling --

class Pooling:
    """Max or average pooling over pool_h x pool_w windows. x: (N, C, H, W) -> (N, C, OH, OW).

    No parameters; the channel count is unchanged. ``pad`` pads max pooling with -inf (padding
    never wins) and average pooling with zeros (counted in the mean, as PyTorch's default);
    like PyTorch, ``pad`` may be at most half the window. Max pooling sends each gradient to the
    first maximum of its window (the same tie rule as PyTorch).
    """

    def __init__(self, pool_h, pool_w, stride=None, pad=0, mode="max"):
        self.pool_h, self.pool_w = pair("pool_h", pool_h, 1)[0], pair("pool_w", pool_w, 1)[0]
        self.stride = pair("stride", (pool_h, pool_w) if stride is None else stride, 1)
        self.pad = pair("pad", pad, 0)
        if self.pad[0] > self.pool_h // 2 or self.pad[1] > self.pool_w // 2:
            raise ValueError(f"pad must be at most half the window (pool_h // 2, pool_w // 2) = "
                             f"({self.pool_h // 2}, {self.pool_w // 2}), got {pad}")
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode
        self.x_shape = self.arg_max = None

    def output_shape(self, input_shape):
        C, H, W = input_shape
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), self.pool_h, self.pool_w, self.stride, self.pad)
        return (C, OH, OW)

    def forward(self, x):
        x = _as_array(x, "x", 4)
        fill = -np.inf if self.mode == "max" else 0.0
        win = windows(x, self.pool_h, self.pool_w, self.stride, self.pad, pad_value=fill)
        N, C, OH, OW = win.shape[:4]                                    # win: (N, C, OH, OW, PH, PW)
        self.x_shape = x.shape
        if self.mode == "avg":
            win = win.reshape(N, C, OH, OW, self.pool_h * self.pool_w)  # (N, C, OH, OW, PH*PW) copy
            return win.mean(axis=-1)
        # Running maximum over the PH*PW window offsets: each step compares two whole
        # (N, C, OH, OW) arrays, so the Python loop runs only PH*PW times (4 for 2x2).
        # arg_max[n, c, oy, ox] = i*PW + j of the FIRST maximum (strict > keeps the earlier one).
        out = win[:, :, :, :, 0, 0].copy()                              # (N, C, OH, OW)
        self.arg_max = None                                             # so _scratch may reuse it
        arg = _scratch(self, "arg", out.shape, np.min_scalar_type(self.pool_h * self.pool_w - 1))
        arg[...] = 0
        for k in range(1, self.pool_h * self.pool_w):
            w = win[:, :, :, :, k // self.pool_w, k % self.pool_w]      # (N, C, OH, OW) view
            better = w > out
            np.maximum(arg, better * arg.dtype.type(k), out=arg)       # k grows: the last win is k
            np.maximum(out, w, out=out)
        self.arg_max = arg
        return out

    def backward(self, dout):
        N, C, OH, OW = dout.shape
        PH, PW = self.pool_h, self.pool_w
        if self.mode == "avg":
            dwin = np.broadcast_to((dout / (PH * PW))[..., None, None], (N, C, OH, OW, PH, PW))
            return fold(dwin, self.x_shape, self.stride, self.pad)      # (N, C, H, W)
        # Each window's gradient goes to its first maximum: offset k gets dout where arg_max == k.
        (S0, S1), (P0, P1) = self.stride, self.pad
        _, _, H, W = self.x_shape
        dx = _scratch(self, "dx", (N, C, H + 2 * P0, W + 2 * P1), dout.dtype)  # padded (N, C, H', W')
        overlap = S0 < PH or S1 < PW                                    # may windows share pixels?
        if (S0, S1, S0 * OH, S1 * OW) != (PH, PW, H + 2 * P0, W + 2 * P1):
            dx[...] = 0                                 # unless the windows tile dx exactly
        for k in range(PH * PW):
            i, j = divmod(k, PW)
            target = dx[:, :, i:i + S0 * OH:S0, j:j + S1 * OW:S1]       # (N, C, OH, OW) view
            if overlap:
                target += dout * (self.arg_max == k)
            else:                                                       # each pixel written once
                np.multiply(dout, self.arg_max == k, out=target)
        return dx[:, :, P0:P0 + H, P1:P1 + W]                           # (N, C, H, W)


# ------------------------------------------------------------------------------- activations --

class Relu:
    """max(0, x). backward passes dout where x > 0."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        x = _as_array(x)
        self.mask = None                                    # so _scratch may reuse the array
        self.mask = np.greater(x, 0, out=_scratch(self, "mask", x.shape, bool))
        return np.maximum(x, 0, out=_scratch(self, "out", x.shape, x.dtype))   # x is untouched

    def backward(self, dout):
        dout = np.asarray(dout)
        dx = _scratch(self, "out", dout.shape, dout.dtype)    # forward's output array, if free
        np.multiply(dout, self.mask, out=dx)    # several times faster than np.where on big arrays
        dx += 0                                 # turns -0.0 (negative dout times False) into 0.0
        return dx


class Sigmoid:
    """1 / (1 + exp(-x)), computed without overflow. backward: dout * y * (1 - y)."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        x = _as_array(x)
        self.out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


# ------------------------------------------------------------------------------------ affine --

class Affine:
    """x @ W + b. Accepts (N, D) or any (N, ...) input (flattened to (N, D)); backward restores
    the input's shape. W: (D, M), b: (M,)."""

    def __init__(self, W, b):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 2:
            raise ValueError(f"W must be 2-D (D, M), got shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape (M,) = ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        self.W, self.b = W, b
        self.dW = self.db = None
        self.x = self.x_shape = None

    def forward(self, x):
        x = _as_array(x)
        if x.ndim < 2:
            raise ValueError(f"x must be at least 2-D (N, D...), got shape {x.shape}")
        x2 = x.reshape(x.shape[0], -1)                                  # (N, D)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(f"x of shape {x.shape} flattens to D = {x2.shape[1]} features but W of "
                             f"shape (D, M) = {self.W.shape} expects D = {self.W.shape[0]}")
        self.x, self.x_shape = x2, x.shape
        return x2 @ self.W + self.b                                     # (N, M)

    def backward(self, dout):
        self.dW = self.x.T @ dout                                       # (D, M)
        self.db = dout.sum(axis=0)                                      # (M,)
        return (dout @ self.W.T).reshape(self.x_shape)                  # (N, ...) like x


# ----------------------------------------------------------------------------------- dropout --

class Dropout:
    """Inverted dropout: in training, zero each unit with probability ``ratio`` and scale the
    survivors by 1/(1 - ratio), so nothing changes at test time. ``rng``: seed or Generator."""

    uses_train_flg = True

    def __init__(self, ratio=0.5, rng=None):
        if not 0 <= ratio < 1:
            raise ValueError(f"ratio must be in [0, 1), got {ratio!r}")
        self.ratio = ratio
        self.rng = np.random.default_rng(rng)
        self.mask = None

    def forward(self, x, train_flg=True):
        x = _as_array(x)
        if not train_flg or self.ratio == 0:
            self.mask = None
            return x.copy()
        keep = self.rng.random(x.shape, dtype=np.float64) >= self.ratio
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.ratio)
        return x * self.mask

    def backward(self, dout):
        return dout.copy() if self.mask is None else dout * self.mask


# ----------------------------------------------------------------------------------------- LRN --

class LRN:
    """Local response normalisation across channels (AlexNet, 2012):

        y[c] = x[c] / (k + alpha/n * sum_{c' in window(c)} x[c']^2) ** beta

    with a window of ``n`` neighbouring channels centred on c (PyTorch's LocalResponseNorm).
    """

    def __init__(self, n=5, k=2.0, alpha=1e-4, beta=0.75):
        self.n, self.k, self.alpha, self.beta = pair("n", n, 1)[0], float(k), float(alpha), float(beta)
        self.x = self.scale = None

    def _window_sum(self, a):
        """Sum of a over the channel window [c - n//2, c + (n-1)//2] for every c. a: (N, C, H, W)."""
        lo, hi = self.n // 2, (self.n - 1) // 2
        C = a.shape[1]
        cs = np.cumsum(np.pad(a, ((0, 0), (1, 0), (0, 0), (0, 0))), axis=1)   # (N, C+1, H, W)
        top = np.minimum(np.arange(C) + hi + 1, C)
        bot = np.maximum(np.arange(C) - lo, 0)
        return cs[:, top] - cs[:, bot]                                          # (N, C, H, W)

    def forward(self, x):
        x = _as_array(x, "x", 4)
        self.x = x
        self.scale = self.k + (self.alpha / self.n) * self._window_sum(x * x)   # (N, C, H, W)
        return x * self.scale ** -self.beta

    def backward(self, dout):
        x, s, b = self.x, self.scale, self.beta
        # y_c = x_c s_c^-b;  dy_c/dx_j = delta_cj s_c^-b - 2 b alpha/n x_c x_j s_c^(-b-1) [j in win(c)]
        g = dout * x * s ** (-b - 1)                                            # (N, C, H, W)
        # the transpose of "sum over window(c)" is "sum over the c whose window holds j"
        lo, hi = self.n // 2, (self.n - 1) // 2
        C = x.shape[1]
        cs = np.cumsum(np.pad(g, ((0, 0), (1, 0), (0, 0), (0, 0))), axis=1)
        top = np.minimum(np.arange(C) + lo + 1, C)
        bot = np.maximum(np.arange(C) - hi, 0)
        back = cs[:, top] - cs[:, bot]
        return dout * s ** -b - (2 * b * self.alpha / self.n) * x * back


# ------------------------------------------------------------------------------ softmax + loss --

def softmax(x):
    """Row-wise softmax of (N, K) scores, shifted by the row max so exp never overflows."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_labels(t, n, k, name="t"):
    """Return integer class labels (N,) from integer or one-hot ``t``; raise ValueError naming
    ``name`` on a wrong length, a wrong one-hot width or a label outside [0, k)."""
    t = np.asarray(t)
    if t.ndim == 2:
        if t.shape != (n, k):
            raise ValueError(f"{name} (one-hot) must have shape (N, K) = ({n}, {k}), got {t.shape}")
        return t.argmax(axis=1)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must have one label per sample: shape ({n},) or one-hot ({n}, {k}), "
                         f"got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        if not np.issubdtype(t.dtype, np.floating) or not np.all(np.mod(t, 1) == 0):
            raise ValueError(f"{name} must hold integer class labels, got dtype {t.dtype}")
        t = t.astype(np.int64)
    if n and (t.min() < 0 or t.max() >= k):
        bad = t[(t < 0) | (t >= k)][0]
        raise ValueError(f"{name} holds label {bad}, outside the {k} classes [0, {k - 1}]")
    return t


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities y (N, K) against integer or one-hot labels t."""
    y = np.atleast_2d(y)
    t = check_labels(t, y.shape[0], y.shape[1])
    return -np.mean(np.log(y[np.arange(y.shape[0]), t] + 1e-12))


class SoftmaxWithLoss:
    """Softmax then mean cross-entropy. forward(x, t) -> loss (scalar); backward() -> dx.

    t: integer labels (N,) or one-hot (N, K). The loss is computed from log-softmax, so it is
    exact even when a probability underflows to 0.
    """

    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t):
        x = _as_array(x)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D scores (N, K), got shape {x.shape}")
        N, K = x.shape
        self.t = check_labels(t, N, K)
        z = x - x.max(axis=1, keepdims=True)                             # (N, K)
        log_y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))        # log-softmax
        self.y = np.exp(log_y)
        return -log_y[np.arange(N), self.t].mean()

    def backward(self, dout=1):
        N = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(N), self.t] -= 1
        return dx * (dout / N)
