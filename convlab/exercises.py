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
