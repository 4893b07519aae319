"""The kernels of the fast layer twins (``convlab/fast/layers.py``), one named function each.

Every function's docstring gives the plain NumPy it stands for; ``tests/test_fast_kernels.py``
proves each one equal to that plain version (and the layers are checked against loop
references and PyTorch besides). Big results come from :func:`convlab.fast.workspace.empty`, so
a training loop that attaches a :class:`~convlab.fast.workspace.Workspace` reuses them.
"""
from __future__ import annotations

import numpy as np

from ..im2col import col2im_transposed, windows
from .workspace import empty

__all__ = ["conv_forward_images_last", "conv_backward_images_last", "conv_backward_dx", "fold_flat",
           "padded_flat", "flat_col", "conv_chunks", "conv_forward_flat", "conv_backward_flat",
           "window_max", "window_max_backward", "window_mean", "window_mean_backward", "sigmoid",
           "sigmoid_in_place", "channel_window_sum", "inverse_power"]


def _padded_images_last(x_shape, pad, dtype, owner, name):
    """A workspace array (C, H', W', N) whose padding border is 0 (the inside is the caller's)."""
    N, C, H, W = x_shape
    (P0, P1) = pad
    xt = empty(owner, name, (C, H + 2 * P0, W + 2 * P1, N), dtype)
    xt[:, :P0] = 0
    xt[:, P0 + H:] = 0
    xt[:, :, :P1] = 0
    xt[:, :, P1 + W:] = 0
    return xt


def conv_backward_dx(d, W, x_shape, stride, pad, dilation, owner=None):
    """Input gradient of a convolution from ``d``, its output gradient with filters first:
    (FN, N*OH*OW), columns in (n, oy, ox) order. W: (FN, C, FH, FW). Returns (N, C, H, W).

    Plain version: ``col2im_transposed(W.reshape(FN, -1).T @ d, x_shape, FH, FW, stride, pad,
    dilation)``. That is what runs for stride > 1. For stride 1 the same numbers come from one
    long fold (``fold_flat``): d is first laid out as whole padded images, (FN, N, H', W') with
    zeros where no output pixel is, so the GEMM's columns line up with the flattened padded
    batch. ``stride``, ``pad``, ``dilation``: (h, w) pairs. ``owner``: the layer whose
    workspace lends the big intermediate arrays (None: fresh arrays).
    """
    FN, C, FH, FW = W.shape
    N, _, H, W_ = x_shape
    Wmat = W.reshape(FN, C * FH * FW).T                              # (C*FH*FW, FN)
    if tuple(stride) != (1, 1):
        dcol = np.matmul(Wmat, d, out=empty(owner, "dcol", (C * FH * FW, d.shape[1]), d.dtype))
        return col2im_transposed(dcol, x_shape, FH, FW, stride, pad, dilation)
    Hp, Wp = H + 2 * pad[0], W_ + 2 * pad[1]                         # padded input H', W'
    OH, OW = Hp - dilation[0] * (FH - 1), Wp - dilation[1] * (FW - 1)  # stride 1
    dpad = empty(owner, "dpad", (FN, N, Hp, Wp), d.dtype)            # (FN, N, H', W')
    dpad[:, :, OH:] = 0                                              # no output pixel there
    dpad[:, :, :OH, OW:] = 0
    np.copyto(dpad[:, :, :OH, :OW], d.reshape(FN, N, OH, OW))
    dcol = np.matmul(Wmat, dpad.reshape(FN, N * Hp * Wp),
                     out=empty(owner, "dcol", (C * FH * FW, N * Hp * Wp), d.dtype))
    img = fold_flat(dcol.reshape(C, FH, FW, N * Hp * Wp), (Hp, Wp), dilation, owner)
    dx = empty(owner, "dx", (N, C, H, W_), d.dtype)
    np.copyto(dx, img.reshape(C, N, Hp, Wp)[:, :, pad[0]:pad[0] + H, pad[1]:pad[1] + W_]
              .transpose(1, 0, 2, 3))
    return dx                                                        # (N, C, H, W)


def fold_flat(dcol, padded_hw, dilation, owner=None):
    """The stride-1 col2im as FH*FW long adds: ``dcol`` (C, FH, FW, N*H'*W') holds, for every
    kernel offset (i, j), a value per padded-image pixel (n, y, x), all images end to end; the
    result (C, N*H'*W') adds offset (i, j)'s row shifted by s = i*dy*W' + j*dx: out[c, q + s] +=
    dcol[c, i, j, q].

    Why it is the col2im: with stride 1, output pixel (oy, ox) of image n, at flat position
    q = n*H'*W' + oy*W' + ox, reaches padded pixel (oy + i*dy, ox + j*dx) at q + s. Entries of
    dcol that stand for no output pixel (oy >= OH or ox >= OW) must be 0: shifted, they land on
    the next row or image. Plain version: ``convlab.im2col.col2im_wide`` (one add per image and
    channel rows only OH*W' long, about 3x slower here than one add per kernel offset).
    """
    C, FH, FW, M = dcol.shape
    Hp, Wp = padded_hw
    tail = dilation[0] * (FH - 1) * Wp + dilation[1] * (FW - 1)      # the largest shift
    flat = empty(owner, "flat", (C, M + tail), dcol.dtype)
    flat[...] = 0
    for i in range(FH):
        for j in range(FW):
            s = i * dilation[0] * Wp + j * dilation[1]
            flat[:, s:s + M] += dcol[:, i, j]                        # (C, N*H'*W') contiguous rows
    return flat[:, :M]                                               # (C, N*H'*W')


def window_max(win, x_shape, stride, pad, owner=None):
    """Maximum of every window and where it is: (out, arg), both (N, C, OH, OW), from the
    windows ``win`` (N, C, OH, OW, PH, PW) (a strided view of the input of shape ``x_shape``
    padded with -inf by ``pad``, windows ``stride`` apart (both (h, w) pairs); see ``convlab.im2col.windows``). ``arg`` holds
    i*PW + j of the winner of each window as ``convlab.layers.first_max`` picks it: the FIRST
    maximum, the last NaN, never the padding (PyTorch's rules).

    Plain version: ``flat = win.reshape(N, C, OH, OW, PH*PW)``, then ``flat.max(axis=-1)`` and
    ``flat.argmax(axis=-1)``. That reshape copies the windows and reduces along a short last
    axis; here a running maximum over the PH*PW window offsets compares whole (N, C, OH, OW)
    arrays instead (4 passes for 2x2 windows). ``arg`` is the smallest integer dtype that fits.
    """
    N, C, OH, OW, PH, PW = win.shape
    out = empty(owner, "max", (N, C, OH, OW), win.dtype)
    np.copyto(out, win[..., 0, 0])
    arg = empty(owner, "argmax", (N, C, OH, OW), np.min_scalar_type(PH * PW - 1))
    arg[...] = 0
    better = empty(owner, "better", (N, C, OH, OW), bool)
    ks = empty(owner, "ks", (N, C, OH, OW), arg.dtype)
    for k in range(1, PH * PW):
        w = win[..., k // PW, k % PW]                                # (N, C, OH, OW) view
        np.greater(w, out, out=better)           # strict: an equal later value keeps the earlier
        np.multiply(better, arg.dtype.type(k), out=ks)   # (copyto(where=) is 40x slower)
        np.maximum(arg, ks, out=arg)                     # k only grows, so max = the last win
        np.maximum(out, w, out=out)
    total = np.add.reduce(out, axis=None)                # NaN or -inf if any window gave one
    if np.isnan(total) or (np.isinf(total) and any(pad)):
        arg[...] = _pytorch_arg(win, x_shape, stride, pad)      # rare: NaN, or -inf windows by padding
    return out, arg


def _pytorch_arg(win, x_shape, stride, pad):
    """arg of :func:`window_max` by PyTorch's own loop over each window's real cells: the winner
    starts as the first real cell at -inf and a cell takes over if greater, or if NaN."""
    N, C, OH, OW, PH, PW = win.shape
    real = windows(np.ones((1, 1) + tuple(x_shape[2:]), bool), PH, PW, stride, pad,
                   pad_value=False)[0, 0]                            # (OH, OW, PH, PW): not padding
    first = np.argmax(real.reshape(OH, OW, PH * PW), axis=-1)      # (OH, OW) first real cell
    arg = np.broadcast_to(first, (N, C, OH, OW)).copy()
    best = np.full((N, C, OH, OW), -np.inf, win.dtype)
    for k in range(PH * PW):
        w = win[..., k // PW, k % PW]                                # (N, C, OH, OW)
        better = real[..., k // PW, k % PW] & ((w > best) | np.isnan(w))
        best[better] = w[better]
        arg[better] = k
    return arg


def window_max_backward(dout, arg, x_shape, pool, stride, pad, owner=None):
    """Max-pooling input gradient: each dout (N, C, OH, OW) goes to the window position
    ``arg`` (from :func:`window_max`) of its window; overlapping windows add up. Returns
    (N, C, H, W). ``pool``, ``stride``, ``pad``: (h, w) pairs.

    Plain version: ``dwin = zeros((N, C, OH, OW, PH*PW))``, put dout at ``arg`` along the last
    axis, then ``convlab.im2col.fold`` it back onto the image. Here, when windows do not
    overlap, one pass per window offset k writes ``dout * (arg == k)`` straight into the
    strided (N, C, OH, OW) view of the padded gradient: each pixel is written once, so no adding
    (and, when the windows tile the padded input, no zero-filling) is needed. When they overlap
    (AlexNet's 3x3 windows 2 apart) the adds are one ``np.bincount`` over the flat index of each
    winner (:func:`_scatter_max_gradient`), about 2.3x faster than PH*PW strided passes.
    """
    (PH, PW), (S0, S1), (P0, P1) = pool, stride, pad
    N, C, OH, OW = dout.shape
    _, _, H, W = x_shape
    dx = empty(owner, "dx", (N, C, H + 2 * P0, W + 2 * P1), dout.dtype)  # padded (N, C, H', W')
    if S0 < PH or S1 < PW:                                           # windows share pixels
        _scatter_max_gradient(dout, arg, pool, stride, dx, owner)
        return dx[:, :, P0:P0 + H, P1:P1 + W]
    if (S0, S1, S0 * OH, S1 * OW) != (PH, PW, H + 2 * P0, W + 2 * P1):
        dx[...] = 0                                                  # unless windows tile dx
    won = empty(owner, "won", (N, C, OH, OW), bool)
    for k in range(PH * PW):
        i, j = divmod(k, PW)
        target = dx[:, :, i:i + S0 * OH:S0, j:j + S1 * OW:S1]        # (N, C, OH, OW) view
        np.multiply(dout, np.equal(arg, k, out=won), out=target)
    return dx[:, :, P0:P0 + H, P1:P1 + W]                            # (N, C, H, W)


def _scatter_max_gradient(dout, arg, pool, stride, dx, owner=None):
    """dx (N, C, H', W'), the padded gradient, = the sum of each dout at its winner's pixel:
    the winner of window (n, c, oy, ox) is flat pixel ((n*C + c)*H' + oy*sy + i)*W' + ox*sx + j
    for arg = i*PW + j; ``np.bincount`` adds the douts landing on each pixel (in float64, then
    rounded once to dx's dtype: within a rounding of the plain float32 adds)."""
    (PH, PW), (S0, S1) = pool, stride
    N, C, OH, OW = dout.shape
    _, _, Hp, Wp = dx.shape
    offsets = (np.arange(PH)[:, None] * Wp + np.arange(PW)).ravel()   # (PH*PW,): i*W' + j
    idx = np.take(offsets, arg, out=empty(owner, "winner", arg.shape, np.intp))
    idx += (np.arange(N * C) * (Hp * Wp)).reshape(N, C, 1, 1)        # the image's first pixel
    idx += (np.arange(OH) * (S0 * Wp))[:, None] + np.arange(OW) * S1  # the window's corner
    sums = np.bincount(idx.ravel(), weights=dout.ravel(), minlength=dx.size)  # float64
    np.copyto(dx.reshape(-1), sums)
    return dx


def window_mean(win, owner=None):
    """Mean of every window: (N, C, OH, OW) from the windows ``win`` (N, C, OH, OW, PH, PW) (a
    strided view, see ``convlab.im2col.windows``).

    Plain version: ``win.mean(axis=(4, 5))``, which reduces along two short strided axes; here a
    running sum over the PH*PW window offsets adds whole (N, C, OH, OW) views, then one divide.
    """
    N, C, OH, OW, PH, PW = win.shape
    out = empty(owner, "mean", (N, C, OH, OW), win.dtype)
    np.copyto(out, win[..., 0, 0])
    for k in range(1, PH * PW):
        out += win[..., k // PW, k % PW]                             # (N, C, OH, OW) view
    out /= PH * PW
    return out


def window_mean_backward(dout, x_shape, pool, stride, pad, owner=None):
    """Average-pooling input gradient: every cell of a window gets dout / (PH*PW); overlapping
    windows add up. Returns (N, C, H, W). ``pool``, ``stride``, ``pad``: (h, w) pairs.

    Plain version: ``convlab.im2col.fold`` of ``dout / (PH*PW)`` broadcast to every window
    cell. Here each window offset writes (or, when windows overlap, adds) the share straight
    into the strided (N, C, OH, OW) view of the padded gradient, as ``window_max_backward``.
    """
    (PH, PW), (S0, S1), (P0, P1) = pool, stride, pad
    N, C, OH, OW = dout.shape
    _, _, H, W = x_shape
    share = np.divide(dout, PH * PW, out=empty(owner, "share", dout.shape, dout.dtype))
    dx = empty(owner, "dx", (N, C, H + 2 * P0, W + 2 * P1), dout.dtype)  # padded (N, C, H', W')
    overlap = S0 < PH or S1 < PW
    if overlap or (S0, S1, S0 * OH, S1 * OW) != (PH, PW, H + 2 * P0, W + 2 * P1):
        dx[...] = 0                                                  # unless windows tile dx
    for k in range(PH * PW):
        i, j = divmod(k, PW)
        target = dx[:, :, i:i + S0 * OH:S0, j:j + S1 * OW:S1]        # (N, C, OH, OW) view
        if overlap:
            target += share
        else:
            np.copyto(target, share)
    return dx[:, :, P0:P0 + H, P1:P1 + W]                            # (N, C, H, W)


def sigmoid(x, owner=None):
    """1 / (1 + exp(-x)) in x's dtype, never overflowing. Plain version (``layers.Sigmoid``):
    ``np.exp(-np.logaddexp(0, -x))``; ``logaddexp`` is many times slower than ``exp``. Here
    e = exp(-|x|) (at most 1), then 1 / (1 + e) where x >= 0 and e / (1 + e) where x < 0, as
    ``max(e, x >= 0) / (1 + e)``: the max is 1 where x >= 0 and e where x < 0 (NaN stays NaN),
    with no select (``np.copyto(where=)`` costs 5x the whole kernel here). All in reused arrays.
    The same numbers to a few units of rounding (closer to the exact sigmoid than the plain
    version for large |x|, whose logaddexp rounds before the exp)."""
    e = np.abs(x, out=empty(owner, "e", x.shape, x.dtype))
    np.negative(e, out=e)
    np.exp(e, out=e)                                                 # exp(-|x|), in (0, 1]
    out = np.add(e, 1, out=empty(owner, "out", x.shape, x.dtype))
    np.divide(1, out, out=out)                                       # 1 / (1 + e)
    ge = np.greater_equal(x, 0, out=empty(owner, "nonnegative", x.shape, bool))
    np.maximum(e, ge, out=e)                                         # 1 where x >= 0, else e
    return np.multiply(e, out, out=out)


def sigmoid_in_place(x, negated=False):
    """x = 1 / (1 + exp(-x)), in x's own array (returned): four passes, for a conv output that
    is not needed afterwards (``fast.blocks``); three where x holds -x already (``negated``:
    a GEMM with negated weights gives exactly -x). Plain version (``layers.Sigmoid``):
    ``np.exp(-np.logaddexp(0, -x))``. Where exp(-x) overflows (x < -88 in float32) the result
    is 1 / inf = 0, the exact value rounded to 0 instead of to a subnormal number (below 3e-39):
    the overflow (and the underflows on the way) is expected and not reported. NaN stays NaN."""
    with np.errstate(over="ignore", under="ignore"):
        if not negated:
            np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1
        return np.divide(1, x, out=x)


def channel_window_sum(a, lo, hi, out):
    """``out[:, c] = a[:, c - lo] + ... + a[:, c + hi]`` (indices outside [0, C) left out) for
    a (N, C, ...); returns out (a's shape, not a itself).

    Plain version (``layers.LRN._window_sum``): a cumulative sum over the channels and the
    difference of two gathered copies of it. Here lo + hi + 1 shifted slices are added, the
    window being short (n = 5 in AlexNet): no gather copies, and no cancellation between two
    large partial sums.
    """
    C = a.shape[1]
    if lo >= 1 and C > 1:                        # the copy and the first add in one pass
        np.copyto(out[:, :1], a[:, :1])
        np.add(a[:, 1:], a[:, :C - 1], out=out[:, 1:])
    else:
        np.copyto(out, a)
    for k in range(2, min(lo, C - 1) + 1):
        out[:, k:] += a[:, :C - k]                                   # the channel k below
    for k in range(1, min(hi, C - 1) + 1):
        out[:, :C - k] += a[:, k:]                                   # the channel k above
    return out


def inverse_power(s, beta, owner=None):
    """``s ** -beta`` for s > 0. For beta = 0.75 (AlexNet's LRN) as 1 / (sqrt(s) * sqrt(sqrt(s))):
    a few roundings from the plain ``np.power(s, -beta)`` and faster; otherwise that."""
    out = empty(owner, "power", s.shape, s.dtype)
    if beta != 0.75:
        return np.power(s, -beta, out=out)
    np.sqrt(s, out=out)                                              # s ** 0.5
    root4 = np.sqrt(out, out=empty(owner, "root4", s.shape, s.dtype))  # s ** 0.25
    np.multiply(out, root4, out=out)                                 # s ** 0.75
    return np.divide(1, out, out=out)


def padded_flat(x, pad, tail, owner=None):
    """x (N, C, H, W) padded with zeros by ``pad`` (an (h, w) pair) and laid out filters first,
    all images end to end: (C, N*H'*W' + tail), the last ``tail`` numbers 0. Plain version:
    ``np.pad(x, ...).transpose(1, 0, 2, 3).reshape(C, -1)`` and ``tail`` zeros appended."""
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad[0], W + 2 * pad[1]
    M = N * Hp * Wp
    xp = empty(owner, "x_flat", (C, M + tail), x.dtype)
    img = xp[:, :M].reshape(C, N, Hp, Wp)
    img[:, :, :pad[0]] = 0
    img[:, :, pad[0] + H:] = 0
    img[:, :, :, :pad[1]] = 0
    img[:, :, :, pad[1] + W:] = 0
    xp[:, M:] = 0
    np.copyto(img[:, :, pad[0]:pad[0] + H, pad[1]:pad[1] + W], x.transpose(1, 0, 2, 3))
    return xp


def flat_col(xp, lo, hi, FH, FW, Wp, dilation, out):
    """Rows 0..C*FH*FW-1 of ``out`` (C*FH*FW [+ more], hi - lo) = the wide column matrix of
    columns lo..hi-1 of the padded flat images ``xp`` (C, N*H'*W' + tail) (:func:`padded_flat`):
    column q, row (c, i, j) holds xp[c, q + i*dy*W' + j*dx], the input that kernel offset (i, j)
    of a stride-1 window with its corner at flat pixel q reads. FH*FW contiguous copies.

    Plain version: ``im2col_transposed`` of the padded images with pad 0, but with one column per
    padded pixel (n, y, x) instead of per output pixel: columns with y >= OH or x >= OW stand for
    no output pixel and hold whatever their shifted reads find (finite numbers of the input)."""
    C = xp.shape[0]
    rows = out[:C * FH * FW].reshape(C, FH, FW, hi - lo)
    for i in range(FH):
        for j in range(FW):
            s = i * dilation[0] * Wp + j * dilation[1]
            np.copyto(rows[:, i, j], xp[:, lo + s:hi + s])
    return out


def conv_chunks(N, per_image, K, itemsize, budget=None):
    """Images (or output rows) per chunk of the chunked convolutions: as many as keep a chunk's
    column matrix (K rows, ``per_image`` columns each) within ``budget`` bytes, at least 1, at
    most N. ``budget`` None: ``CHUNK_BYTES``, and all N at once when the whole matrix takes at
    most ``WHOLE_BYTES``."""
    if budget is None:
        if N * per_image * K * itemsize <= WHOLE_BYTES:
            return N
        budget = CHUNK_BYTES
    return max(1, min(N, budget // max(1, K * per_image * itemsize)))


CHUNK_BYTES = 2 << 20
"""Bytes of column matrix per chunk in :func:`conv_forward_flat`, :func:`conv_forward_images_last`
and their backward passes: measured on the deep net's and AlexNet's layers, one thread, batch
100 (1-2 MB best; 4 MB up to 10% slower; the deep net's whole 45 MB matrix at once about 1.4x
slower: it lives in memory, not in the cache)."""

WHOLE_BYTES = 7 << 20
"""A column matrix of at most this many bytes is built once, whole, and kept for the backward
pass instead of being built again chunk by chunk: LeNet's second convolution (6 MB, 25 kernel
offsets to copy) was 5% slower forward+backward in 2 MB chunks than whole."""


def conv_forward_flat(x, Wb, FH, FW, pad, dilation, owner=None, chunk=None):
    """A stride-1 convolution, a chunk of images at a time: x (N, C, H, W), Wb = [W | b]
    (FN, C*FH*FW + 1) -> (out (N, FN, OH, OW), kept for the backward: (the padded flat images,
    the column array)).

    Plain version: ``(Wb @ [im2col_transposed(x); ones]).reshape(FN, N, OH, OW)`` with N moved
    first. Here each chunk's wide column matrix (:func:`flat_col`, a row of ones last) is built
    in a reused array that stays in the cache, multiplied right away, and the columns that are
    output pixels copied out; the whole column matrix never exists."""
    N, C, H, W = x.shape
    FN, K1 = Wb.shape
    Hp, Wp = H + 2 * pad[0], W + 2 * pad[1]
    OH, OW = Hp - dilation[0] * (FH - 1), Wp - dilation[1] * (FW - 1)
    tail = dilation[0] * (FH - 1) * Wp + dilation[1] * (FW - 1)      # the largest shift
    xp = padded_flat(x, pad, tail, owner)
    n = conv_chunks(N, Hp * Wp, K1, x.dtype.itemsize, chunk)
    col = empty(owner, "col_chunk", (K1, n * Hp * Wp), x.dtype)
    col[K1 - 1] = 1                                                  # the bias's input
    prod = empty(owner, "prod_chunk", (FN, n * Hp * Wp), x.dtype)
    out = empty(owner, "out", (N, FN, OH, OW), x.dtype)
    for a in range(0, N, n):
        b = min(N, a + n)
        L = (b - a) * Hp * Wp
        flat_col(xp, a * Hp * Wp, b * Hp * Wp, FH, FW, Wp, dilation, col[:, :L])
        p = np.matmul(Wb, col[:, :L], out=prod[:, :L])                 # (FN, n*H'*W')
        np.copyto(out[a:b], p.reshape(FN, b - a, Hp, Wp)[:, :, :OH, :OW].transpose(1, 0, 2, 3))
    return out, (xp, col)


def conv_backward_flat(dout, kept, W, x_shape, pad, dilation, need_dx=True, owner=None,
                       chunk=None):
    """Gradients of :func:`conv_forward_flat` from dout (N, FN, OH, OW) and what it kept, its
    padded flat images and its column array: (dWbT (C*FH*FW + 1, FN) = [dW | db].T,
    dx (N, C, H, W) or None).

    Plain version: d = dout with filters first (FN, N*OH*OW); ``dWbT = [col; ones] @ d.T`` and
    ``dx = col2im_transposed(W.reshape(FN, -1).T @ d, ...)``. Here, a chunk of images at a
    time: d laid out as whole padded images with zeros where no output pixel is (so the wide
    columns that stand for none add nothing), the chunk's columns built again from the padded
    images (cheaper than keeping the whole matrix; not when one chunk took all), dWbT summed
    over the chunks, and the chunk's input gradient folded as :func:`fold_flat` does, in
    cache."""
    N, FN, OH, OW = dout.shape
    _, C, FH, FW = W.shape
    _, _, H, W_ = x_shape
    K = C * FH * FW
    Hp, Wp = H + 2 * pad[0], W_ + 2 * pad[1]
    tail = dilation[0] * (FH - 1) * Wp + dilation[1] * (FW - 1)
    n = conv_chunks(N, Hp * Wp, K + 1, dout.dtype.itemsize, chunk)
    xp, col = kept                                                   # one chunk: col is built
    dpad = empty(owner, "dpad_chunk", (FN, n, Hp, Wp), dout.dtype)   # zeros outside the outputs
    dpad[:, :, OH:] = 0
    dpad[:, :, :OH, OW:] = 0
    dWbT, part = np.empty((K + 1, FN), dout.dtype), np.empty((K + 1, FN), dout.dtype)
    if need_dx:
        Wmat = W.reshape(FN, K).T.astype(dout.dtype, copy=False)     # (C*FH*FW, FN)
        dcol = empty(owner, "dcol_chunk", (K, n * Hp * Wp), dout.dtype)
        flat = empty(owner, "flat_chunk", (C, n * Hp * Wp + tail), dout.dtype)
        dx = empty(owner, "dx", x_shape, dout.dtype)
    for a in range(0, N, n):
        b = min(N, a + n)
        L = (b - a) * Hp * Wp
        np.copyto(dpad[:, :b - a, :OH, :OW], dout[a:b].transpose(1, 0, 2, 3))
        d = dpad[:, :b - a].reshape(FN, L)                           # (FN, n*H'*W')
        if n < N:
            flat_col(xp, a * Hp * Wp, b * Hp * Wp, FH, FW, Wp, dilation, col[:, :L])
        if a == 0:                                                   # the first chunk's sum
            np.matmul(col[:, :L], d.T, out=dWbT)
        else:
            dWbT += np.matmul(col[:, :L], d.T, out=part)
        if need_dx:
            dc = np.matmul(Wmat, d, out=dcol[:, :L]).reshape(C, FH, FW, L)
            f = flat[:, :L + tail]
            f[...] = 0
            for i in range(FH):
                for j in range(FW):
                    s = i * dilation[0] * Wp + j * dilation[1]
                    f[:, s:s + L] += dc[:, i, j]
            img = f[:, :L].reshape(C, b - a, Hp, Wp)[:, :, pad[0]:pad[0] + H, pad[1]:pad[1] + W_]
            np.copyto(dx[a:b], img.transpose(1, 0, 2, 3))
    return dWbT, (dx if need_dx else None)


def _rows_view(a, i, j, y0, y1, OW, stride, dilation):
    """The (C, y1 - y0, OW, N) view of images-last ``a`` (C, H', W', N) that kernel offset
    (i, j) reads for output rows y0..y1-1: rows i*dy + sy*y0, ... sy apart, columns j*dx, j*dx
    + sx, ..."""
    (S0, S1), (D0, D1) = stride, dilation
    top = i * D0 + S0 * y0
    return a[:, top:top + S0 * (y1 - y0 - 1) + 1:S0, j * D1:j * D1 + S1 * (OW - 1) + 1:S1]


def conv_forward_images_last(x, Wb, FH, FW, stride, pad, dilation, owner=None, chunk=None):
    """The images-last convolution a few output rows at a time: x (N, C, H, W), Wb = [W | b]
    (FN, C*FH*FW + 1) -> (out (N, FN, OH, OW), kept for the backward: (the padded images-last
    input (C, H', W', N), the column array)).

    Plain version: ``Wb @ [im2col_transposed(x, ...); ones]`` with N moved first. Here the
    columns are in (oy, ox, n) order, images last: with the padded input laid out (C, H', W', N)
    once, each kernel offset's block is one copy in runs of OW*N (stride 1) or N numbers
    instead of OW (6 for AlexNet's last convolutions). And the column matrix of a few output
    rows (``conv_chunks``; ``chunk``: a byte budget instead of ``CHUNK_BYTES``) is built in a
    reused array that stays in the cache and multiplied right away into its columns of the
    product."""
    N, C, H, W = x.shape
    FN, K1 = Wb.shape
    (P0, P1) = pad
    OH = (H + 2 * P0 - dilation[0] * (FH - 1) - 1) // stride[0] + 1
    OW = (W + 2 * P1 - dilation[1] * (FW - 1) - 1) // stride[1] + 1
    xt = _padded_images_last(x.shape, pad, x.dtype, owner, "x_images_last")
    np.copyto(xt[:, P0:P0 + H, P1:P1 + W], x.transpose(1, 2, 3, 0))   # (C, H, W, N)
    r = conv_chunks(OH, OW * N, K1, x.dtype.itemsize, chunk)          # output rows per chunk
    col = empty(owner, "col_chunk", (K1, r * OW * N), x.dtype)
    col[K1 - 1] = 1                                                  # the bias's input
    prod = empty(owner, "filters_first", (FN, OH * OW * N), x.dtype)  # columns (oy, ox, n)
    for y0 in range(0, OH, r):
        y1 = min(OH, y0 + r)
        lo, hi = y0 * OW * N, y1 * OW * N
        blocks = col[:K1 - 1, :hi - lo].reshape(C, FH, FW, y1 - y0, OW, N)
        for i in range(FH):
            for j in range(FW):
                np.copyto(blocks[:, i, j], _rows_view(xt, i, j, y0, y1, OW, stride, dilation))
        np.matmul(Wb, col[:, :hi - lo], out=prod[:, lo:hi])
    out = empty(owner, "out", (N, FN, OH, OW), x.dtype)
    np.copyto(out, prod.reshape(FN, OH, OW, N).transpose(3, 0, 1, 2))
    return out, (xt, col)


def conv_backward_images_last(dout, kept, W, x_shape, stride, pad, dilation, need_dx=True,
                              owner=None, chunk=None):
    """Gradients of :func:`conv_forward_images_last` from dout (N, FN, OH, OW) and what it kept,
    its padded images-last input and its column array: (dWbT (C*FH*FW + 1, FN) = [dW | db].T,
    dx (N, C, H, W) or None).

    Plain version: d = dout as (FN, OH*OW*N); ``dWbT = [col; ones] @ d.T`` and ``dx =
    col2im_transposed`` of ``W.reshape(FN, -1).T @ d`` with its columns put back in (n, oy, ox)
    order. Here a few output rows at a time: their columns built again from the padded input
    (not when one chunk took all), dWbT summed over the chunks, their part of the input
    gradient added onto the padded images-last gradient right away (runs of OW*N or N
    numbers), then one copy puts N first."""
    N, FN, OH, OW = dout.shape
    _, C, FH, FW = W.shape
    _, _, H, W_ = x_shape
    (P0, P1) = pad
    K = C * FH * FW
    d = empty(owner, "filters_first", (FN, OH * OW * N), dout.dtype)  # columns (oy, ox, n)
    np.copyto(d.reshape(FN, OH, OW, N), dout.transpose(1, 2, 3, 0))
    r = conv_chunks(OH, OW * N, K + 1, dout.dtype.itemsize, chunk)
    xt, col = kept                                                   # one chunk: col is built
    dWbT, part = np.empty((K + 1, FN), dout.dtype), np.empty((K + 1, FN), dout.dtype)
    if need_dx:
        Wmat = W.reshape(FN, K).T.astype(dout.dtype, copy=False)     # (C*FH*FW, FN)
        dcol = empty(owner, "dcol_chunk", (K, r * OW * N), dout.dtype)
        dxt = empty(owner, "dx_images_last", (C, H + 2 * P0, W_ + 2 * P1, N), dout.dtype)
        dxt[...] = 0
    for y0 in range(0, OH, r):
        y1 = min(OH, y0 + r)
        lo, hi = y0 * OW * N, y1 * OW * N
        if r < OH:
            blocks = col[:K, :hi - lo].reshape(C, FH, FW, y1 - y0, OW, N)
            for i in range(FH):
                for j in range(FW):
                    np.copyto(blocks[:, i, j], _rows_view(xt, i, j, y0, y1, OW, stride, dilation))
        if y0 == 0:                                                  # the first chunk's sum
            np.matmul(col[:, :hi - lo], d[:, lo:hi].T, out=dWbT)
        else:
            dWbT += np.matmul(col[:, :hi - lo], d[:, lo:hi].T, out=part)
        if need_dx:
            dc = np.matmul(Wmat, d[:, lo:hi], out=dcol[:, :hi - lo])
            dblocks = dc.reshape(C, FH, FW, y1 - y0, OW, N)
            for i in range(FH):
                for j in range(FW):
                    _rows_view(dxt, i, j, y0, y1, OW, stride, dilation)[...] += dblocks[:, i, j]
    if not need_dx:
        return dWbT, None
    dx = empty(owner, "dx", x_shape, dout.dtype)
    np.copyto(dx, dxt[:, P0:P0 + H, P1:P1 + W_].transpose(3, 0, 1, 2))  # (N, C, H, W)
    return dWbT, dx
