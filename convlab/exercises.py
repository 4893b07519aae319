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

def _as_int_tuple(value):
    """``value`` as a tuple of ints, or None if it is not a sequence of whole numbers."""
    try:
        items = tuple(value)
    except TypeError:
        return None
    out = []
    for v in items:
        if isinstance(v, bool):
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(f) or f != int(f):
            return None
        out.append(int(f))
    return tuple(out)


def _as_number(value):
    """``value`` as a float, or None if it is not a single finite number."""
    if isinstance(value, bool):
        return None
    try:
        f = float(np.asarray(value).item()) if np.ndim(value) == 0 else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and np.isfinite(f) else None


def check_batch_shape(shape):
    """Lesson 0 exercise: the (N, C, H, W) shape of a batch of 100 MNIST images (28 x 28 pixels,
    grey scale). Taught in notebooks/00_start_here.ipynb."""
    got = _as_int_tuple(shape)
    right = (100, 1, 28, 28)
    if got == right:
        return report(True, "(N, C, H, W) = (100, 1, 28, 28): 100 images, 1 channel, 28 x 28.", "")
    if got == (100, 28, 28):
        hint = "that is what flatten=False would give without a channel axis; convolution needs C too."
    elif got is not None and sorted(got) == sorted(right):
        hint = "right numbers, wrong order: the book's order is (N, C, H, W) -- batch first."
    else:
        hint = "write a tuple (N, C, H, W): N images, C channels (grey scale has 1), then height and width."
    return report(False, "", hint)


#: Lesson 1 exercise: three layers whose output sizes the learner computes by hand.
OUTPUT_SIZE_TASKS = [
    {"H": 32, "W": 32, "FH": 5, "FW": 5, "pad": 2, "stride": 1},
    {"H": 28, "W": 28, "FH": 3, "FW": 3, "pad": 0, "stride": 2},
    {"H": 10, "W": 15, "FH": 3, "FW": 4, "pad": 1, "stride": 3},
]


def check_output_sizes(answers):
    """Lesson 1 exercise: ``answers`` is a list of three (OH, OW) pairs, one per task in
    ``OUTPUT_SIZE_TASKS``. Taught in notebooks/01_output_size.ipynb."""
    from .arith import conv_output_size_2d
    try:
        answers = list(answers)
    except TypeError:
        return report(False, "", "give a list of three (OH, OW) pairs, e.g. [(1, 1), (2, 2), (3, 3)].")
    if len(answers) != len(OUTPUT_SIZE_TASKS):
        return report(False, "", f"give exactly {len(OUTPUT_SIZE_TASKS)} (OH, OW) pairs, "
                                 f"got {len(answers)}.")
    wrong = []
    for k, (task, ans) in enumerate(zip(OUTPUT_SIZE_TASKS, answers), start=1):
        right = conv_output_size_2d((task["H"], task["W"]), (task["FH"], task["FW"]),
                                    task["stride"], task["pad"])
        got = _as_int_tuple(ans)
        if got != right:
            num_h = task["H"] + 2 * task["pad"] - task["FH"]
            if got is not None and len(got) == 2 and num_h % task["stride"] and \
                    got[0] == -(-num_h // task["stride"]) + 1:
                wrong.append((k, "round DOWN when the division is not whole"))
            else:
                wrong.append((k, "compute (H + 2P - FH)/S + 1 and (W + 2P - FW)/S + 1"))
    if not wrong:
        return report(True, "all three output sizes are right.", "")
    grouped = {}
    for k, msg in wrong:
        grouped.setdefault(msg, []).append(str(k))
    parts = [f"task{'s' if len(ks) > 1 else ''} {', '.join(ks)}: {msg}" for msg, ks in grouped.items()]
    return report(False, "", "; ".join(parts) + ".")


def check_same_padding(pad):
    """Lesson 1 exercise: the padding that keeps a 28 x 28 input 28 x 28 under a 5 x 5 filter with
    stride 1 ('same' padding, P = (FH - 1) / 2). Taught in notebooks/01_output_size.ipynb."""
    got = _as_number(pad)
    if got == 2:
        return report(True, "P = 2 = (5 - 1)/2 keeps 28 x 28: (28 + 4 - 5)/1 + 1 = 28.", "")
    if got is not None and got == int(got) and got >= 0:
        from .arith import conv_output_size
        oh = conv_output_size(28, 5, 1, int(got)) if 28 + 2 * int(got) >= 5 else None
        return report(False, "", f"with P = {int(got)} the output is {oh} x {oh}; solve "
                                 "(28 + 2P - 5)/1 + 1 = 28 for P.")
    return report(False, "", "give one whole number P >= 0; solve (28 + 2P - 5)/1 + 1 = 28.")


def check_uncovered_rows(rows):
    """Lesson 1 exercise: how many rows of a 10-row input does a 3-row filter with stride 4 and no
    padding never touch? Taught in notebooks/01_output_size.ipynb."""
    from .arith import uncovered
    right = uncovered(10, 3, stride=4)
    got = _as_number(rows)
    if got == right:
        return report(True, f"{right} rows: windows start at rows 0 and 4 and end at row 6, so rows "
                            "7, 8 and 9 are never used.", "")
    return report(False, "", "list the rows where windows start (0, 4, ...) while the window still "
                             "fits, find the last row the last window reaches, and count what is left.")


def check_conv_value(value):
    """Lesson 2 exercise: the output at (0, 1) of the book's 4 x 4 example with padding 1, stride 1
    and no bias, computed by hand. Taught in notebooks/02_convolution.ipynb."""
    from .widgets import conv_step_report
    right = conv_step_report(padding=1, stride=1, step=2)["value"]
    got = _as_number(value)
    if got is not None and got == right:
        return report(True, f"{right:g}: the window at rows 0-2, columns 1-3 of the padded input.", "")
    return report(False, "", "pad the 4 x 4 input with a ring of zeros (6 x 6), put the filter on rows "
                             "0-2 and columns 1-3, multiply cell by cell and add the nine products.")


def check_conv_output_shape(shape):
    """Lesson 2 exercise: output shape for a batch of 10 RGB 32 x 32 images through 16 filters of
    5 x 5 with padding 2 and stride 1. Taught in notebooks/02_convolution.ipynb."""
    got = _as_int_tuple(shape)
    right = (10, 16, 32, 32)
    if got == right:
        return report(True, "(N, FN, OH, OW) = (10, 16, 32, 32): one channel per filter.", "")
    if got is not None and len(got) == 4 and got[1] == 3:
        hint = "the output has one channel per FILTER (FN), not per input channel."
    elif got is not None and len(got) == 4 and got[2:] == (28, 28):
        hint = "padding 2 adds 2 on EACH side: (32 + 2*2 - 5)/1 + 1."
    else:
        hint = "the output is (N, FN, OH, OW); N and FN come straight from the question."
    return report(False, "", hint)


def check_conv_param_count(count):
    """Lesson 2 exercise: the number of learnable numbers (weights and biases) of the layer in
    ``check_conv_output_shape``. Taught in notebooks/02_convolution.ipynb."""
    right = 16 * 3 * 5 * 5 + 16
    got = _as_number(count)
    if got == right:
        return report(True, f"{right} = 16*3*5*5 weights + 16 biases; the image size does not matter.", "")
    if got == 16 * 3 * 5 * 5:
        return report(False, "", "add the biases: one per filter.")
    if got == 16 * 5 * 5 + 16:
        return report(False, "", "each filter spans all C = 3 input channels.")
    return report(False, "", "W has shape (FN, C, FH, FW) and b has shape (FN,); count both.")


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
