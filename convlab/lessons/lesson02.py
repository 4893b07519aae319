"""Lesson 2 (notebooks/02_convolution.ipynb): convolution step by step, then channels, filters and
batches as blocks.

    BOOK_INPUT, BOOK_FILTER    the book's 4x4 input and 3x3 filter (figure 7-3)
    conv_step_report(padding, stride, step, bias) -> dict: one window's products, sum and output
    conv_step_view(...)        -> View: that text, and the input, filter, products and output drawn
    conv_step_explorer()       sliders padding, stride, step, bias; step's maximum follows OH*OW
    conv_shapes_view(N, C, H, W, FN, FH, FW, padding, stride) -> View: every shape, as blocks
    conv_shapes_explorer()     sliders N, C, FN, FH = FW, padding, stride (H = W = 7)
    draw_conv_step, draw_conv_blocks: the two figures
    true_convolution(x, w)     the textbook convolution (kernel flipped), from its definition
    fc_vs_conv(...) -> dict    parameters of a Convolution vs an Affine layer with as many outputs
    reveal_fc_params(guess)    predict, then check: the Affine layer's parameter count
    shuffle_report()           an Affine layer cannot tell an image from its shuffled pixels
    check_conv2d_naive(fn)     the implement-it exercise (loops allowed)
    CONV_STEP_RANGES, CONV_SHAPES_RANGES: the explorers' slider ranges
    check_conv_value, check_conv_output_shape, check_conv_param_count: the exercises

Every number is computed by ``convlab.layers.Convolution``; sizes come from ``convlab.arith``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle

from ..analysis import coverage_map
from ..arith import conv_output_size, uncovered
from ..layers import Affine, Convolution
from . import draw, ui
from .check import answer_check, as_number, as_shape, compare_guess, report

__all__ = ["BOOK_INPUT", "BOOK_FILTER", "CONV_STEP_RANGES", "CONV_SHAPES_RANGES", "conv_step_report",
           "conv_step_view", "conv_step_explorer", "draw_conv_step", "conv_shapes_view",
           "conv_shapes_explorer", "draw_conv_blocks", "true_convolution", "fc_vs_conv",
           "reveal_fc_params", "shuffle_report", "check_conv_value",
           "check_conv_output_shape", "check_conv_param_count"]

#: The book's single-channel example (figure 7-3): a 4x4 input and a 3x3 filter.
BOOK_INPUT = np.array([[1, 2, 3, 0],
                       [0, 1, 2, 3],
                       [3, 0, 1, 2],
                       [2, 3, 0, 1]], dtype=float)
BOOK_FILTER = np.array([[2, 0, 1],
                        [0, 1, 2],
                        [1, 0, 2]], dtype=float)

#: Slider ranges of the explorers (the tests sweep them all). The step slider's range follows
#: padding and stride: 1 .. OH*OW.
CONV_STEP_RANGES = {"padding": (0, 2), "stride": (1, 3), "bias": (0, 3)}
CONV_SHAPES_RANGES = {"N": (1, 4), "C": (1, 4), "FN": (1, 6), "F": (1, 7), "padding": (0, 3),
                      "stride": (1, 3)}


def _n(k: int, word: str) -> str:
    """'1 row', '2 rows'."""
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


# -- one window at a time ----------------------------------------------------------------------

def conv_step_report(padding=0, stride=1, step=1, bias=0.0, x=None, w=None) -> dict:
    """Run ``Convolution`` on the book's input and filter (or ``x`` (H, W), ``w`` (FH, FW)) and
    describe window number ``step`` (1-based, row by row; clamped to 1 .. OH*OW): a dict with
    ``OH``, ``OW``, ``out`` (OH, OW), ``step``, ``products`` (FH, FW), ``value`` and ``text``."""
    x = BOOK_INPUT if x is None else np.asarray(x, dtype=float)
    w = BOOK_FILTER if w is None else np.asarray(w, dtype=float)
    H, W = x.shape
    FH, FW = w.shape
    if FH > H + 2 * padding or FW > W + 2 * padding:                   # no window fits
        text = (f"Output size: none -- the {FH} x {FW} filter does not fit in the padded "
                f"{H + 2 * padding} x {W + 2 * padding} input")
        return {"OH": None, "OW": None, "out": None, "step": None, "products": None, "value": None,
                "text": text}
    layer = Convolution(w[None, None], np.array([bias], dtype=float), stride=stride, pad=padding)
    out = layer.forward(x[None, None])[0, 0]                           # (OH, OW)
    OH, OW = out.shape
    lines = [f"Output size: OH = {OH}, OW = {OW}"]
    n_steps = OH * OW
    clamped = min(max(int(step), 1), n_steps)
    if clamped != step:
        lines.append(f"(step {step} is outside 1..{n_steps}; showing step {clamped})")
    i, j = divmod(clamped - 1, OW)
    r0, c0 = i * stride, j * stride
    xp = np.pad(x, padding)                                            # (H+2P, W+2P)
    patch = xp[r0:r0 + FH, c0:c0 + FW]                                 # (FH, FW)
    prod = patch * w                                                   # (FH, FW)
    terms = " + ".join(f"{a:g}*{b:g}" for a, b in zip(patch.ravel(), w.ravel()))
    lines.append(f"Step {clamped} of {n_steps}: output ({i}, {j}) <- window at rows {r0}-{r0 + FH - 1}, "
                 f"columns {c0}-{c0 + FW - 1} of the padded input")
    total = prod.sum()
    lines.append(f"  {terms} = {total:g}" + (f"; + bias {bias:g} = {total + bias:g}" if bias else ""))
    lines.append(f"  Convolution layer's output at ({i}, {j}): {out[i, j]:g}")
    ur, uc = uncovered(H, FH, stride, padding), uncovered(W, FW, stride, padding)
    if ur or uc:
        lines.append(f"  Note: the last {_n(ur, 'row')} and {_n(uc, 'column')} of the padded input "
                     f"are never covered (stride {stride} does not fit exactly).")
    return {"OH": OH, "OW": OW, "out": out, "step": clamped, "products": prod,
            "value": float(out[i, j]), "text": "\n".join(lines)}


def draw_conv_step(x, w, out, pad, stride, step, bias=0.0):
    """One step of a single-channel convolution: the padded input with the current window, the
    filter, the elementwise products, and the output filled in up to this step.

    ``x`` (H, W), ``w`` (FH, FW), ``out`` (OH, OW) the layer's result (bias included); ``step``
    counts windows row by row from 0. Returns the figure.
    """
    x, w, out = np.asarray(x), np.asarray(w), np.asarray(out)
    H, W = x.shape
    FH, FW = w.shape
    OH, OW = out.shape
    xp = np.pad(x, pad)                                                # (H+2P, W+2P)
    i, j = divmod(step, OW)
    r0, c0 = i * stride, j * stride
    prod = xp[r0:r0 + FH, c0:c0 + FW] * w                              # (FH, FW)
    PH, PW = xp.shape

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4),
                             gridspec_kw={"width_ratios": [PW + 0.5, FW + 0.5, FW + 0.5, OW + 0.5]})
    ax_x, ax_w, ax_p, ax_o = axes

    def x_face(r, c):
        if r0 <= r < r0 + FH and c0 <= c < c0 + FW:
            return "#fde0dd"
        return draw.PAD_GREY if (r < pad or c < pad or r >= pad + H or c >= pad + W) else "white"
    draw.cells(ax_x, PH, PW, face=x_face, values=xp)
    unused = coverage_map(H, W, FH, FW, pad, stride) == 0               # (H+2P, W+2P)
    if unused.any():
        ax_x.add_collection(PatchCollection(
            [Rectangle((c, r), 1, 1) for r, c in zip(*np.nonzero(unused))],
            facecolor="none", edgecolor=draw.NOW, hatch="///", lw=0, zorder=2))
    draw.outline(ax_x, r0, c0, FH, FW, draw.NOW)
    draw.finish(ax_x, PW, PH, f"input (padding {pad}, stride {stride})"
                + ("\nred hatch: never used" if unused.any() else ""))

    draw.cells(ax_w, FH, FW, face="#e5f5e0", values=w)
    draw.finish(ax_w, FW, max(FH, OH), "filter")

    draw.cells(ax_p, FH, FW, face="#fde0dd", values=prod)
    draw.finish(ax_p, FW, max(FH, OH), f"products, sum = {prod.sum():g}")

    def o_face(r, c):
        if (r, c) == (i, j):
            return "#fcbba1"
        return "white" if r * OW + c < step else "#f0f0f0"
    shown = [[f"{out[r, c]:g}" if r * OW + c <= step else "" for c in range(OW)] for r in range(OH)]
    draw.cells(ax_o, OH, OW, face=o_face, values=shown, fmt="{}")
    draw.outline(ax_o, i, j, 1, 1, draw.NOW)
    b = f" + bias {bias:g}" if bias else ""
    draw.finish(ax_o, OW, max(FH, OH), f"output{b}: step {step + 1} of {OH * OW}")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.88, wspace=0.12)
    return fig


def conv_step_view(padding=0, stride=1, step=1, bias=0.0) -> ui.View:
    """Step ``step`` of the convolution of the book's example: the products and their sum as
    text, and the window, filter, products and output drawn."""
    rep = conv_step_report(padding, stride, step, bias)
    return ui.View(rep["text"], draw_conv_step(BOOK_INPUT, BOOK_FILTER, rep["out"], padding, stride,
                                               rep["step"] - 1, bias))


def _n_steps(padding: int, stride: int) -> int:
    """OH * OW for the book's example: how many windows the step slider walks through."""
    (H, W), (FH, FW) = BOOK_INPUT.shape, BOOK_FILTER.shape
    return conv_output_size(H, FH, stride, padding) * conv_output_size(W, FW, stride, padding)


def conv_step_explorer(padding=0, stride=1, step=1, bias=0):
    """Sliders padding, stride, step and bias over ``conv_step_view``. The step slider's maximum
    follows OH*OW, so every step it offers is a real window (the view clamps as well)."""
    R = CONV_STEP_RANGES
    controls = {"padding": ui.slider("padding", padding, *R["padding"]),
                "stride": ui.slider("stride", stride, *R["stride"]),
                "step": ui.slider("step", step, 1, _n_steps(R["padding"][1], 1)),
                "bias": ui.slider("bias", bias, *R["bias"])}

    def fit_step(_=None):          # lowering max lowers the value too (ipywidgets clamps it)
        controls["step"].max = _n_steps(controls["padding"].value, controls["stride"].value)

    fit_step()
    controls["padding"].observe(fit_step, "value")     # registered before the explorer's redraw
    controls["stride"].observe(fit_step, "value")
    return ui.explorer(conv_step_view, controls)


# -- channels, filters, batches ----------------------------------------------------------------

def draw_conv_blocks(C, H, W, FN, FH, FW, pad=0, stride=1, N=1):
    """Shapes of a convolution as blocks: input (C, H, W), FN filters (C, FH, FW), bias (FN, 1, 1)
    and output (FN, OH, OW); with N > 1 each data block is drawn as a short stack (a batch).
    Depth stands for channels (capped so big counts stay readable; the labels give the numbers).
    The filter must fit. Returns the figure.
    """
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    k = 4.0 / max(H, W, OH, OW, 1)          # the biggest block face is about 4 units tall

    def depth(ch):
        return min(0.25 + 0.35 * ch, 3.0)

    fig, ax = plt.subplots(figsize=(11, 3.8))
    x, gap, top = 0.0, 2.2, 0.0

    def stack(x, n, d, h, w, color, step):
        for i in range(n - 1, -1, -1):
            end = draw.block(ax, x + step * i, step * i, d, h, w, color)
        return x, end + step * (n - 1)

    n_show = min(N, 3)
    batch = f"N={N}, " if N > 1 else ""
    blocks = [(n_show, depth(C), H * k, W * k, "#9ecae1", 0.35, f"input x\n({batch}C={C},\nH={H}, W={W})", "*"),
              (min(FN, 4), depth(C), FH * k, FW * k, "#a1d99b", 0.3,
               f"filters W\n(FN={FN}, C={C},\nFH={FH}, FW={FW})", "+"),
              (1, depth(FN), k, k, "#fdae6b", 0.0, f"bias b\n(FN={FN}, 1, 1)", "→"),
              (n_show, depth(FN), OH * k, OW * k, "#fc9272", 0.35,
               f"output\n({batch}FN={FN},\nOH={OH}, OW={OW})", None)]
    for n, d, h, w, color, step, text, op in blocks:
        x0, x1 = stack(x, n, d, h, w, color, step)
        ax.text((x0 + x1) / 2, -0.4, text, ha="center", va="top", fontsize=9)
        top = max(top, h + d * 0.27 + step * (n - 1))
        x = x1 + gap
        if op:
            ax.text(x - gap / 2, 2.0, op, fontsize=20, ha="center", va="center")
    ax.set_xlim(-0.5, x - gap + 0.5)
    ax.set_ylim(-2.6, top + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
    return fig


def conv_shapes_view(N=1, C=3, H=7, W=7, FN=2, FH=3, FW=3, padding=0, stride=1) -> ui.View:
    """Run a Convolution on zeros of shape (N, C, H, W) with FN filters (C, FH, FW): every shape
    as text, and the blocks. A filter that does not fit gives the reason and no figure."""
    if FH > H + 2 * padding or FW > W + 2 * padding:                   # no window fits
        return ui.View(f"Output size: none -- the {FH} x {FW} filter does not fit in the padded "
                       f"{H + 2 * padding} x {W + 2 * padding} input")
    layer = Convolution(np.zeros((FN, C, FH, FW)), np.zeros(FN), stride=stride, pad=padding)
    y = layer.forward(np.zeros((N, C, H, W)))                          # (N, FN, OH, OW)
    n_w, n_b = layer.W.size, layer.b.size
    text = "\n".join([
        f"Output size: OH = {y.shape[2]}, OW = {y.shape[3]}",
        f"input x: (N, C, H, W) = {(N, C, H, W)}",
        f"filters W: (FN, C, FH, FW) = {layer.W.shape}; bias b: (FN,) = {layer.b.shape}",
        f"output: (N, FN, OH, OW) = {y.shape}",
        f"parameters: FN*C*FH*FW weights + FN biases = {n_w} + {n_b} = {n_w + n_b}"])
    return ui.View(text, draw_conv_blocks(C, H, W, FN, FH, FW, padding, stride, N))


def _square_shapes_view(N, C, FN, F, padding, stride) -> ui.View:
    """``conv_shapes_view`` on a 7 x 7 input with an F x F filter: the explorer's view."""
    return conv_shapes_view(N, C, 7, 7, FN, F, F, padding, stride)


def conv_shapes_explorer():
    """Sliders N, C, FN, FH = FW, padding and stride (``CONV_SHAPES_RANGES``) over
    ``conv_shapes_view`` with H = W = 7: every filter size in range fits."""
    start = {"N": 1, "C": 3, "FN": 2, "F": 3, "padding": 0, "stride": 1}
    label = {"F": "FH = FW"}
    controls = {name: ui.slider(label.get(name, name), start[name], lo, hi)
                for name, (lo, hi) in CONV_SHAPES_RANGES.items()}
    return ui.explorer(_square_shapes_view, controls)


# -- convolution or cross-correlation? -------------------------------------------------------

def true_convolution(x, w):
    """The textbook ('valid') 2-D convolution of one channel, written from its definition:
    out[i, j] = sum over a, b of w[a, b] * x[i + FH-1 - a, j + FW-1 - b], so each weight meets
    the cell mirrored through the window's centre. Equal to cross-correlation (what
    ``Convolution`` computes) with the kernel flipped, and to ``scipy.signal.convolve2d(x, w,
    'valid')``. ``x`` (H, W), ``w`` (FH, FW) -> (H - FH + 1, W - FW + 1)."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    (H, W), (FH, FW) = x.shape, w.shape
    out = np.zeros((H - FH + 1, W - FW + 1))                           # (OH, OW)
    for i in range(H - FH + 1):
        for j in range(W - FW + 1):
            for a in range(FH):
                for b in range(FW):
                    out[i, j] += w[a, b] * x[i + FH - 1 - a, j + FW - 1 - b]
    return out


# -- why not a fully connected layer? --------------------------------------------------------

def fc_vs_conv(C=1, H=28, W=28, FN=30, FH=5, FW=5) -> dict:
    """Parameter counts of a Convolution (FN filters FH x FW, stride 1, no padding) on one
    (C, H, W) image and of an Affine layer mapping the same image, flattened, to the same
    FN*OH*OW outputs: a dict with ``conv``, ``affine``, ``OH``, ``OW`` and ``text``."""
    OH, OW = conv_output_size(H, FH), conv_output_size(W, FW)
    D, M = C * H * W, FN * OH * OW                                    # Affine W: (D, M), b: (M,)
    conv, affine = FN * C * FH * FW + FN, D * M + M
    text = "\n".join([
        f"Convolution: FN*C*FH*FW weights + FN biases = {FN}*{C}*{FH}*{FW} + {FN} = {conv:,}",
        f"Affine from the {D:,} flattened pixels to the same {FN}*{OH}*{OW} = {M:,} outputs:",
        f"  D*M weights + M biases = {D:,}*{M:,} + {M:,} = {affine:,}",
        f"The Affine layer needs {affine / conv:,.0f} times as many parameters.",
        f"Weight sharing: each filter's {C * FH * FW} weights are used at all {OH * OW} positions "
        f"({OH} x {OW}); the Affine layer has one weight per (pixel, output) pair."])
    return {"conv": conv, "affine": affine, "OH": OH, "OW": OW, "text": text}


def reveal_fc_params(guess) -> None:
    """Predict, then check: how many parameters an Affine layer needs to map one 28 x 28 image
    to the 30 x 24 x 24 numbers of SimpleConvNet's first convolution (None: no guess yet)."""
    r = fc_vs_conv()
    compare_guess(guess, r["affine"], f"784 inputs times {30 * r['OH'] * r['OW']:,} outputs, plus "
                  f"one bias per output; the convolution needs {r['conv']} because its 30 filters "
                  f"are shared by all {r['OH'] * r['OW']} positions.")


def shuffle_report(seed=0) -> str:
    """What a fully connected layer knows of the image's shape: nothing. Shuffle the 784 pixels
    of a random 28 x 28 image with one fixed permutation and shuffle an Affine layer's weight rows
    the same way: the outputs do not change (up to rounding). A Convolution on the shuffled
    image gives other numbers: it reads neighbourhoods, which the shuffle destroys."""
    rng = np.random.default_rng(seed)
    x = rng.random((1, 1, 28, 28))                                     # (N, C, H, W)
    perm = rng.permutation(784)
    flat = x.reshape(1, 784)                                           # (N, D)
    shuffled = flat[:, perm]                                           # the same pixels, mixed
    Wa = rng.standard_normal((784, 10))                               # (D, M)
    same_fc = np.allclose(Affine(Wa, np.zeros(10)).forward(flat),
                          Affine(Wa[perm], np.zeros(10)).forward(shuffled))
    conv = Convolution(rng.standard_normal((30, 1, 5, 5)), np.zeros(30))
    same_conv = np.allclose(conv.forward(x), conv.forward(shuffled.reshape(1, 1, 28, 28)))
    return "\n".join([
        f"Affine on the image vs on its shuffled pixels (weight rows shuffled alike): same outputs: {same_fc}",
        f"Convolution on the image vs on its shuffled pixels: same outputs: {same_conv}"])


# -- exercises ---------------------------------------------------------------------------------

@answer_check
def check_conv_value(answer) -> bool:
    """Exercise 1: the output at (3, 0), the bottom-left corner, of the book's example with
    padding 1, stride 1 and no bias, computed by hand (the lesson prints only the output at
    (0, 1)). A whole number, exact (8 and 8.0 both pass)."""
    layer = Convolution(BOOK_FILTER[None, None], np.zeros(1), stride=1, pad=1)
    right = float(layer.forward(BOOK_INPUT[None, None])[0, 0, 3, 0])
    if as_number(answer) == right:
        return report(True, f"{right:g}: the window at rows 3-5, columns 0-2 of the padded input.")
    return report(False, "", "pad the 4 x 4 input with a ring of zeros (6 x 6), put the filter on rows "
                             "3-5 and columns 0-2, multiply cell by cell and add the nine products.")


@answer_check
def check_conv_output_shape(answer) -> bool:
    """Exercise 2: the output shape for a batch of 10 RGB 32 x 32 images through 16 filters of
    5 x 5 with padding 2 and stride 1. A tuple, list or 1-D array."""
    got = as_shape(answer)
    right = (10, 16, 32, 32)
    if got == right:
        return report(True, "(N, FN, OH, OW) = (10, 16, 32, 32): one channel per filter.")
    if got is not None and len(got) == 4 and got[1] == 3:
        hint = "the output has one channel per FILTER (FN), not per input channel."
    elif got is not None and len(got) == 4 and got[2:] == (28, 28):
        hint = "padding 2 adds 2 on EACH side: (32 + 2*2 - 5)/1 + 1."
    else:
        hint = "the output is (N, FN, OH, OW); N and FN come straight from the question."
    return report(False, "", hint)


@answer_check
def check_conv_param_count(answer) -> bool:
    """Exercise 3: how many learnable numbers (weights and biases) the layer of exercise 2 has.
    A whole number, exact."""
    right = 16 * 3 * 5 * 5 + 16
    got = as_number(answer)
    if got == right:
        return report(True, f"{right} = 16*3*5*5 weights + 16 biases; the image size does not matter.")
    if got == 16 * 3 * 5 * 5:
        return report(False, "", "add the biases: one per filter.")
    if got == 16 * 5 * 5 + 16:
        return report(False, "", "each filter spans all C = 3 input channels.")
    return report(False, "", "W has shape (FN, C, FH, FW) and b has shape (FN,); count both.")


# ------------------------------------------------ implement it: conv2d_naive (the check) --
# The exercise's stub is STUBS["conv2d_naive"] and its solution solutions.conv2d_naive; the
# machinery every implement-it check shares is convlab.lessons.implement.

from ..layers import Convolution  # noqa: E402
from .check import answer_check  # noqa: E402
from .implement import compare, conv_cases, pad_one_side, run_check, size_cause  # noqa: E402

__all__ += ["check_conv2d_naive"]

def _conv(x, W, b, S, P):
    return Convolution(W, b, S, P).forward(x).copy()                  # (N, FN, OH, OW)


def _conv_shape_cause(got, g):
    N, C, FN = g["N"], g["C"], g["FN"]
    if len(got) != 4:
        return "out must be 4-D, one axis each for the images, filters, rows and columns"
    if got[0] != N:
        return "keep one output per image: the first axis is N = x.shape[0]"
    if got[1] != FN:
        return ("the output has one channel per filter: axis 1 is FN = W.shape[0]" +
                (", not C" if got[1] == C else ""))
    return size_cause(got[2:], g)


def _conv_explain(c, got, want):
    x, W, b = c.args
    g, S, P = c.geo, c.geo["S"], c.geo["P"]
    OH, OW = want.shape[2:]
    variants = [
        ("bias forgotten: add b[f] to every output of filter f", lambda: _conv(x, W, 0 * b, S, P)),
        ("kernel flipped: the layer computes cross-correlation, W[f, c, i, j] multiplies the "
         "window's own pixel (i, j), no flip (a textbook convolution would flip the kernel)",
         lambda: _conv(x, W[:, :, ::-1, ::-1], b, S, P)),
        ("bias added once per channel: add b[f] once, after summing over all C channels",
         lambda: _conv(x, W, b, S, P) + (g["C"] - 1) * b[None, :, None, None]),
        ("only the last channel counts: sum over all C input channels (+=, not = inside the "
         "channel loop)", lambda: _conv(x[:, -1:], W[:, -1:], b, S, P)),
        ("only the first channel counts: sum over all C input channels",
         lambda: _conv(x[:, :1], W[:, :1], b, S, P)),
        ("stride ignored inside the loop: the window of output (oy, ox) starts at row "
         "oy*stride, column ox*stride", lambda: _conv(x, W, b, 1, P)[:, :, :OH, :OW]),
        ("padding on one side only: pad adds `pad` zeros at the top AND the bottom, left AND right",
         lambda: _conv(pad_one_side(x, P), W, b, S, 0)),
        ("filter rows and columns swapped: W[f, c, i, j] has row i (0..FH-1) and column j",
         lambda: _conv(x, W.transpose(0, 1, 3, 2), b, S, P)),
        ("W's axes mixed up: W is (FN, C, FH, FW), filter first, channel second",
         lambda: _conv(x, W.transpose(1, 0, 2, 3), b, S, P)),
    ]
    return compare("out", "(N, FN, OH, OW)", got, want, variants, lambda s: _conv_shape_cause(s, g))


@answer_check
def check_conv2d_naive(fn):
    """Lesson 2: ``fn(x, W, b, stride=1, pad=0) -> out (N, FN, OH, OW)`` (see STUBS['conv2d_naive'])
    against convlab's ``Convolution.forward``; loops are allowed."""
    return run_check(fn, "conv2d_naive", conv_cases(), ("x", "W", "b"),
                     lambda c: _conv(*c.args, c.geo["S"], c.geo["P"]), _conv_explain,
                     "your conv2d_naive agrees with convlab's Convolution.forward")
