"""im2col and col2im: turn convolution into one matrix product, and back.

Taught in ``notebooks/04_im2col.ipynb``.

``im2col`` copies every FH x FW window of a padded (N, C, H, W) batch into one row of a 2-D
matrix with the book's layout (N*OH*OW, C*FH*FW). ``col2im`` is its adjoint (transpose), not its
inverse: it adds each row back onto the window it came from, so a pixel covered by k windows
receives k contributions. That is exactly what the backward pass of a convolution needs.

Both keep the input's dtype (float32 in, float32 out). The loop-free ``im2col`` uses
``numpy.lib.stride_tricks.sliding_window_view``; ``col2im`` loops only over the FH*FW kernel
offsets (at most 25 for a 5x5 filter), each step a vectorised add over all N, C, OH, OW.
``im2col_loops`` / ``col2im_loops`` are plain loop versions for teaching and tests.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .arith import conv_output_size, pair

__all__ = ["im2col", "col2im", "im2col_transposed", "col2im_transposed", "col2im_wide", "windows",
           "fold", "im2col_loops", "col2im_loops", "window_geometry"]


def window_geometry(input_shape, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """Validate a 4-D input shape and window settings; return (N, C, H, W, OH, OW, S, P, D) pairs.

    S, P, D come back as (h, w) pairs. Raises ValueError naming the offending argument.
    """
    if len(input_shape) != 4:
        raise ValueError(f"input_data must be 4-D (N, C, H, W), got shape {tuple(input_shape)} "
                         f"with {len(input_shape)} dimension(s)")
    N, C, H, W = input_shape
    S, P, D = pair("stride", stride, 1), pair("pad", pad, 0), pair("dilation", dilation, 1)
    OH = conv_output_size(H, filter_h, S[0], P[0], D[0])
    OW = conv_output_size(W, filter_w, S[1], P[1], D[1])
    return N, C, H, W, OH, OW, S, P, D


def _pad(x, P, value=0.0):
    if P == (0, 0):
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * P[0], W + 2 * P[1]), value, dtype=x.dtype)  # (N, C, H', W')
    xp[:, :, P[0]:P[0] + H, P[1]:P[1] + W] = x                  # about 2x faster than np.pad
    return xp


def _check_col(col, layout, expected, input_shape):
    """col as an array; ValueError naming ``col``, its expected ``layout`` and shape otherwise."""
    col = np.asarray(col)
    if col.shape != expected:
        raise ValueError(f"col must have shape {layout} = {expected} for input_shape "
                         f"{tuple(input_shape)}, got {col.shape}")
    return col


def windows(input_data, filter_h, filter_w, stride=1, pad=0, dilation=1, pad_value=0.0):
    """A read-only strided *view* of every window: shape (N, C, OH, OW, FH, FW), no copy."""
    x = np.asarray(input_data)
    N, C, H, W, OH, OW, S, P, D = window_geometry(x.shape, filter_h, filter_w, stride, pad, dilation)
    xp = _pad(x, P, pad_value)                                        # (N, C, H+2P, W+2P)
    eh, ew = D[0] * (filter_h - 1) + 1, D[1] * (filter_w - 1) + 1     # window extent
    v = sliding_window_view(xp, (eh, ew), axis=(2, 3))                # (N, C, H', W', eh, ew)
    return v[:, :, :S[0] * (OH - 1) + 1:S[0], :S[1] * (OW - 1) + 1:S[1], ::D[0], ::D[1]]


def im2col(input_data, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """(N, C, H, W) -> (N*OH*OW, C*FH*FW): one row per output position, one column per weight.

    ``stride``, ``pad`` and ``dilation`` are ints or (h, w) pairs.

    >>> im2col(np.zeros((10, 3, 7, 7)), 5, 5).shape
    (90, 75)
    """
    v = windows(input_data, filter_h, filter_w, stride, pad, dilation)  # (N, C, OH, OW, FH, FW)
    N, C, OH, OW = v.shape[:4]
    col = v.transpose(0, 2, 3, 1, 4, 5)                                 # (N, OH, OW, C, FH, FW)
    return col.reshape(N * OH * OW, C * filter_h * filter_w)            # copies once


def fold(win, input_shape, stride=1, pad=0, dilation=1):
    """Adjoint of ``windows``: add each window (N, C, OH, OW, FH, FW) back onto an (N, C, H, W) image.

    Loops over the FH*FW kernel offsets only; each step is one vectorised add over N, C, OH, OW.
    Values that land in the padding are dropped.
    """
    win = np.asarray(win)
    if win.ndim != 6:
        raise ValueError(f"win must be 6-D (N, C, OH, OW, FH, FW), got shape {win.shape}")
    FH, FW = win.shape[4:]
    N, C, H, W, OH, OW, S, P, D = window_geometry(tuple(input_shape), FH, FW, stride, pad, dilation)
    if win.shape[:4] != (N, C, OH, OW):
        raise ValueError(f"win must have shape (N, C, OH, OW, FH, FW) = {(N, C, OH, OW, FH, FW)} "
                         f"for input_shape {tuple(input_shape)}, got {win.shape}")
    img = np.zeros((N, C, H + 2 * P[0], W + 2 * P[1]), dtype=win.dtype)
    for i in range(FH):                                           # loop over kernel offsets only
        y0 = i * D[0]
        for j in range(FW):
            x0 = j * D[1]
            img[:, :, y0:y0 + S[0] * OH:S[0], x0:x0 + S[1] * OW:S[1]] += win[:, :, :, :, i, j]
    return img[:, :, P[0]:P[0] + H, P[1]:P[1] + W]


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """Adjoint of ``im2col``: (N*OH*OW, C*FH*FW) -> (N, C, H, W), summing overlapping windows.

    ``<im2col(x), c> == <x, col2im(c)>`` for every x and c. Not an inverse: a pixel covered by k
    windows comes back multiplied by k.
    """
    N, C, H, W, OH, OW, S, P, D = window_geometry(tuple(input_shape), filter_h, filter_w,
                                                  stride, pad, dilation)
    col = _check_col(col, "(N*OH*OW, C*FH*FW)", (N * OH * OW, C * filter_h * filter_w), input_shape)
    win = col.reshape(N, OH, OW, C, filter_h, filter_w).transpose(0, 3, 1, 2, 4, 5)
    #                                                             # (N, C, OH, OW, FH, FW)
    return fold(win, input_shape, stride, pad, dilation)


def im2col_transposed(input_data, filter_h, filter_w, stride=1, pad=0, dilation=1, out=None):
    """The same numbers as ``im2col(x).T``, built directly: (C*FH*FW, N*OH*OW), contiguous.
    ``out``: optionally a contiguous array of that shape to write into (returned).

    This is the layout the ``Convolution`` layer uses (taught in ``notebooks/04_im2col.ipynb``).
    Two reasons: each copy moves a whole output row of OW neighbouring pixels (the book's layout
    moves FW pixels at a time, five for a 5x5 filter, which is several times slower), and
    ``W.reshape(FN, -1) @ col`` is a single GEMM whose result (FN, N*OH*OW) is only one cheap
    transpose of contiguous OH*OW blocks away from the (N, FN, OH, OW) output.

    >>> x = np.arange(2 * 3 * 5 * 5.).reshape(2, 3, 5, 5)
    >>> np.array_equal(im2col_transposed(x, 3, 3), im2col(x, 3, 3).T)
    True
    """
    v = windows(input_data, filter_h, filter_w, stride, pad, dilation)  # (N, C, OH, OW, FH, FW)
    N, C, OH, OW = v.shape[:4]
    col = v.transpose(1, 4, 5, 0, 2, 3)                                 # (C, FH, FW, N, OH, OW)
    if out is None:
        return col.reshape(C * filter_h * filter_w, N * OH * OW)        # copies once
    np.copyto(out.reshape(col.shape), col)                              # copies once, into out
    return out


def col2im_transposed(col, input_shape, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """Adjoint of ``im2col_transposed``: (C*FH*FW, N*OH*OW) -> (N, C, H, W); equals
    ``col2im(col.T, ...)``."""
    N, C, H, W, OH, OW, S, P, D = window_geometry(tuple(input_shape), filter_h, filter_w,
                                                  stride, pad, dilation)
    col = _check_col(col, "(C*FH*FW, N*OH*OW)", (C * filter_h * filter_w, N * OH * OW), input_shape)
    win = col.reshape(C, filter_h, filter_w, N, OH, OW).transpose(0, 3, 4, 5, 1, 2)
    #                                                             # (C, N, OH, OW, FH, FW) view
    # Fold in col's own (C, N) order, so each add reads col straight through (C plays the
    # batch, N the channels), then put N first with one copy: faster than folding into NCHW.
    img = fold(win, (C, N, H, W), stride, pad, dilation)          # (C, N, H, W)
    return np.ascontiguousarray(img.transpose(1, 0, 2, 3))        # (N, C, H, W)


def col2im_wide(col, input_shape, filter_h, filter_w, pad=0, dilation=1):
    """``col2im_transposed`` for stride 1, from a "wide" column matrix: (C*FH*FW, N*OH*W') with
    every output row stretched to the padded input width W' = W + 2*pad by W' - OW zeros.

    Why: with stride 1, kernel offset (i, j) of output pixel (oy, ox) is padded-input pixel
    (oy + i, ox + j). Flatten each padded image to one row of H'*W' numbers and that pixel sits
    at (oy*W' + ox) + (i*W' + j): the same shift s = i*W' + j for every output pixel. So if the
    output rows are W' long too, a whole (OH, W') block of col lands on ONE contiguous slice
    ``flat[s : s + OH*W']``; the fold is FH*FW long, contiguous adds (the plain fold adds rows
    only OW long, which costs several times more for small images). The price: W' - OW extra
    entries per row, which must be zero because the shift puts them onto neighbouring pixels.
    ``Convolution.backward`` gets this layout for free by padding its output gradient with zeros
    before the GEMM. (Dilation d makes the shift i*d*W' + j*d; the argument is the same.)
    """
    N, C, H, W, OH, OW, S, P, D = window_geometry(tuple(input_shape), filter_h, filter_w, 1,
                                                  pad, dilation)
    Hp, Wp = H + 2 * P[0], W + 2 * P[1]
    col = _check_col(col, "(C*FH*FW, N*OH*W')", (C * filter_h * filter_w, N * OH * Wp), input_shape)
    col = col.reshape(C, filter_h, filter_w, N, OH * Wp)                 # (C, FH, FW, N, OH*W')
    # one flat padded image per (c, n), plus room for the last offset's zero tail
    flat = np.zeros((C, N, Hp * Wp + D[1] * (filter_w - 1)), dtype=col.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            s = i * D[0] * Wp + j * D[1]                                  # the shift of offset (i, j)
            flat[:, :, s:s + OH * Wp] += col[:, i, j]                     # (C, N, OH*W') contiguous
    img = flat[:, :, :Hp * Wp].reshape(C, N, Hp, Wp)[:, :, P[0]:P[0] + H, P[1]:P[1] + W]
    return np.ascontiguousarray(img.transpose(1, 0, 2, 3))               # (N, C, H, W)


# ----------------------------------------------------------------------------------------------
# Reference versions: one Python loop per output position. Slow, obvious, used by tests/lessons.

def im2col_loops(input_data, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """Loop-per-window reference for ``im2col`` (same result, far slower)."""
    x = np.asarray(input_data)
    N, C, H, W, OH, OW, S, P, D = window_geometry(x.shape, filter_h, filter_w, stride, pad, dilation)
    xp = _pad(x, P)
    col = np.empty((N, OH, OW, C, filter_h, filter_w), dtype=x.dtype)
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                y, xx = oy * S[0], ox * S[1]
                col[n, oy, ox] = xp[n, :, y:y + D[0] * (filter_h - 1) + 1:D[0],
                                    xx:xx + D[1] * (filter_w - 1) + 1:D[1]]
    return col.reshape(N * OH * OW, -1)


def col2im_loops(col, input_shape, filter_h, filter_w, stride=1, pad=0, dilation=1):
    """Loop-per-window reference for ``col2im``."""
    N, C, H, W, OH, OW, S, P, D = window_geometry(tuple(input_shape), filter_h, filter_w,
                                                  stride, pad, dilation)
    c = np.asarray(col).reshape(N, OH, OW, C, filter_h, filter_w)
    img = np.zeros((N, C, H + 2 * P[0], W + 2 * P[1]), dtype=c.dtype)
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                y, xx = oy * S[0], ox * S[1]
                img[n, :, y:y + D[0] * (filter_h - 1) + 1:D[0],
                    xx:xx + D[1] * (filter_w - 1) + 1:D[1]] += c[n, oy, ox]
    return img[:, :, P[0]:P[0] + H, P[1]:P[1] + W]
