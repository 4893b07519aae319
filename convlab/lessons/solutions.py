"""Worked solutions of the implement-it exercises (``convlab.lessons.implement``), on demand.

Each is written the way a learner could write it: plain loops where the exercise allows them
(the naive forward passes and the backward passes), the book's vectorised loop over the kernel
offsets for im2col and col2im. They are deliberately not the library's code (``convlab.layers``
is faster and more general); the checks compare the two.

    from convlab.lessons import solutions
    solutions.show("conv2d_naive")      # prints the solution's source
"""
from __future__ import annotations

import inspect

import numpy as np

__all__ = ["NAMES", "show", "conv2d_naive", "max_pool_naive", "im2col", "col2im",
           "conv_backward", "max_pool_backward", "Convolution", "Pooling", "LAYER_NAMES"]


def conv2d_naive(x, W, b, stride=1, pad=0):
    """Lesson 2: convolution forward with loops, (N, C, H, W) -> (N, FN, OH, OW)."""
    N, C, H, W_ = x.shape                          # W_ : the width (W is the weights)
    FN, _, FH, FW = W.shape
    OH = (H + 2 * pad - FH) // stride + 1
    OW = (W_ + 2 * pad - FW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))   # zeros on every side
    out = np.zeros((N, FN, OH, OW), dtype=x.dtype)             # (N, FN, OH, OW)
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * stride, ox * stride           # the window's top-left corner
                    window = xp[n, :, y:y + FH, xx:xx + FW]    # (C, FH, FW)
                    out[n, f, oy, ox] = np.sum(window * W[f]) + b[f]
    return out


def max_pool_naive(x, pool_h, pool_w, stride=1, pad=0):
    """Lesson 3: max pooling forward with loops, (N, C, H, W) -> (N, C, OH, OW)."""
    N, C, H, W = x.shape
    OH = (H + 2 * pad - pool_h) // stride + 1
    OW = (W + 2 * pad - pool_w) // stride + 1
    # -inf padding: a padded cell never wins, even against negative numbers
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)              # (N, C, OH, OW)
    for n in range(N):
        for c in range(C):                                      # each channel on its own
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * stride, ox * stride
                    out[n, c, oy, ox] = xp[n, c, y:y + pool_h, xx:xx + pool_w].max()
    return out


def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """Lesson 4: the book's im2col, (N, C, H, W) -> (N*OH*OW, C*FH*FW)."""
    N, C, H, W = x.shape
    OH = (H + 2 * pad - filter_h) // stride + 1
    OW = (W + 2 * pad - filter_w) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    col = np.zeros((N, C, filter_h, filter_w, OH, OW), dtype=x.dtype)
    # Loop over the FH*FW kernel offsets only: offset (i, j) of every window at once is a
    # strided slice of the padded image, (N, C, OH, OW).
    for i in range(filter_h):
        for j in range(filter_w):
            col[:, :, i, j] = xp[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride]
    # (N, C, FH, FW, OH, OW) -> (N, OH, OW, C, FH, FW): one row per window, channel first
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Lesson 4: the book's col2im, (N*OH*OW, C*FH*FW) -> (N, C, H, W), overlaps summed."""
    N, C, H, W = input_shape
    OH = (H + 2 * pad - filter_h) // stride + 1
    OW = (W + 2 * pad - filter_w) // stride + 1
    # undo im2col's reshape and transpose: (N, OH, OW, C, FH, FW) -> (N, C, FH, FW, OH, OW)
    c = col.reshape(N, OH, OW, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)   # padded
    for i in range(filter_h):
        for j in range(filter_w):
            # += : a pixel in several windows collects every window's value
            img[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += c[:, :, i, j]
    return img[:, :, pad:pad + H, pad:pad + W]                  # cut the padding off


def conv_backward(x, W, b, dout, stride=1, pad=0):
    """Lesson 5: convolution backward with loops -> (dx (N, C, H, W), dW (FN, C, FH, FW), db (FN,))."""
    N, C, H, W_ = x.shape
    FN, _, FH, FW = W.shape
    _, _, OH, OW = dout.shape                                  # (N, FN, OH, OW)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)                                    # gradient of the padded input
    dW = np.zeros_like(W)                                      # (FN, C, FH, FW)
    db = dout.sum(axis=(0, 2, 3))                              # (FN,): b[f] was added everywhere
    for n in range(N):
        for f in range(FN):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * stride, ox * stride
                    g = dout[n, f, oy, ox]
                    # out[n, f, oy, ox] = sum(window * W[f]) + b[f], so:
                    dW[f] += g * xp[n, :, y:y + FH, xx:xx + FW]       # (C, FH, FW)
                    dxp[n, :, y:y + FH, xx:xx + FW] += g * W[f]       # overlaps add up
    dx = dxp[:, :, pad:pad + H, pad:pad + W_]                  # the padding has no gradient
    return dx, dW, db


def max_pool_backward(x, dout, pool_h, pool_w, stride=1, pad=0):
    """Lesson 5: max pooling backward with loops, dout (N, C, OH, OW) -> dx (N, C, H, W)."""
    N, C, H, W = x.shape
    _, _, OH, OW = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * stride, ox * stride
                    window = xp[n, c, y:y + pool_h, xx:xx + pool_w]
                    i, j = np.unravel_index(np.argmax(window), window.shape)  # FIRST maximum
                    dxp[n, c, y + i, xx + j] += dout[n, c, oy, ox]          # overlaps add up
    return dxp[:, :, pad:pad + H, pad:pad + W]


#: The implement-it solutions, in lesson order (the same names as the exercises).
NAMES = ("conv2d_naive", "max_pool_naive", "im2col", "col2im", "conv_backward", "max_pool_backward")

#: Worked answers of the number and shape exercises: name -> (answer, how to get it). Each lesson
#: range adds its own block below; tests feed every answer to its check (tests/test_lessons_*.py).
ANSWERS: dict[str, tuple[object, str]] = {}

# ---- lessons 0-2 ----
# Names are the checks' names without "check_": ANSWERS["batch_shape"] passes
# lesson00.check_batch_shape, and so on (tests/test_lessons_0_2.py feeds each to its check).

ANSWERS["batch_shape"] = ((100, 1, 28, 28), (
    "Lesson 0. N = 100 images; MNIST is grey scale, so C = 1 channel; each image is 28 x 28,\n"
    "so H = W = 28. The book's order is batch first: (N, C, H, W)."))

ANSWERS["output_sizes"] = ([(32, 32), (13, 13), (4, 5)], (
    "Lesson 1. OH = (H + 2P - FH) // S + 1 and OW = (W + 2P - FW) // S + 1, rounded down:\n"
    "  task 1: (32 + 2*2 - 5)/1 + 1 = 31 + 1 = 32, the same for OW\n"
    "  task 2: (28 + 0 - 3)/2 + 1 = floor(12.5) + 1 = 13, the same for OW\n"
    "  task 3: OH = (10 + 2 - 3)/3 + 1 = 3 + 1 = 4,  OW = (15 + 2 - 4)/3 + 1 = floor(4.33) + 1 = 5"))

ANSWERS["same_padding"] = (2, (
    "Lesson 1. Solve (28 + 2P - 5)/1 + 1 = 28: 2P - 4 = 0, so P = 2 = (FH - 1)/2.\n"
    "With stride 1 an odd filter FH keeps the size with P = (FH - 1)/2."))

ANSWERS["uncovered_rows"] = (4, (
    "Lesson 1. OH = (10 - 3)//4 + 1 = 2 windows, at rows 0-2 and 4-6.\n"
    "  between them: row 3 (the stride 4 is larger than the filter 3, so one row is jumped)\n"
    "  after them:   rows 7, 8, 9 (uncovered(10, 3, stride=4) = (10 - 3) % 4 = 3, the floor drops them)\n"
    "  4 rows in all, all of them input rows (no padding)."))

ANSWERS["conv_value"] = (8, (
    "Lesson 2. Pad the 4 x 4 input with zeros to 6 x 6. Output (3, 0) is the window at rows 3-5,\n"
    "columns 0-2 of the padded input: [[0, 3, 0], [0, 2, 3], [0, 0, 0]]. Times the filter\n"
    "[[2, 0, 1], [0, 1, 2], [1, 0, 2]] cell by cell: 0+0+0 + 0+2+6 + 0+0+0 = 8.\n"
    "In NumPy: (np.pad(BOOK_INPUT, 1)[3:6, 0:3] * BOOK_FILTER).sum()"))

ANSWERS["conv_output_shape"] = ((10, 16, 32, 32), (
    "Lesson 2. N = 10 images stay 10; one output channel per filter, FN = 16 (the 3 input\n"
    "channels are summed inside each filter); OH = OW = (32 + 2*2 - 5)/1 + 1 = 32."))

ANSWERS["conv_param_count"] = (1216, (
    "Lesson 2. W has shape (FN, C, FH, FW) = (16, 3, 5, 5): 16*3*5*5 = 1200 weights; b has one\n"
    "number per filter: 16. 1200 + 16 = 1216, whatever the image size (the filters are shared\n"
    "by every position)."))

# ---- lessons 3-5 ----
# Names are the checks' names without "check_": ANSWERS["max_pool"] passes lesson03.check_max_pool,
# and so on (tests/test_lessons_3_5.py feeds each to its check).

ANSWERS["max_pool"] = ([[4, 5], [7, 8]], (
    "Lesson 3. The four 2 x 2 blocks of the input do not overlap (stride 2 = window):\n"
    "  top left [[1, 3], [4, 2]] -> 4     top right [[2, 0], [1, 5]] -> 5\n"
    "  bottom left [[0, 6], [7, 1]] -> 7  bottom right [[3, 3], [2, 8]] -> 8\n"
    "In NumPy: split each axis into (block, cell in block) and take the max over the cells,\n"
    "POOL_EXERCISE_X.reshape(2, 2, 2, 2).max(axis=(1, 3))"))

ANSWERS["pool_shape"] = ((10, 16, 12, 12), (
    "Lesson 3. Pooling works on each channel of each image on its own: N = 10 and C = 16 stay.\n"
    "OH = OW = (24 + 2*0 - 2) // 2 + 1 = 12: a 2 x 2 window with stride 2 halves H and W."))

ANSWERS["col_shape"] = ((8192, 27), (
    "Lesson 4. With pad 1 a 3 x 3 filter keeps the size: OH = OW = (32 + 2*1 - 3) // 1 + 1 = 32.\n"
    "One row per output position of every image: N*OH*OW = 8*32*32 = 8192;\n"
    "one column per weight of a filter: C*FH*FW = 3*3*3 = 27."))

ANSWERS["coverage"] = ([[1, 1, 2, 1, 1], [1, 1, 2, 1, 1], [2, 2, 4, 2, 2], [1, 1, 2, 1, 1],
                        [1, 1, 2, 1, 1]], (
    "Lesson 4. With stride 2 a 3 x 3 filter fits 2 x 2 times into 5 x 5: at rows 0-2 and 2-4,\n"
    "columns 0-2 and 2-4. Along one axis, row 2 is in both windows and every other row in one:\n"
    "[1, 1, 2, 1, 1]. A pixel's count is its row's count times its column's: the centre pixel\n"
    "is in all four windows, the rest of row 2 and column 2 in two, every other pixel in one.\n"
    "col2im counts it for you: col2im(im2col(ones, 3, 3, 2), ones.shape, 3, 3, 2) with ones of\n"
    "shape (1, 1, 5, 5)."))

ANSWERS["pool_backward"] = ([[0, 10, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40], [0, 0, 0, 0]], (
    "Lesson 5. Each window's dout goes to its first maximum (reading row by row); 0 elsewhere:\n"
    "  top left [[1, 5], [5, 0]]: two 5s, the first is at (0, 1)      -> dx[0, 1] = 10\n"
    "  top right [[2, 2], [1, 0]]: two 2s, the first is at (0, 2)     -> dx[0, 2] = 20\n"
    "  bottom left [[3, 1], [2, 3]]: two 3s, the first is at (2, 0)   -> dx[2, 0] = 30\n"
    "  bottom right [[4, 9], [9, 1]]: two 9s, the first is at (2, 3)  -> dx[2, 3] = 40"))

ANSWERS["conv_db"] = ([-1, 1, -2], (
    "Lesson 5. b[f] was added to every output of filter f, at every position of every image,\n"
    "so db[f] is dout[:, f] summed: db = dout.sum(axis=(0, 2, 3)) = [-1, 1, -2]\n"
    "  filter 0: (-2 - 1 + 0 + 1) + (0 + 1 + 2 - 2) = -2 + 1 = -1\n"
    "  filter 1: (2 - 2 - 1 + 0) + (-1 + 0 + 1 + 2) = -1 + 2 = 1\n"
    "  filter 2: (1 + 2 - 2 - 1) + (-2 - 1 + 0 + 1) = 0 - 2 = -2"))

# ---- lessons 6-8 ----
# Names are the checks' names without "check_": ANSWERS["affine_input_size"] passes
# lesson06.check_affine_input_size (with the exercise's arguments), and so on
# (tests/test_lessons_6_8.py feeds each to its check).

ANSWERS["affine_input_size"] = (360, (
    "Lesson 6. The convolution: OH = (28 + 2*0 - 4) // 2 + 1 = 12 + 1 = 13 rows (and columns).\n"
    "The 2 x 2 pooling keeps 13 // 2 = 6 of them: the odd last row and column are dropped.\n"
    "10 filters x 6 x 6 = 360. (The book's float sizing gives int(10 * 6.5 * 6.5) = 422.)"))

ANSWERS["accuracy_from_confusion"] = (139 / 150, (
    "Lesson 6. The right answers sit on the diagonal (true class == predicted class):\n"
    "np.trace(toy) / toy.sum() = (50 + 40 + 49) / 150 = 139 / 150, not rounded."))

ANSWERS["filter_response"] = ("Convolution(W_after[k:k + 1], b_after[k:k + 1]).forward(x_test[0][None])[0, 0]", (
    "Lesson 7. Slice with k:k + 1 to keep the filter axis: W (1, 1, 5, 5), b (1,). Add a batch axis\n"
    "to the image: x_test[0][None] is (1, 1, 28, 28). The layer returns (1, 1, 24, 24) (bias\n"
    "included); [0, 0] takes the one map out. The answer is this expression:"))

ANSWERS["feature_map_shape"] = ((32, 7, 7), (
    "Lesson 7. A 3 x 3 convolution with padding 1 keeps H and W: (H + 2 - 3) // 1 + 1 = H.\n"
    "Each 2 x 2 pooling halves them: 28 -> 14 (Pool1) -> 7 (Pool2). C = 32, Conv4's filters.\n"
    "(In the book's DeepConvNet Conv4 pads by 2, so its Pool2 gives (32, 8, 8).)"))

ANSWERS["conv_multiply_adds"] = (117600, (
    "Lesson 8. Padding 2 keeps the size: OH = OW = (28 + 2*2 - 5) // 1 + 1 = 28.\n"
    "6 filters x 28 x 28 positions = 4,704 output numbers, each a dot product of\n"
    "C*FH*FW = 1*5*5 = 25 multiply-adds: 4,704 x 25 = 117,600."))

# ---- lesson 9 ----
# lesson09.check_shirt_recall; the number is that of the shipped Fashion-MNIST SimpleConvNet
# (tests/test_lesson_9.py feeds it to the check with that net's confusion matrix).

ANSWERS["shirt_recall"] = (0.689, (
    "Lesson 9. Recall of Shirt = shirts recognised / all shirts = cm[6, 6] / cm[6].sum(): row 6\n"
    "holds the 1,000 test images that are shirts, its diagonal cell the 689 the net called Shirt:\n"
    "689 / 1000 = 0.689. In NumPy: cm[6, 6] / cm[6].sum(). (cm[6, 6] / cm[:, 6].sum() would be\n"
    "the precision: of the images called Shirt, the share that are shirts.)"))


# ---- lesson 10: the book's Convolution and Pooling classes ----
# Built on the im2col and col2im above (a learner may use theirs from lesson 4 or convlab's);
# lesson 10's checks (convlab.lessons.layer_checks) compare them with convlab.layers.

class Convolution:
    """Lesson 10: the book's convolution layer through im2col. W (FN, C, FH, FW), b (FN,)."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.x = self.col = self.col_W = None       # forward keeps these for backward
        self.dW = self.db = None                    # backward sets these

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        OH = (H + 2 * self.pad - FH) // self.stride + 1
        OW = (W + 2 * self.pad - FW) // self.stride + 1
        col = im2col(x, FH, FW, self.stride, self.pad)          # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T                        # (C*FH*FW, FN)
        out = col @ col_W + self.b                              # (N*OH*OW, FN)
        out = out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)  # (N, FN, OH, OW)
        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)       # (N*OH*OW, FN), rows as col's
        self.db = np.sum(dout, axis=0)                          # (FN,)
        dW = self.col.T @ dout                                  # (C*FH*FW, FN)
        self.dW = dW.T.reshape(FN, C, FH, FW)                   # back to W's shape
        dcol = dout @ self.col_W.T                              # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)   # (N, C, H, W)


class Pooling:
    """Lesson 10: the book's max pooling layer through im2col, -inf padding, first maximum."""

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride, self.pad = stride, pad
        self.x = self.arg_max = None                # forward keeps these for backward

    def forward(self, x):
        N, C, H, W = x.shape
        PH, PW, S, P = self.pool_h, self.pool_w, self.stride, self.pad
        OH = (H + 2 * P - PH) // S + 1
        OW = (W + 2 * P - PW) // S + 1
        # -inf padding: a padded cell never wins, even against negative numbers
        xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)), constant_values=-np.inf)
        col = im2col(xp, PH, PW, S, 0)                          # (N*OH*OW, C*PH*PW)
        col = col.reshape(-1, PH * PW)                          # (N*OH*OW*C, PH*PW): a window a row
        arg_max = np.argmax(col, axis=1)                        # the FIRST maximum on a tie
        out = np.max(col, axis=1)                               # (N*OH*OW*C,)
        out = out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)   # (N, C, OH, OW)
        self.x, self.arg_max = x, arg_max
        return out

    def backward(self, dout):
        N, C, H, W = self.x.shape
        PH, PW, S, P = self.pool_h, self.pool_w, self.stride, self.pad
        dout = dout.transpose(0, 2, 3, 1)                       # (N, OH, OW, C): col's row order
        dmax = np.zeros((dout.size, PH * PW), dtype=dout.dtype)  # (N*OH*OW*C, PH*PW)
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.reshape(-1)
        dcol = dmax.reshape(-1, C * PH * PW)                    # (N*OH*OW, C*PH*PW)
        dxp = col2im(dcol, (N, C, H + 2 * P, W + 2 * P), PH, PW, S, 0)  # the padded input's grad
        return dxp[:, :, P:P + H, P:P + W]                      # cut the padding off

#: The lesson-10 layer classes (shown by show("Convolution"), show("Pooling")).
LAYER_NAMES = ("Convolution", "Pooling")


def show(name: str) -> None:
    """Print the solution ``name``: the source of an implement-it solution (``NAMES``), or a worked
    answer (``ANSWERS``) with how to get it. The lessons call it only when the learner asks."""
    if name in NAMES + LAYER_NAMES:
        print(inspect.getsource(globals()[name]))
    elif name in ANSWERS:
        answer, how = ANSWERS[name]
        print(f"{how}\nAnswer: {answer!r}")
    else:
        raise ValueError(f"name must be one of {', '.join(NAMES + LAYER_NAMES + tuple(ANSWERS))}, got {name!r}")
