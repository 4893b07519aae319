"""Layers with the book's contract: ``forward(x)`` returns the output, ``backward(dout)`` returns
dx and stores parameter gradients next to the parameters (``W``/``dW``, ``b``/``db``).

Taught in ``notebooks/05_forward_backward.ipynb`` (Convolution, Pooling) and used by every net.
Symbols follow the book: N batch, C channels, H/W height/width, FN filters, FH/FW filter size,
OH/OW output size. Rules every layer keeps:

* **dtype**: a layer computes in the dtype of its input x. Float input keeps its dtype (float32
  in, float32 out); integer and bool input becomes float64; complex input is refused. The
  output, dx and dout (cast if needed) have that dtype; parameters of another float dtype are
  used cast to it, and dW, db come back in the parameters' own dtype, ready for the update.
* **no surprises in memory**: no layer modifies x or dout, and none writes into an array it
  handed out. Big arrays come from ``empty(self, name, shape, dtype)``: plain ``np.empty``,
  unless a training loop has attached a :class:`convlab.workspace.Workspace` for a step (then
  results are valid until its next step; see that module).
* **clear errors**: an empty batch, complex input, a dout whose shape is not the forward
  output's, and ``backward()`` before any ``forward()`` are refused, saying what was expected.
* **conventions at kinks** (the same as PyTorch): ReLU'(0) = 0; max pooling sends a window's
  gradient to its FIRST maximum when several are equal.

The speed tricks (a running maximum for pooling, the stride-1 col2im) live in named, tested
helpers in ``convlab/fastpath.py``.
"""
from __future__ import annotations

import numpy as np

from .arith import check_int, pair
from .fastpath import conv_backward_dx, window_max, window_max_backward
from .im2col import fold, im2col_transposed, window_geometry, windows
from .workspace import empty

__all__ = ["Convolution", "Pooling", "Relu", "Sigmoid", "Affine", "Dropout", "SoftmaxWithLoss",
           "LRN", "softmax", "cross_entropy_error", "check_labels"]


def _real(name, a):
    """a as an array of real numbers: float kept, int/bool -> float64, anything else refused."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        got = "complex numbers" if a.dtype.kind == "c" else f"dtype {a.dtype}"
        raise ValueError(f"{name} must hold real numbers (float, int or bool), got {got}")
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _check_x(x, ndim=None, layout="(N, C, H, W)"):
    """x as a real float array of ``ndim`` dimensions holding at least one value."""
    x = _real("x", x)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"x must be {ndim}-D {layout}, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"x must not be empty (at least one sample, N >= 1, and no zero-length "
                         f"axis), got shape {x.shape}")
    return x


def _check_dout(layer, dout):
    """dout as an array with the shape of ``layer``'s last forward output, in its dtype."""
    if getattr(layer, "out_shape", None) is None:
        raise RuntimeError(f"{type(layer).__name__}.backward() called before forward(): there is "
                           f"no forward pass to differentiate")
    dout = _real("dout", dout)
    if dout.shape != layer.out_shape:
        raise ValueError(f"dout must have the shape of the forward output {layer.out_shape}, "
                         f"got {dout.shape}")
    return dout.astype(layer.out_dtype, copy=False)


# ------------------------------------------------------------------------------- convolution --

class Convolution:
    """2-D convolution (cross-correlation, as in the book) via im2col and one GEMM.

    W: (FN, C, FH, FW), b: (FN,). x: (N, C, H, W) -> out: (N, FN, OH, OW).
    The column matrix is the book's, transposed (``im2col_transposed``), with a row of ones
    added for the bias; backward's input gradient is ``fastpath.conv_backward_dx`` (col2im).
    ``stride``, ``pad`` and ``dilation`` are ints or (h, w) pairs. Set ``need_dx = False`` on a
    first layer: backward then skips the input gradient (nobody needs it) and returns None.
    """

    def __init__(self, W, b, stride=1, pad=0, dilation=1):
        W, b = _real("W", W), _real("b", b)
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
        self.x_shape = self.col = self.out_shape = None

    def output_shape(self, input_shape):
        """(FN, OH, OW) for an input of shape (C, H, W)."""
        C, H, W = input_shape
        FN, _, FH, FW = self.W.shape
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), FH, FW, self.stride, self.pad, self.dilation)
        return (FN, OH, OW)

    def forward(self, x):
        x = _check_x(x, 4)
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        if x.shape[1] != C:
            raise ValueError(f"x has {x.shape[1]} channel(s) (shape {x.shape}) but W of shape "
                             f"(FN, C, FH, FW) = {self.W.shape} expects C = {C}")
        _, OH, OW = self.output_shape((C, H, W))
        K = C * FH * FW                                                 # weights per filter
        # The book's im2col, transposed: one column per output pixel (im2col_transposed). One
        # more row of ones below it: the bias is the weight of an input that is always 1, so
        # [W | b] @ col is the whole convolution in one GEMM (and backward gets db from a GEMM).
        col = empty(self, "col", (K + 1, N * OH * OW), x.dtype)         # (C*FH*FW + 1, N*OH*OW)
        im2col_transposed(x, FH, FW, self.stride, self.pad, self.dilation, out=col[:K])
        col[K] = 1
        Wb = np.concatenate([self.W.reshape(FN, K), self.b.reshape(FN, 1)], axis=1,
                            dtype=x.dtype)                              # (FN, C*FH*FW + 1)
        prod = np.matmul(Wb, col, out=empty(self, "filters_first", (FN, N * OH * OW), x.dtype))
        out = empty(self, "out", (N, FN, OH, OW), x.dtype)
        np.copyto(out, prod.reshape(FN, N, OH, OW).transpose(1, 0, 2, 3))  # (N, FN, OH, OW)
        self.x_shape, self.col = x.shape, col
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = _check_dout(self, dout)                                  # (N, FN, OH, OW)
        FN, C, FH, FW = self.W.shape
        N, _, OH, OW = dout.shape
        K = C * FH * FW
        # dout with filters first, in the array that held forward's GEMM result (no longer used)
        d = empty(self, "filters_first", (FN, N * OH * OW), dout.dtype)  # (FN, N*OH*OW)
        np.copyto(d.reshape(FN, N, OH, OW), dout.transpose(1, 0, 2, 3))
        dWb = d @ self.col.T                                            # (FN, C*FH*FW + 1) = [dW | db]
        self.dW = dWb[:, :K].reshape(FN, C, FH, FW).astype(self.W.dtype, copy=False)
        self.db = dWb[:, K].astype(self.b.dtype)                        # (FN,): the ones row's weight
        if not self.need_dx:
            return None
        # dx = col2im(W_col.T @ d): see conv_backward_dx for the faster stride-1 fold
        return conv_backward_dx(d, self.W.astype(d.dtype, copy=False), self.x_shape, self.stride,
                                self.pad, self.dilation, owner=self)   # (N, C, H, W)


# ----------------------------------------------------------------------------------- pooling --

def _pool_size(name, value):
    if isinstance(value, (tuple, list, np.ndarray)):
        raise ValueError(f"{name} must be one integer (the window's "
                         f"{'height; its width is pool_w' if name == 'pool_h' else 'width'}), "
                         f"got {value!r}")
    return check_int(name, value, 1)


class Pooling:
    """Max or average pooling over pool_h x pool_w windows. x: (N, C, H, W) -> (N, C, OH, OW).

    No parameters; the channel count is unchanged. ``pool_h`` and ``pool_w`` are integers;
    ``stride`` (default: the window, so windows tile) and ``pad`` are ints or (h, w) pairs.
    ``pad`` pads max pooling with -inf (padding never wins) and average pooling with zeros
    (counted in the mean, as PyTorch's default); like PyTorch, ``pad`` may be at most half the
    window. Max pooling sends each gradient to the first maximum of its window (PyTorch's rule).
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
        *_, OH, OW, _, _, _ = window_geometry((1, C, H, W), self.pool_h, self.pool_w, self.stride, self.pad)
        return (C, OH, OW)

    def forward(self, x):
        x = _check_x(x, 4)
        PH, PW = self.pool_h, self.pool_w
        fill = -np.inf if self.mode == "max" else 0.0                   # what padding holds
        win = windows(x, PH, PW, self.stride, self.pad, pad_value=fill)  # (N, C, OH, OW, PH, PW) view
        if self.mode == "avg":
            out = win.mean(axis=(4, 5))                                 # (N, C, OH, OW)
        else:
            # max and argmax of each window: arg_max = i*PW + j of the first maximum
            out, self.arg_max = window_max(win, owner=self)             # (N, C, OH, OW) each
        self.x_shape = x.shape
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = _check_dout(self, dout)                                  # (N, C, OH, OW)
        PH, PW = self.pool_h, self.pool_w
        if self.mode == "avg":                          # every cell of a window gets an equal share
            dwin = np.broadcast_to((dout / (PH * PW))[..., None, None], dout.shape + (PH, PW))
            return fold(dwin, self.x_shape, self.stride, self.pad)      # (N, C, H, W)
        # each window's gradient goes to its (first) maximum; overlapping windows add up
        return window_max_backward(dout, self.arg_max, self.x_shape, (PH, PW), self.stride,
                                   self.pad, owner=self)                # (N, C, H, W)


# ------------------------------------------------------------------------------- activations --

class Relu:
    """max(0, x). backward passes dout where x > 0 (so ReLU'(0) = 0, as in PyTorch)."""

    def __init__(self):
        self.mask = self.out_shape = None

    def forward(self, x):
        x = _check_x(x)
        self.mask = np.greater(x, 0, out=empty(self, "mask", x.shape, bool))   # True where x > 0
        out = np.maximum(x, 0, out=empty(self, "out", x.shape, x.dtype))        # x is untouched
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = _check_dout(self, dout)
        dx = np.multiply(dout, self.mask, out=empty(self, "dx", dout.shape, dout.dtype))  # 0 where x <= 0
        dx += 0                                 # turns -0.0 (negative dout times False) into 0.0
        return dx


class Sigmoid:
    """1 / (1 + exp(-x)), computed without overflow. backward: dout * y * (1 - y)."""

    def __init__(self):
        self.out = self.out_shape = None

    def forward(self, x):
        x = _check_x(x)
        self.out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
        self.out_shape, self.out_dtype = self.out.shape, self.out.dtype
        return self.out

    def backward(self, dout):
        dout = _check_dout(self, dout)
        return dout * (1.0 - self.out) * self.out


# ------------------------------------------------------------------------------------ affine --

class Affine:
    """x @ W + b. Accepts (N, D) or any (N, ...) input (flattened to (N, D)); backward restores
    the input's shape. W: (D, M), b: (M,)."""

    def __init__(self, W, b):
        W, b = _real("W", W), _real("b", b)
        if W.ndim != 2:
            raise ValueError(f"W must be 2-D (D, M), got shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape (M,) = ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        self.W, self.b = W, b
        self.dW = self.db = None
        self.x = self.x_shape = self.out_shape = None

    def forward(self, x):
        x = _check_x(x)
        if x.ndim < 2:
            raise ValueError(f"x must be at least 2-D (N, D...), got shape {x.shape}")
        x2 = x.reshape(x.shape[0], -1)                                  # (N, D)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(f"x of shape {x.shape} flattens to D = {x2.shape[1]} features but W of "
                             f"shape (D, M) = {self.W.shape} expects D = {self.W.shape[0]}")
        self.x, self.x_shape = x2, x.shape
        out = x2 @ self.W.astype(x.dtype, copy=False) + self.b.astype(x.dtype, copy=False)  # (N, M)
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = _check_dout(self, dout)                                  # (N, M)
        self.dW = (self.x.T @ dout).astype(self.W.dtype, copy=False)    # (D, M)
        self.db = dout.sum(axis=0).astype(self.b.dtype, copy=False)     # (M,)
        dx = dout @ self.W.astype(dout.dtype, copy=False).T             # (N, D)
        return dx.reshape(self.x_shape)                                 # (N, ...) like x


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
        x = _check_x(x)
        self.out_shape, self.out_dtype = x.shape, x.dtype
        if not train_flg or self.ratio == 0:
            self.mask = None
            return x.copy()
        keep = self.rng.random(x.shape, dtype=np.float64) >= self.ratio
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.ratio)
        return x * self.mask

    def backward(self, dout):
        dout = _check_dout(self, dout)
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
        x = _check_x(x, 4)
        self.x = x
        self.scale = self.k + (self.alpha / self.n) * self._window_sum(x * x)   # (N, C, H, W)
        self.out_shape, self.out_dtype = x.shape, x.dtype
        return x * self.scale ** -self.beta

    def backward(self, dout):
        dout = _check_dout(self, dout)
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


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities y (N, K) against integer or one-hot labels t."""
    y = np.atleast_2d(y)
    t = check_labels(t, y.shape[0], y.shape[1])
    return -np.mean(np.log(y[np.arange(y.shape[0]), t] + 1e-12))


class SoftmaxWithLoss:
    """Softmax then mean cross-entropy. forward(x, t) -> loss (scalar); backward() -> dx.

    t: integer labels (N,) or one-hot rows (N, K) (see ``check_labels``: soft labels are
    refused). The loss is computed from log-softmax, so it is exact even when a probability
    underflows to 0. backward's dout is the gradient of the (scalar) loss, 1 by default.
    """

    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t):
        x = _check_x(x)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D scores (N, K), got shape {x.shape}")
        N, K = x.shape
        self.t = check_labels(t, N, K)                                  # (N,) integer labels
        z = x - x.max(axis=1, keepdims=True)                            # (N, K), row max 0
        log_y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))        # log-softmax (N, K)
        self.y = np.exp(log_y)                                          # softmax (N, K)
        return -log_y[np.arange(N), self.t].mean()

    def backward(self, dout=1):
        if self.y is None:
            raise RuntimeError("SoftmaxWithLoss.backward() called before forward(): there is no "
                               "forward pass to differentiate")
        dout = _real("dout", dout)
        if dout.shape != ():
            raise ValueError(f"dout must be a scalar (the gradient of the scalar loss), got shape "
                             f"{dout.shape}")
        N = self.y.shape[0]
        dx = self.y.copy()                                              # (N, K)
        dx[np.arange(N), self.t] -= 1                                   # y - one_hot(t)
        return dx * (float(dout) / N)
