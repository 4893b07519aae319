"""Lesson 3, pooling: the views, explorers, figures and answer checks of notebooks/03_pooling.ipynb.

Views (each returns a ``View``: text + figure): ``pooling_view`` (windows, padding and output of
one pooling setting) and ``shift_view`` (how many values change when the input moves right, and
by how much: ``shift_change``). Explorers: ``pooling_explorer`` and ``shift_explorer``. Checks:
``check_max_pool`` and ``check_pool_shape``; the implement-it check ``check_max_pool_naive`` (on
``implement``'s machinery). Every number comes from the library's ``Pooling`` layer and
``convlab.arith``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..arith import conv_output_size, uncovered
from ..layers import Pooling
from . import ui
from .check import answer_check, as_array, as_shape, report
from .draw import cell_text, cells, finish, lighten, window_colors
from .implement import compare, pool_cases, run_check, size_cause
from .ui import View

__all__ = ["POOLING_INPUT", "SHIFT_INPUT", "POOL_EXERCISE_X", "pooling_view", "shifted_right",
           "shift_change", "shift_view", "pooling_explorer", "shift_explorer", "plot_pooling", "plot_shift",
           "check_max_pool", "check_pool_shape",
           "check_max_pool_naive"]

#: The explorer's 6x6 input map (H, W) and the 12x12 map of the shift experiment.
POOLING_INPUT = np.random.default_rng(3).integers(0, 10, (6, 6)).astype(float)   # (H, W)
SHIFT_INPUT = np.random.default_rng(0).integers(0, 100, (12, 12)).astype(float)   # (H, W)

#: Exercise 1's input: its 2x2 max pooling with stride 2 is computed by hand.
POOL_EXERCISE_X = np.array([[1, 3, 2, 0],
                            [4, 2, 1, 5],
                            [0, 6, 3, 3],
                            [7, 1, 2, 8]], dtype=float)                 # (H, W)


# ----------------------------------------------------------------------------------- views --

def pooling_view(pool=2, stride=2, pad=0, mode="max", x=None) -> View:
    """Pool ``x`` (default: the lesson's 6x6 map) with a pool x pool window: text and drawing.

    Never raises for pool >= 1, stride >= 1, pad >= 0: a window that does not fit, or a pad the
    layer refuses (more than half the window, as in PyTorch), is drawn and explained.
    """
    x = POOLING_INPUT if x is None else np.asarray(x, dtype=float)
    H, W = x.shape
    lines = [f"{mode} pooling, window {pool}x{pool}, stride {stride}, pad {pad}, input {H}x{W}"]
    if pool > H + 2 * pad or pool > W + 2 * pad:
        lines.append(f"The {pool}x{pool} window does not fit into the padded {H + 2 * pad}x{W + 2 * pad} "
                     f"input: no output. Choose a smaller window or more padding.")
        return View("\n".join(lines), plot_pooling(x, pool, stride, pad, mode))
    if pad > pool // 2:                                  # the rule Pooling enforces
        lines.append(f"pad {pad} is more than half the window ({pool} // 2 = {pool // 2}): a corner window "
                     f"would hold almost only padding. Pooling refuses this with a ValueError "
                     f"(PyTorch does the same). Choose pad <= {pool // 2}.")
        return View("\n".join(lines), plot_pooling(x, pool, stride, pad, mode))
    OH, OW = conv_output_size(H, pool, stride, pad), conv_output_size(W, pool, stride, pad)
    lines.append(f"Output size: OH = ({H} + 2*{pad} - {pool}) // {stride} + 1 = {OH}, OW = {OW}")
    layer = Pooling(pool, pool, stride, pad, mode)
    y = layer.forward(x[None, None])[0, 0]                               # (OH, OW)
    left = uncovered(H, pool, stride, pad)
    if left:
        lines.append(f"The last {left} row(s) and column(s) of the padded input are in no window: "
                     f"pooling ignores them.")
    if pad and mode == "max":
        lines.append("Padding holds -inf, so it can never be a window's maximum.")
    elif pad:
        lines.append("Padding holds 0 and counts in the mean (as in PyTorch's default).")
    arg = layer.arg_max[0, 0] if mode == "max" else None                 # (OH, OW)
    return View("\n".join(lines), plot_pooling(x, pool, stride, pad, mode, y, arg))


def shifted_right(x, shift):
    """``x`` (H, W) moved ``shift`` pixels to the right; the columns that come in are 0."""
    x = np.asarray(x)
    out = np.zeros_like(x)
    out[:, shift:] = x[:, :x.shape[1] - shift]
    return out


def shift_change(x, shift, pool=3, mode="max"):
    """How much ``x`` (H, W) changes, as seen after pooling, when it moves ``shift`` pixels right.

    ``mode``: "max" or "avg" (pool x pool windows, stride = pool), or None for no pooling (the
    input itself). Returns (changed, total, size): how many values differ at all, out of how
    many, and the SIZE of the change: mean |after - before| / mean |before| (0 = nothing moved,
    about 1 = as large as the values themselves).
    """
    x = np.asarray(x, dtype=float)
    xs = shifted_right(x, shift)
    if mode is not None:
        x, xs = (Pooling(pool, pool, mode=mode).forward(a[None, None])[0, 0] for a in (x, xs))
    changed = int(np.sum(~np.isclose(x, xs)))
    return changed, x.size, float(np.abs(xs - x).sum() / np.abs(x).sum())


def shift_view(shift=1, pool=3, mode="max", x=None) -> View:
    """How much the values change when the input moves ``shift`` pixels right: before and after
    pool x pool pooling (stride = pool), counted (how many change) and measured (by how much)."""
    x = SHIFT_INPUT if x is None else np.asarray(x, dtype=float)
    xs = shifted_right(x, shift)
    y = Pooling(pool, pool, mode=mode).forward(x[None, None])[0, 0]      # (OH, OW)
    ys = Pooling(pool, pool, mode=mode).forward(xs[None, None])[0, 0]
    n_in, _, s_in = shift_change(x, shift, pool, None)
    n_out, _, s_out = shift_change(x, shift, pool, mode)
    text = (f"shift {shift} pixel(s) right:\n"
            f"  input (no pooling):     {n_in:3d} of {x.size} values change ({100 * n_in / x.size:.0f}%), "
            f"size of the change {100 * s_in:.0f}% of the values' size\n"
            f"  after {pool}x{pool} {mode} pooling: {n_out:3d} of {y.size} outputs change "
            f"({100 * n_out / y.size:.0f}%), size of the change {100 * s_out:.0f}%")
    return View(text, plot_shift(x, xs, y, ys, mode, pool))


# ------------------------------------------------------------------------------- explorers --

def pooling_explorer():
    """Window, stride, padding and mode over the 6x6 map. The padding slider reaches settings the
    layer refuses on purpose: the view draws and explains them."""
    return ui.explorer(pooling_view, {"pool": ui.slider("window", 2, 1, 4),
                                      "stride": ui.slider("stride", 2, 1, 4),
                                      "pad": ui.slider("padding", 0, 0, 2),
                                      "mode": ui.choice("mode", ["max", "avg"])})


def shift_explorer():
    """Shift (0-2 pixels), window (2 or 3) and mode for ``shift_view``."""
    return ui.explorer(shift_view, {"shift": ui.slider("shift", 1, 0, 2),
                                    "pool": ui.slider("window", 3, 2, 3),
                                    "mode": ui.choice("mode", ["max", "avg"])})


# --------------------------------------------------------------------------------- figures --

def plot_pooling(x, pool, stride, pad, mode="max", out=None, arg=None):
    """Input (with its padding ring) and the pooling windows on the left, the output on the right.

    ``x``: 2-D input; ``out``: the pooled 2-D output or None (an invalid setting: only the input
    is drawn); ``arg``: (OH, OW) index of each window's winning cell (max pooling) or None.
    Returns the figure.
    """
    x = np.asarray(x, dtype=float)
    H, W = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.full((H + 2 * pad, W + 2 * pad), fill)                      # (H + 2P, W + 2P)
    xp[pad:pad + H, pad:pad + W] = x
    Hp, Wp = xp.shape
    shade = [["0.85" if (i < pad or j < pad or i >= pad + H or j >= pad + W) else "white"
              for j in range(Wp)] for i in range(Hp)]
    OH, OW = (0, 0) if out is None else out.shape
    colors = window_colors(OH * OW)
    gap = 2
    fig, ax = plt.subplots(figsize=(0.5 * (Wp + gap + max(OW, 1)) + 1, 0.5 * max(Hp, OH) + 1.2))
    title = f"input {H}x{W}" + (f" + padding {pad} ({'-inf' if mode == 'max' else '0'}, grey)" if pad else "")
    cells(ax, Hp, Wp, face=shade, values=xp, fmt=cell_text, label=title, fontsize=8)
    for k in range(OH * OW):
        oy, ox = divmod(k, OW)
        y, xx = oy * stride, ox * stride
        inset = 0.06 + 0.1 * (k % 3)      # stagger outlines so overlapping windows stay visible
        ax.add_patch(plt.Rectangle((xx + inset, y + inset), pool - 2 * inset, pool - 2 * inset,
                                   fill=False, edgecolor=colors[k], lw=2))
        if arg is not None:
            ay, ax_ = divmod(int(arg[oy, ox]), pool)
            ax.add_patch(plt.Circle((xx + ax_ + 0.5, y + ay + 0.5), 0.42, fill=False,
                                    edgecolor=colors[k], lw=1.5))
    if out is not None:
        fc = [[lighten(colors[i * OW + j]) for j in range(OW)] for i in range(OH)]
        cells(ax, OH, OW, x0=Wp + gap, face=fc, values=out, fmt=cell_text,
              label=f"{mode} pooling -> {OH}x{OW}", fontsize=8)
    finish(ax, Wp + gap + max(OW, 1), max(Hp, OH), above=1.4)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


def plot_shift(x, xs, y, ys, mode="max", pool=None):
    """Robustness to shifts: input and shifted input above, their pooled outputs below; in the
    shifted panels every value that differs from the unshifted one is red. ``pool``: draw the
    pooling windows' borders on the inputs. Returns the figure."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    for row, (a, b, what) in enumerate([(x, xs, "input"), (y, ys, f"after {mode} pooling")]):
        changed = ~np.isclose(a, b)
        for col, m in enumerate((a, b)):
            ax = axes[row, col]
            fc = [["#f4a6a6" if col and changed[i, j] else "white" for j in range(m.shape[1])]
                  for i in range(m.shape[0])]
            size = np.abs(b - a).sum() / max(np.abs(a).sum(), 1e-300)
            title = (f"{what}, shifted: {changed.sum()} of {changed.size} changed (red),\n"
                     f"by {100 * size:.0f}% of the values' size" if col else what)
            cells(ax, *m.shape, face=fc, values=m, fmt=cell_text, label=title,
                  fontsize=7 if m.shape[1] > 8 else 9)
            if pool and row == 0:
                for k in range(0, m.shape[0] + 1, pool):
                    ax.plot([0, m.shape[1]], [k, k], color="k", lw=1.5)
                for k in range(0, m.shape[1] + 1, pool):
                    ax.plot([k, k], [0, m.shape[0]], color="k", lw=1.5)
            finish(ax, m.shape[1], m.shape[0], above=1.4)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


# -------------------------------------------------------------------------------- exercises --

@answer_check
def check_max_pool(answer) -> bool:
    """Exercise 1: 2x2 max pooling, stride 2, of POOL_EXERCISE_X, as a 2x2 list of lists or array."""
    want = Pooling(2, 2, stride=2).forward(POOL_EXERCISE_X[None, None])[0, 0]   # (2, 2)
    got = as_array(answer, ndim=2)
    ok = got is not None and got.shape == want.shape and np.array_equal(got, want)
    return report(ok, f"2x2 max pooling with stride 2 gives {want.astype(int).tolist()}.",
                  "split the 4x4 input into four non-overlapping 2x2 blocks and keep the largest value "
                  "of each; the answer has shape (2, 2).")


@answer_check
def check_pool_shape(answer) -> bool:
    """Exercise 2: the output shape of 2x2 max pooling, stride 2, on an (N, C, H, W) =
    (10, 16, 24, 24) batch; a tuple, list or array of four whole numbers."""
    N, C, H, W = 10, 16, 24, 24
    want = (N, C, conv_output_size(H, 2, 2), conv_output_size(W, 2, 2))  # (N, C, OH, OW)
    got = as_shape(answer)
    if got == want:
        return report(True, f"{want}: N and C are untouched, H and W are halved.")
    if got is not None and len(got) == 4 and got[:2] != (N, C):
        hint = "pooling works on each channel separately, so N = 10 and C = 16 stay as they are."
    else:
        hint = ("pooling works on each channel separately, so N and C stay; "
                "OH = (24 - 2) // 2 + 1. Give four numbers (N, C, OH, OW).")
    return report(False, "", hint)


# ---------------------------------------------------------------- lesson 3: max_pool_naive --

def _pool(x, PH, PW, S, P, mode="max"):
    return Pooling(PH, PW, S, P, mode).forward(x).copy()              # (N, C, OH, OW)


def _pool_shape_cause(got, g):
    if len(got) != 4:
        return "out must be 4-D (N, C, OH, OW)"
    if tuple(got[:2]) != (g["N"], g["C"]):
        return "pooling keeps N and C: each channel of each image is pooled on its own"
    return size_cause(got[2:], g, window="window")


def _zero_padded(x, P):
    return np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))


def _pool_explain(c, got, want):
    x, PH, PW = c.args
    S, P = c.geo["S"], c.geo["P"]
    OH, OW = want.shape[2:]
    variants = [
        ("padded with 0 instead of -inf: where every real number in a window is negative the "
         "padding's 0 wins; pad with -inf so padding never wins",
         lambda: _pool(_zero_padded(x, P), PH, PW, S, 0)),
        ("that is the mean of each window (average pooling); take the max",
         lambda: _pool(x, PH, PW, S, P, "avg")),
        ("stride ignored inside the loop: the window of output (oy, ox) starts at row "
         "oy*stride, column ox*stride", lambda: _pool(x, PH, PW, 1, P)[:, :, :OH, :OW]),
        ("max taken across channels too: pool each channel on its own (max over the window's "
         "rows and columns only)",
         lambda: np.broadcast_to(_pool(x, PH, PW, S, P).max(axis=1, keepdims=True), want.shape)),
        ("window height and width swapped: pool_h rows by pool_w columns",
         lambda: _pool(x, PW, PH, S, P)),
        ("padding on one side only: pad adds `pad` rows at the top AND the bottom",
         lambda: _pool(np.pad(x, ((0, 0), (0, 0), (0, 2 * P), (0, 2 * P)),
                              constant_values=-np.inf), PH, PW, S, 0)),
    ]
    return compare("out", "(N, C, OH, OW)", got, want, variants, lambda s: _pool_shape_cause(s, c.geo))


@answer_check
def check_max_pool_naive(fn):
    """Lesson 3: ``fn(x, pool_h, pool_w, stride=1, pad=0) -> out (N, C, OH, OW)`` (see
    STUBS['max_pool_naive']) against convlab's ``Pooling.forward`` (mode 'max'). Padding is
    -inf, as convlab's Pooling pads: padding never wins; pad is at most half the window."""
    return run_check(fn, "max_pool_naive", pool_cases(), ("x",),
                     lambda c: _pool(*c.args, c.geo["S"], c.geo["P"]), _pool_explain,
                     "your max_pool_naive agrees with convlab's Pooling.forward (max, -inf padding)")


# ------------------------------------------------------- the book's Pooling, run to see it --

class BookPooling:
    """The book's ``Pooling`` forward pass (chapter 7), re-written here so the lesson can RUN it
    rather than describe it: the output size is computed from the input WITHOUT the padding,
    while ``im2col`` (the book's, lesson 4's worked solution) pads with zeros. Forward only."""

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        from .solutions import im2col               # the book's im2col: zero padding
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)                  # no padding in it
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)  # (N*OH*OW, C*PH*PW), padded
        col = col.reshape(-1, self.pool_h * self.pool_w)                  # one window of one channel per row
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)      # (N, C, out_h, out_w)


def book_pooling_report(x, pool, stride, pad) -> str:
    """Run the book's Pooling and ours on ``x`` (N, C, H, W) with a square ``pool`` window and
    say what happened: the book's class crashes, or runs and agrees, or runs and disagrees."""
    head = f"{x.shape[2]}x{x.shape[3]} input, {pool}x{pool} window, stride {stride}, pad {pad}:"
    ours = Pooling(pool, pool, stride=stride, pad=pad).forward(x)[0, 0]
    try:
        book = BookPooling(pool, pool, stride, pad).forward(x)[0, 0]
    except ValueError:
        H, W = x.shape[2:]
        made = conv_output_size(H, pool, stride, pad) * conv_output_size(W, pool, stride, pad)
        places = int(1 + (H - pool) / stride) * int(1 + (W - pool) / stride)
        return (f"{head} the book's Pooling crashes (ValueError in its final reshape: {made} windows "
                f"per channel for {places} places); ours gives {ours.tolist()}")
    verdict = "the same" if book.shape == ours.shape and np.array_equal(book, ours) else "NOT the same"
    return (f"{head} the book's Pooling runs and gives {book.tolist()}; ours gives {ours.tolist()}: "
            f"{verdict}")
