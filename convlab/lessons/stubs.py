"""The stub cells of the implement-it exercises: what the learner starts from.

Each is the exercise function's signature, a docstring naming every shape, and a body that
raises ``NotImplementedError`` (its check then reads "not written yet"). The notebooks show these
texts exactly (tests compare them); the checks live in the lesson modules, their shared
machinery in ``convlab.lessons.implement``, the worked solutions in ``convlab.lessons.solutions``.
"""
from __future__ import annotations

__all__ = ["STUBS", "NAMES", "LAYER_STUBS", "LAYER_NAMES"]

STUBS = {
    "conv2d_naive": '''def conv2d_naive(x, W, b, stride=1, pad=0):
    """Convolution forward, written with loops (the layer computes cross-correlation: no flip).

    x: (N, C, H, W)        N images, C channels, H x W pixels
    W: (FN, C, FH, FW)     FN filters, each spanning all C channels, FH x FW
    b: (FN,)               one bias per filter
    stride, pad: ints, the same for both axes; pad adds `pad` zeros on EVERY side.
    Returns out: (N, FN, OH, OW), with OH = (H + 2*pad - FH) // stride + 1
                                 and OW = (W + 2*pad - FW) // stride + 1.

    out[n, f, oy, ox] = sum over c, i, j of xp[n, c, oy*stride + i, ox*stride + j] * W[f, c, i, j]
                        + b[f],      where xp is x padded with zeros.
    Keep x's dtype (float64) and do not modify x.
    """
    raise NotImplementedError''',

    "max_pool_naive": '''def max_pool_naive(x, pool_h, pool_w, stride=1, pad=0):
    """Max pooling forward, written with loops.

    x: (N, C, H, W);  pool_h x pool_w windows;  stride, pad: ints, the same for both axes.
    Returns out: (N, C, OH, OW), with OH = (H + 2*pad - pool_h) // stride + 1
                                and OW = (W + 2*pad - pool_w) // stride + 1.

    out[n, c, oy, ox] = max over i, j of xp[n, c, oy*stride + i, ox*stride + j]
    Each channel is pooled on its own (C stays C). Windows overlap when stride < window.
    Padding: xp is x padded with -inf (as convlab's Pooling does), so padding never wins,
    not even over negative numbers. pad is at most half the window (pool_h // 2, pool_w // 2).
    Keep x's dtype (float64) and do not modify x.
    """
    raise NotImplementedError''',

    "im2col": '''def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """The book's im2col: every filter_h x filter_w window of the zero-padded x becomes one row.

    x: (N, C, H, W);  FH = filter_h, FW = filter_w;  stride, pad: ints (both axes).
    OH = (H + 2*pad - FH) // stride + 1,  OW = (W + 2*pad - FW) // stride + 1.
    Returns col: (N*OH*OW, C*FH*FW)
        row    n*OH*OW + oy*OW + ox   is the window of image n at output position (oy, ox),
        column c*FH*FW + i*FW + j     is its pixel (i, j) in channel c
        col[row, column] = xp[n, c, oy*stride + i, ox*stride + j]  (xp: x padded with zeros).
    Keep x's dtype and do not modify x.
    """
    raise NotImplementedError''',

    "col2im": '''def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's col2im: add every row of col back onto the window it came from.

    col: (N*OH*OW, C*FH*FW), laid out as im2col makes it (row n*OH*OW + oy*OW + ox,
         column c*FH*FW + i*FW + j);  input_shape: (N, C, H, W);  stride, pad: ints.
    Returns img: (N, C, H, W). Work on a zero-padded (N, C, H + 2*pad, W + 2*pad) array:
        img_padded[n, c, oy*stride + i, ox*stride + j] += col[row, column]
    and cut the padding off at the end. Where windows overlap the values ADD UP
    (col2im is the transpose of im2col, not its inverse). Keep col's dtype.
    """
    raise NotImplementedError''',

    "conv_backward": '''def conv_backward(x, W, b, dout, stride=1, pad=0):
    """Convolution backward: the gradients of L = sum(conv2d(x, W, b, stride, pad) * dout).

    x: (N, C, H, W);  W: (FN, C, FH, FW);  b: (FN,)
    dout: (N, FN, OH, OW), the gradient of the loss with respect to the layer's output.
    Returns (dx, dW, db) in this order, shaped like x, W and b:
        dx: (N, C, H, W)      every output cell sends dout[n, f, oy, ox] * W[f] back onto
                              its window; overlapping windows ADD UP; cut the padding off.
        dW: (FN, C, FH, FW)   dW[f] = sum over n, oy, ox of dout[n, f, oy, ox] * window(n, oy, ox)
        db: (FN,)             dout summed over N, OH and OW.
    Loops are fine. Keep the dtype (float64) and do not modify the inputs.
    """
    raise NotImplementedError''',

    "max_pool_backward": '''def max_pool_backward(x, dout, pool_h, pool_w, stride=1, pad=0):
    """Max pooling backward: the gradient of L = sum(max_pool(x) * dout) with respect to x.

    x: (N, C, H, W);  dout: (N, C, OH, OW);  stride, pad: ints (both axes).
    Returns dx: (N, C, H, W). Each window's dout[n, c, oy, ox] goes to ONE cell: the window's
    maximum; on a tie, the FIRST maximum reading row by row (as np.argmax picks it). Every
    other cell of the window gets nothing. Where windows overlap, contributions ADD UP.
    Padding is -inf (it never is the maximum); pad is at most half the window.
    Keep the dtype (float64) and do not modify the inputs.
    """
    raise NotImplementedError''',
}

#: The exercises in lesson order.
NAMES = tuple(STUBS)

# ---- lesson 10: the book's layer classes (checked by convlab.lessons.layer_checks) ----
# A class stub: __init__ is written for you; forward and backward raise NotImplementedError.

LAYER_STUBS = {
    "Convolution": '''class Convolution:
    """The book's convolution layer, through im2col (one matrix product per forward pass).

    W: (FN, C, FH, FW)  FN filters over C channels;  b: (FN,)  one bias per filter.
    forward(x)     x (N, C, H, W) -> out (N, FN, OH, OW)
        col   = im2col(x, FH, FW, stride, pad)          (N*OH*OW, C*FH*FW): a window per row
        col_W = W reshaped to (FN, C*FH*FW), then transposed: (C*FH*FW, FN)
        out   = col @ col_W + b                         (N*OH*OW, FN): rows run (n, oy, ox)
        reshape to (N, OH, OW, FN), then transpose to (N, FN, OH, OW).
        Keep what backward needs on self (x, col, col_W). Do not modify x.
    backward(dout) dout (N, FN, OH, OW) -> dx (N, C, H, W); sets self.dW (FN, C, FH, FW)
        and self.db (FN,). Bring dout into out's row layout (N*OH*OW, FN) first; then
        db = its column sums, dW = (col.T @ it) brought back to W's shape,
        dx = col2im(it @ col_W.T, x's shape, FH, FW, stride, pad).
        Calling backward twice with the same dout gives the same answer.
    Use your im2col and col2im from lesson 4, or convlab's (from convlab.im2col import ...).
    """

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.x = self.col = self.col_W = None       # forward keeps these for backward
        self.dW = self.db = None                    # backward sets these

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError''',

    "Pooling": '''class Pooling:
    """The book's max pooling layer, through im2col: the maximum of every pool_h x pool_w window.

    forward(x)     x (N, C, H, W) -> out (N, C, OH, OW),
                   OH = (H + 2*pad - pool_h) // stride + 1 (OW likewise, with W and pool_w)
        pad x with -inf, not zeros, so that padding never wins (not even over negative numbers):
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
        col = im2col(xp, pool_h, pool_w, stride, 0)    (N*OH*OW, C*pool_h*pool_w)
        reshape col to (-1, pool_h*pool_w): one window per row, rows run (n, oy, ox, c);
        the max of each row is out, its np.argmax (the FIRST maximum on a tie) is kept for
        backward; reshape out to (N, OH, OW, C), then transpose to (N, C, OH, OW).
        Keep what backward needs on self (x, arg_max). Do not modify x.
    backward(dout) dout (N, C, OH, OW) -> dx (N, C, H, W): each window's dout goes to its
        argmax cell (in the rows' order: transpose dout to (N, OH, OW, C) first), every other
        cell gets 0; reshape to (N*OH*OW, C*pool_h*pool_w), col2im onto the padded shape
        (N, C, H + 2*pad, W + 2*pad) with pad 0, and cut the padding off.
        Calling backward twice with the same dout gives the same answer.
    pad is at most half the window (pool_h // 2, pool_w // 2).
    """

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride, self.pad = stride, pad
        self.x = self.arg_max = None                # forward keeps these for backward

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError''',
}

#: The lesson-10 class exercises in lesson order.
LAYER_NAMES = tuple(LAYER_STUBS)
