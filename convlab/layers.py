"""The layers of chapter 7, written the book's way: ``forward(x)`` returns the output,
``backward(dout)`` returns dx and keeps parameter gradients next to the parameters (``W``/``dW``,
``b``/``db``).

Taught in ``notebooks/05_forward_backward.ipynb`` (Convolution, Pooling) and used by every net.
Symbols follow the book: N batch, C channels, H/W height/width, FN filters, FH/FW filter size,
OH/OW output size, PH/PW pooling window. What every layer keeps to:

* **dtype**: a layer computes in the dtype of its input x (integer and bool input becomes
  float64, complex input is refused); dW and db come back in the parameters' own dtype.
* **no surprises**: no layer modifies x or dout.
* **clear errors**: :func:`checked` refuses an empty batch, complex numbers, a dout whose shape
  is not the forward output's and ``backward()`` before ``forward()``, saying what was expected.
* **kinks as in PyTorch**: ReLU'(0) = 0; max pooling sends a window's gradient to its first
  maximum, a NaN in a window wins (the last NaN, as PyTorch), and padding never wins.

These classes are the reference answer to lesson 5: plain NumPy, one idea per line. The speed
behind ``Trainer`` is their twins in ``convlab/fast/`` (same numbers, other tricks).
"""
from __future__ import annotations

import numpy as np

from .arith import check_int, pair
from .im2col import col2im, fold, im2col, window_geometry, windows

__all__ = ["Convolution", "Pooling", "Relu", "Sigmoid", "Affine", "Dropout", "SoftmaxWithLoss",
           "LRN", "softmax", "log_softmax", "cross_entropy_rows", "cross_entropy_error",
           "check_labels", "checked"]


def checked(layer, name, a, ndim=None, layout="(N, C, H, W)"):
    """``a`` as an array of real numbers fit for ``layer``, or a clear error. Every check of the
    layers is here, out of their arithmetic:

    * any array: real numbers (float kept, int/bool -> float64, complex refused), ``ndim``
      dimensions (laid out as ``layout``) if given;
    * ``name == "x"``: at least one value;
    * ``name == "dout"`` with a ``layer``: after a forward pass, of that pass's output shape (cast
      to its dtype).
    """
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        got = "complex numbers" if a.dtype.kind == "c" else f"dtype {a.dtype}"
        raise ValueError(f"{name} must hold real numbers (float, int or bool), got {got}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {a.shape}")
    if name == "x" and a.size == 0:
        raise ValueError(f"x must not be empty (at least one sample, N >= 1, and no zero-length "
                         f"axis), got shape {a.shape}")
    if name == "dout" and layer is not None:
        if getattr(layer, "out_shape", None) is None:
            raise RuntimeError(f"{type(layer).__name__}.backward() called before forward(): there "
                               f"is no forward pass to differentiate")
        if a.shape != layer.out_shape:
            raise ValueError(f"dout must have the shape of the forward output {layer.out_shape}, "
                             f"got {a.shape}")
        a = a.astype(layer.out_dtype, copy=False)
    return a


def _remember(layer, out):
    """Note the shape and dtype of ``out`` (what backward's dout must match); return out."""
    layer.out_shape, layer.out_dtype = out.shape, out.dtype
    return out


# ------------------------------------------------------------------------------- convolution --

class Convolution:
    """2-D convolution (cross-correlation, as in the book) through im2col and one matrix product.

    W: (FN, C, FH, FW), b: (FN,). x: (N, C, H, W) -> out: (N, FN, OH, OW). ``stride``, ``pad``
    and ``dilation`` are ints or (h, w) pairs. ``need_dx = False`` (a first layer): backward
    skips the input gradient, which nobody needs, and returns None.
    """

    def __init__(self, W, b, stride=1, pad=0, dilation=1):
        self.W = checked(self, "W", W, 4, "(FN, C, FH, FW)")
        self.b = checked(self, "b", b)
        if self.b.shape != (self.W.shape[0],):
            raise ValueError(f"b must have shape (FN,) = ({self.W.shape[0]},) to match W "
                             f"{self.W.shape}, got {self.b.shape}")
        self.stride, self.pad = pair("stride", stride, 1), pair("pad", pad, 0)
        self.dilation = pair("dilation", dilation, 1)
        self.need_dx = True
        self.x_shape = self.col = self.col_W = self.out_shape = None
        self.dW = self.db = None

    def output_shape(self, input_shape):
        """(FN, OH, OW) for an input of shape (C, H, W)."""
        C, H, W = input_shape
        FN, _, FH, FW = self.W.shape
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), FH, FW, self.stride, self.pad,
                                              self.dilation)
        return (FN, OH, OW)

    def _check_channels(self, x):
        if x.shape[1] != self.W.shape[1]:
            raise ValueError(f"x has {x.shape[1]} channel(s) (shape {x.shape}) but W of shape "
                             f"(FN, C, FH, FW) = {self.W.shape} expects C = {self.W.shape[1]}")

    def forward(self, x):
        x = checked(self, "x", x, 4)
        self._check_channels(x)
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        _, OH, OW = self.output_shape(x.shape[1:])
        # one row per output pixel (n, oy, ox), one column per weight (c, fy, fx)
        col = im2col(x, FH, FW, self.stride, self.pad, self.dilation)    # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T.astype(x.dtype)                 # (C*FH*FW, FN)
        out = col @ col_W + self.b.astype(x.dtype)                       # (N*OH*OW, FN)
        out = out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)           # (N, FN, OH, OW)
        self.x_shape, self.col, self.col_W = x.shape, col, col_W
        return _remember(self, out)

    def backward(self, dout):
        dout = checked(self, "dout", dout)                               # (N, FN, OH, OW)
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)                # (N*OH*OW, FN)
        self.db = dout.sum(axis=0).astype(self.b.dtype)                  # (FN,)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW).astype(self.W.dtype)
        if not self.need_dx:
            return None
        dcol = dout @ self.col_W.T                                       # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad, self.dilation)  # (N, C, H, W)


# ----------------------------------------------------------------------------------- pooling --

def _pool_size(name, value):
    if isinstance(value, (tuple, list, np.ndarray)):
        raise ValueError(f"{name} must be one integer (the window's "
                         f"{'height; its width is pool_w' if name == 'pool_h' else 'width'}), "
                         f"got {value!r}")
    return check_int(name, value, 1)


def first_max(col, real):
    """Column of the winner of each row of ``col`` (rows: windows, columns: window cells), as
    PyTorch's max pooling picks it: the first maximum; but the last NaN if a row holds NaN; and
    only among the real cells (``real``: False where the cell is padding), so a window of -inf
    sends its gradient to its first real cell, never to the padding."""
    arg = np.argmax(col, axis=1)                                     # first maximum (or first NaN)
    nan = np.isnan(col)
    rows = nan.any(axis=1)
    if rows.any():                                                   # the LAST NaN of the row
        arg[rows] = col.shape[1] - 1 - np.argmax(nan[rows, ::-1], axis=1)
    lost = ~real[np.arange(len(arg)), arg]                           # a padding cell won (a tie)
    if lost.any():
        arg[lost] = np.argmax(real[lost], axis=1)                    # the first real cell
    return arg


class Pooling:
    """Max or average pooling over pool_h x pool_w windows. x: (N, C, H, W) -> (N, C, OH, OW).

    No parameters; the channel count is unchanged. ``pool_h`` and ``pool_w`` are integers;
    ``stride`` (default: the window, so windows tile) and ``pad`` are ints or (h, w) pairs.
    Max pooling pads with -inf (and padding never wins, see :func:`first_max`); average pooling
    pads with zeros, counted in the mean (PyTorch's default). Like PyTorch, ``pad`` may be at
    most half the window.
    """

    def __init__(self, pool_h, pool_w, stride=None, pad=0, mode="max"):
        self.pool_h, self.pool_w = _pool_size("pool_h", pool_h), _pool_size("pool_w", pool_w)
        self.stride = pair("stride", (self.pool_h, self.pool_w) if stride is None else stride, 1)
        self.pad = pair("pad", pad, 0)
        if self.pad[0] > self.pool_h // 2 or self.pad[1] > self.pool_w // 2:
            raise ValueError(f"pad must be at most half the window (pool_h // 2, pool_w // 2) = "
                             f"({self.pool_h // 2}, {self.pool_w // 2}), got {pad}")
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode
        self.x_shape = self.arg_max = self.out_shape = None

    def output_shape(self, input_shape):
        C, H, W = input_shape
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), self.pool_h, self.pool_w, self.stride,
                                              self.pad)
        return (C, OH, OW)

    def forward(self, x):
        x = checked(self, "x", x, 4)
        PH, PW = self.pool_h, self.pool_w
        N = x.shape[0]
        C, OH, OW = self.output_shape(x.shape[1:])
        self.x_shape = x.shape
        if self.mode == "avg":
            col = windows(x, PH, PW, self.stride, self.pad).reshape(-1, PH * PW)
            return _remember(self, col.mean(axis=1).reshape(N, C, OH, OW))
        # im2col with the windows as rows: (N*C*OH*OW, PH*PW), padding -inf
        col = windows(x, PH, PW, self.stride, self.pad, pad_value=-np.inf).reshape(-1, PH * PW)
        real = windows(np.ones((1, 1) + x.shape[2:], bool), PH, PW, self.stride, self.pad,
                       pad_value=False)                                  # (1, 1, OH, OW, PH, PW)
        real = np.broadcast_to(real, (N, C, OH, OW, PH, PW)).reshape(-1, PH * PW)
        self.arg_max = first_max(col, real).reshape(N, C, OH, OW)        # i*PW + j of each winner
        out = np.max(col, axis=1)
        return _remember(self, out.reshape(N, C, OH, OW))

    def backward(self, dout):
        dout = checked(self, "dout", dout)                               # (N, C, OH, OW)
        PH, PW = self.pool_h, self.pool_w
        if self.mode == "avg":                   # every cell of a window gets an equal share
            dcol = np.repeat(dout.reshape(-1, 1) / (PH * PW), PH * PW, axis=1)
        else:                                    # each window's gradient goes to its winner
            dcol = np.zeros((dout.size, PH * PW), dout.dtype)            # (N*C*OH*OW, PH*PW)
            dcol[np.arange(dout.size), self.arg_max.ravel()] = dout.ravel()
        dwin = dcol.reshape(dout.shape + (PH, PW))                       # (N, C, OH, OW, PH, PW)
        return fold(dwin, self.x_shape, self.stride, self.pad)           # col2im: (N, C, H, W)


# ------------------------------------------------------------------------------- activations --

class Relu:
    """max(0, x). backward passes dout where x > 0 (so ReLU'(0) = 0, as in PyTorch)."""

    def __init__(self):
        self.mask = self.out_shape = None

    def forward(self, x):
        x = checked(self, "x", x)
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return _remember(self, out)

    def backward(self, dout):
        dx = checked(self, "dout", dout).copy()
        dx[self.mask] = 0
        return dx


class Sigmoid:
    """1 / (1 + exp(-x)), computed without overflow. backward: dout * y * (1 - y)."""

    def __init__(self):
        self.out = self.out_shape = None

    def forward(self, x):
        x = checked(self, "x", x)
        self.out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)  # = 1 / (1 + exp(-x))
        return _remember(self, self.out)

    def backward(self, dout):
        dout = checked(self, "dout", dout)
        return dout * (1.0 - self.out) * self.out


# ------------------------------------------------------------------------------------ affine --

class Affine:
    """x @ W + b. Accepts (N, D) or any (N, ...) input (flattened to (N, D)); backward restores
    the input's shape. W: (D, M), b: (M,)."""

    def __init__(self, W, b):
        self.W = checked(self, "W", W, 2, "(D, M)")
        self.b = checked(self, "b", b)
        if self.b.shape != (self.W.shape[1],):
            raise ValueError(f"b must have shape (M,) = ({self.W.shape[1]},) to match W "
                             f"{self.W.shape}, got {self.b.shape}")
        self.x = self.x_shape = self.out_shape = None
        self.dW = self.db = None

    def forward(self, x):
        x = checked(self, "x", x)
        if x.ndim < 2:
            raise ValueError(f"x must be at least 2-D (N, D...), got shape {x.shape}")
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)                               # (N, D)
        if self.x.shape[1] != self.W.shape[0]:
            raise ValueError(f"x of shape {x.shape} flattens to D = {self.x.shape[1]} features but "
                             f"W of shape (D, M) = {self.W.shape} expects D = {self.W.shape[0]}")
        out = self.x @ self.W.astype(x.dtype, copy=False) + self.b.astype(x.dtype, copy=False)
        return _remember(self, out)                                      # (N, M)

    def backward(self, dout):
        dout = checked(self, "dout", dout)                               # (N, M)
        self.dW = (self.x.T @ dout).astype(self.W.dtype, copy=False)     # (D, M)
        self.db = dout.sum(axis=0).astype(self.b.dtype, copy=False)      # (M,)
        dx = dout @ self.W.astype(dout.dtype, copy=False).T              # (N, D)
        return dx.reshape(self.x_shape)                                  # (N, ...) like x


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
        self.mask = self.out_shape = None

    def forward(self, x, train_flg=True):
        x = checked(self, "x", x)
        _remember(self, x)
        if not train_flg or self.ratio == 0:
            self.mask = None
            return x.copy()
        keep = self.rng.random(x.shape, dtype=np.float64) >= self.ratio
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.ratio)
        return x * self.mask

    def backward(self, dout):
        dout = checked(self, "dout", dout)
        return dout.copy() if self.mask is None else dout * self.mask


# ----------------------------------------------------------------------------------------- LRN --

class LRN:
    """Local response normalisation across channels (AlexNet, 2012):

        y[c] = x[c] / (k + alpha/n * sum_{c' in window(c)} x[c']^2) ** beta

    with a window of ``n`` neighbouring channels centred on c (PyTorch's LocalResponseNorm).
    """

    def __init__(self, n=5, k=2.0, alpha=1e-4, beta=0.75):
        self.n, self.k, self.alpha, self.beta = pair("n", n, 1)[0], float(k), float(alpha), float(beta)
        self.x = self.scale = self.out_shape = None

    def _window_sum(self, a):
        """Sum of a over the channel window [c - n//2, c + (n-1)//2] for every c. a: (N, C, H, W)."""
        lo, hi = self.n // 2, (self.n - 1) // 2
        C = a.shape[1]
        cs = np.cumsum(np.pad(a, ((0, 0), (1, 0), (0, 0), (0, 0))), axis=1)   # (N, C+1, H, W)
        top = np.minimum(np.arange(C) + hi + 1, C)
        bot = np.maximum(np.arange(C) - lo, 0)
        return cs[:, top] - cs[:, bot]                                          # (N, C, H, W)

    def forward(self, x):
        x = checked(self, "x", x, 4)
        self.x = x
        self.scale = self.k + (self.alpha / self.n) * self._window_sum(x * x)   # (N, C, H, W)
        return _remember(self, x * self.scale ** -self.beta)

    def backward(self, dout):
        dout = checked(self, "dout", dout)
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
    """Return integer class labels (N,) from integer labels (N,) or one-hot rows (N, K).

    One class per sample: a one-hot row holds exactly one 1 and zeros elsewhere. Soft labels
    (rows of probabilities such as [0.9, 0.1]), all-zero rows and rows with NaN are refused,
    not guessed at. Raises ValueError naming ``name`` on a wrong length, a wrong one-hot width,
    a row that is not one-hot, or a label outside [0, k).
    """
    t = np.asarray(t)
    if t.ndim == 2:
        if t.shape != (n, k):
            raise ValueError(f"{name} (one-hot) must have shape (N, K) = ({n}, {k}), got {t.shape}")
        if t.dtype.kind not in "biuf":
            raise ValueError(f"{name} (one-hot) must hold numbers 0 and 1, got dtype {t.dtype}")
        one_hot = ((t == 0) | (t == 1)).all(axis=1) & (t.sum(axis=1) == 1)   # (N,); NaN fails
        if not one_hot.all():
            i = int(np.flatnonzero(~one_hot)[0])
            raise ValueError(f"{name} (one-hot) row {i} must hold exactly one 1 and zeros elsewhere, "
                             f"got {np.array2string(t[i], threshold=12)}; soft labels, all-zero and "
                             f"NaN rows are not supported: give integer labels or one-hot rows")
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


def log_softmax(x):
    """Row-wise log of softmax(x) for scores x (N, K), without forming softmax: exact where a
    probability underflows to 0 (a 1000-wide gap between two scores gives log y = -1000)."""
    z = x - x.max(axis=1, keepdims=True)                                # (N, K), row max 0
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))             # (N, K)


def cross_entropy_rows(log_y, t):
    """Each sample's loss -log y[n, t[n]] (N,) from log-probabilities log_y (N, K) and integer
    labels t (N,). The one cross-entropy formula of convlab: the mean of these rows is the loss
    SoftmaxWithLoss returns, the fused step reports and Trainer prints."""
    return -log_y[np.arange(len(t)), t]


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities y (N, K) against integer or one-hot labels t. A
    probability that underflowed to 0 counts as the tiniest positive float (a finite loss);
    from scores, SoftmaxWithLoss gets the exact loss instead."""
    y = np.atleast_2d(checked(None, "y", y))                           # (N, K) floats
    t = check_labels(t, y.shape[0], y.shape[1])
    return cross_entropy_rows(np.log(np.maximum(y, np.finfo(y.dtype).tiny)), t).mean()


class SoftmaxWithLoss:
    """Softmax then mean cross-entropy. forward(x, t) -> loss (scalar); backward() -> dx.

    t: integer labels (N,) or one-hot rows (N, K) (see ``check_labels``: soft labels are
    refused). The loss is computed from log-softmax, so it is exact even when a probability
    underflows to 0. backward's dout is the gradient of the (scalar) loss, 1 by default.
    """

    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        x = checked(self, "x", x, 2, "scores (N, K)")
        N, K = x.shape
        self.t = check_labels(t, N, K)                                  # (N,) integer labels
        log_y = log_softmax(x)                                          # (N, K)
        self.y = np.exp(log_y)                                          # softmax (N, K)
        self.loss = cross_entropy_rows(log_y, self.t).mean()            # a scalar
        return self.loss

    def backward(self, dout=1):
        if self.y is None:
            raise RuntimeError("SoftmaxWithLoss.backward() called before forward(): there is no "
                               "forward pass to differentiate")
        dout = checked(None, "dout", dout)                              # a number
        if dout.shape != ():
            raise ValueError(f"dout must be a scalar (the gradient of the scalar loss), got shape "
                             f"{dout.shape}")
        N = self.y.shape[0]
        dx = self.y.copy()                                              # (N, K)
        dx[np.arange(N), self.t] -= 1                                   # y - one_hot(t)
        return dx * (float(dout) / N)
