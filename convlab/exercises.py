"""Self-checking exercises for the lessons: each ``check_*`` function prints a clear PASS or
FAIL with a hint and returns True/False. Each function names the lesson that uses it.
"""
from __future__ import annotations

import numpy as np


def report(ok: bool, success: str, hint: str) -> bool:
    """Print one PASS/FAIL line (with a hint on failure) and return ``ok``."""
    print(f"PASS: {success}" if ok else f"FAIL: not yet. Hint: {hint}")
    return bool(ok)

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

def _as_float_array(answer):
    """The learner's answer as a float array, or None if it cannot be one."""
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return None
    return None if answer is None else a


POOL_EXERCISE_X = np.array([[1, 3, 2, 0],
                            [4, 2, 1, 5],
                            [0, 6, 3, 3],
                            [7, 1, 2, 8]], dtype=float)                 # (H, W)


def check_max_pool(answer):
    """Lesson 3: 2x2 max pooling, stride 2, of POOL_EXERCISE_X (a 2x2 array).
    Taught in notebooks/03_pooling.ipynb."""
    from .layers import Pooling
    want = Pooling(2, 2, stride=2).forward(POOL_EXERCISE_X[None, None])[0, 0]
    a = _as_float_array(answer)
    ok = a is not None and a.shape == want.shape and np.array_equal(a, want)
    return report(ok, f"2x2 max pooling with stride 2 gives {want.astype(int).tolist()}.",
                  "split the 4x4 input into four non-overlapping 2x2 blocks and keep the largest value "
                  "of each; the answer has shape (2, 2).")


def check_pool_shape(answer):
    """Lesson 3: the output shape of 2x2 max pooling, stride 2, on an (N, C, H, W) =
    (10, 16, 24, 24) batch. Taught in notebooks/03_pooling.ipynb."""
    ok = isinstance(answer, tuple) and tuple(answer) == (10, 16, 12, 12)
    return report(ok, "(10, 16, 12, 12): N and C are untouched, H and W are halved.",
                  "pooling works on each channel separately, so N and C stay; "
                  "OH = (24 - 2) // 2 + 1. Give a tuple (N, C, OH, OW).")


def check_col_shape(answer):
    """Lesson 4: the shape of im2col(x, 3, 3, stride=1, pad=1) for x of shape (8, 3, 32, 32).
    Taught in notebooks/04_im2col.ipynb."""
    ok = isinstance(answer, tuple) and tuple(answer) == (8 * 32 * 32, 3 * 3 * 3)
    return report(ok, "(8192, 27): one row per output position (8*32*32), one column per weight (3*3*3).",
                  "rows = N*OH*OW and columns = C*FH*FW; with pad 1 and a 3x3 filter OH = OW = 32. "
                  "Give a tuple of two ints.")


def check_coverage(answer):
    """Lesson 4: the coverage count map of a 4x4 input under a 3x3 filter, stride 1, pad 0
    (how many windows contain each pixel). Taught in notebooks/04_im2col.ipynb."""
    from .im2col import col2im, im2col
    ones = np.ones((1, 1, 4, 4))
    want = col2im(im2col(ones, 3, 3), ones.shape, 3, 3)[0, 0]                # (4, 4)
    a = _as_float_array(answer)
    ok = a is not None and a.shape == want.shape and np.array_equal(a, want)
    return report(ok, f"the count map is {want.astype(int).tolist()}: col2im(im2col(x)) is x times this.",
                  "there are 2x2 windows; count for each pixel how many of them contain it "
                  "(corners: 1, centre: 4). The answer has shape (4, 4).")


POOL_BACKWARD_X = np.array([[1, 5, 2, 2],
                            [5, 0, 1, 0],
                            [3, 1, 4, 9],
                            [2, 3, 9, 1]], dtype=float)                 # (H, W), ties on purpose
POOL_BACKWARD_DOUT = np.array([[10, 20],
                               [30, 40]], dtype=float)                  # (OH, OW)


def check_pool_backward(answer):
    """Lesson 5: dx of 2x2 max pooling, stride 2, for POOL_BACKWARD_X and POOL_BACKWARD_DOUT
    (ties go to the first maximum in row-major order). Taught in notebooks/05_forward_backward.ipynb."""
    from .layers import Pooling
    layer = Pooling(2, 2, stride=2)
    layer.forward(POOL_BACKWARD_X[None, None])
    want = layer.backward(POOL_BACKWARD_DOUT[None, None])[0, 0]          # (H, W)
    a = _as_float_array(answer)
    ok = a is not None and a.shape == want.shape and np.array_equal(a, want)
    return report(ok, "each window's gradient went to its first maximum; every other cell got 0.",
                  "dx has the input's shape (4, 4) and is 0 everywhere except one cell per window: the "
                  "position of that window's maximum (on a tie, the first one reading row by row), "
                  "which receives that window's dout.")


CONV_DB_DOUT = np.arange(24, dtype=float).reshape(2, 3, 2, 2) % 5 - 2   # (N, FN, OH, OW)


def check_conv_db(answer):
    """Lesson 5: db of a Convolution layer for dout = CONV_DB_DOUT of shape (N, FN, OH, OW).
    Taught in notebooks/05_forward_backward.ipynb."""
    want = CONV_DB_DOUT.sum(axis=(0, 2, 3))                              # (FN,)
    a = _as_float_array(answer)
    ok = a is not None and a.shape == want.shape and np.allclose(a, want)
    return report(ok, f"db = dout summed over N, OH and OW = {want.astype(int).tolist()}: each bias "
                      f"was added at every position of every image.",
                  "db has one entry per filter (shape (FN,) = (3,)); sum dout over every axis "
                  "except the filter axis 1.")


# ---- lessons 6-8 ----

def check_affine_input_size(answer, filter_num=30, filter_size=5, stride=1, pad=0, input_size=28,
                            pool=2):
    """Lesson 6 (notebooks/06_training.ipynb): how many inputs the first Affine layer of
    SimpleConvNet receives, i.e. FN * PH * PW after conv and 2x2 pooling (all in integers)."""
    from .arith import conv_output_size
    OH = conv_output_size(input_size, filter_size, stride, pad)
    PH = OH // pool
    right = filter_num * PH * PH
    ok = isinstance(answer, (int, np.integer)) and not isinstance(answer, bool) and answer == right
    if isinstance(answer, float) and not ok:
        hint = ("give a whole number (int). Sizes are integers: use // for the divisions, as "
                "float arithmetic is what breaks the book's SimpleConvNet for odd sizes")
    else:
        hint = (f"first OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1, then the "
                f"{pool}x{pool} pooling gives OH // {pool} rows and columns; multiply by the "
                f"number of filters")
    return report(ok, f"Affine1 receives {filter_num} x {PH} x {PH} = {right} numbers per image.", hint)


def check_accuracy_from_confusion(cm, answer):
    """Lesson 6 (notebooks/06_training.ipynb): accuracy read off a confusion matrix."""
    cm = np.asarray(cm)
    right = np.trace(cm) / cm.sum()
    ok = isinstance(answer, (float, int, np.floating, np.integer)) and not isinstance(answer, bool) \
        and abs(float(answer) - right) < 1e-9
    return report(ok, f"accuracy = diagonal sum / total = {int(np.trace(cm))} / {int(cm.sum())} "
                      f"= {right:.4f}.",
                  "correct answers sit on the diagonal (true class == predicted class): "
                  "np.trace(cm) / cm.sum()")


def check_filter_response(answer, W, b, image, k):
    """Lesson 7 (notebooks/07_what_the_network_sees.ipynb): the feature map of filter ``k``
    on one image (before ReLU), shape (OH, OW)."""
    from .plots import filter_responses
    right = filter_responses(W, b, image)[k]                                  # (OH, OW)
    a = None if answer is None else np.asarray(answer)
    if a is None or a.size != right.size:
        return report(False, "", f"expected an array of shape {right.shape} (a 28x28 image and a "
                                 f"{W.shape[2]}x{W.shape[3]} filter, stride 1, no padding); got "
                                 f"{None if a is None else a.shape}")
    a = a.reshape(right.shape)
    ok = np.allclose(a, right, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(right).max())))
    return report(ok, f"filter {k}'s feature map matches, shape {right.shape}.",
                  "build Convolution(W[k:k+1], b[k:k+1]) and call forward on image[None] "
                  "(shape (1, 1, 28, 28)); take [0, 0] of the result. Did you add the bias?")


def check_feature_map_shape(net, layer, answer):
    """Lesson 7 (notebooks/07_what_the_network_sees.ipynb): the (C, H, W) output shape of a layer."""
    shapes = dict(net.shapes)
    if layer not in shapes:
        return report(False, "", f"layer must be one of {list(shapes)[1:]}, got {layer!r}")
    right = tuple(shapes[layer])
    try:
        ok = tuple(int(v) for v in answer) == right
    except (TypeError, ValueError):
        ok = False
    return report(ok, f"{layer} outputs {right}.",
                  "3x3 convolutions with pad 1 keep H and W and set C to the number of filters; "
                  "each 2x2 pooling halves H and W (rounding down) and keeps C")


def check_conv_multiply_adds(answer, C, H, W, FN, FH, FW, stride=1, pad=0):
    """Lesson 8 (notebooks/08_classic_cnns.ipynb): multiply-adds of one convolution layer for one
    image: OH * OW * FN * C * FH * FW."""
    from .arith import conv_output_size
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    right = OH * OW * FN * C * FH * FW
    ok = isinstance(answer, (int, np.integer)) and not isinstance(answer, bool) and answer == right
    return report(ok, f"{OH}*{OW} output positions x {FN} filters x {C}*{FH}*{FW} products "
                      f"= {right:,} multiply-adds.",
                  "each output number is one dot product of C*FH*FW multiply-adds; there are "
                  "FN * OH * OW output numbers (work out OH and OW first)")
