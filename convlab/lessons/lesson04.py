"""Lesson 4, im2col: the views, explorers, figures and answer checks of notebooks/04_im2col.ipynb.

Views (each returns a ``View``: text + figure): ``im2col_view`` (a tiny input, its windows and the
column matrix they become) and ``memory_view`` (what im2col's copy costs, and the coverage count
map col2im(im2col(ones))). Explorers: ``im2col_explorer`` and ``memory_explorer``. Checks:
``check_col_shape`` and ``check_coverage``; the implement-it checks ``check_im2col`` and ``check_col2im``
(on ``implement``'s machinery). The numbers come from ``convlab.im2col``,
``convlab.arith`` and ``convlab.analysis.im2col_ratio``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..analysis import im2col_ratio
from ..arith import conv_output_size
from ..im2col import col2im, fold, im2col, windows
from . import ui
from .check import answer_check, as_array, as_shape, report
from .draw import cell_text, cells, finish, lighten, window_colors
from .implement import (col2im_overwriting, col_cases, compare, fold_loop, out_size, pad_one_side,
                        run_check, size_cause)
from .ui import View

__all__ = ["im2col_view", "memory_view", "im2col_explorer", "memory_explorer", "plot_im2col",
           "plot_coverage", "check_col_shape", "check_coverage", "check_im2col",
           "check_col2im"]

_H = 4                                   # side of im2col_view's tiny input


# ----------------------------------------------------------------------------------- views --

def _cell_list(v):
    return "[" + ", ".join(str(int(a)) if float(a).is_integer() else f"{a:.2f}" for a in v) + "]"


def im2col_view(channels=1, filter_size=2, stride=1, pad=0, row=0) -> View:
    """im2col of a tiny (1, channels, 4, 4) input numbered 1, 2, 3, ...; ``row`` picks the window
    drawn bold (clamped to the rows that exist)."""
    H = _H
    x = np.arange(1, channels * H * H + 1, dtype=float).reshape(1, channels, H, H)  # (N, C, H, W)
    if filter_size > H + 2 * pad:
        return View(f"filter {filter_size} does not fit into the padded input {H} + 2*{pad}: no windows.")
    OH = conv_output_size(H, filter_size, stride, pad)
    OW = conv_output_size(H, filter_size, stride, pad)                  # = OH: the input is square
    col = im2col(x, filter_size, filter_size, stride, pad)              # (N*OH*OW, C*FH*FW)
    n = col.shape[0]
    r = min(max(row, 0), n - 1)
    oy, ox = divmod(r, OW)                                              # rows run (oh, ow), ow fastest
    text = (f"x: {x.shape} = (N, C, H, W), filter {filter_size}x{filter_size}, stride {stride}, pad {pad}\n"
            f"OH = OW = ({H} + 2*{pad} - {filter_size}) // {stride} + 1 = {OH}\n"
            f"col: {col.shape} = (N*OH*OW, C*FH*FW) = (1*{OH}*{OH}, {channels}*{filter_size}*{filter_size})\n"
            f"row {r} is the window of output ({oy}, {ox}): {_cell_list(col[r])}")
    if r != row:
        text += f"\n(row {row} does not exist: there are only {n} rows; showing row {r})"
    return View(text, plot_im2col(x, filter_size, stride, pad, r, col=col))


def memory_view(H=28, filter_size=5, stride=1, pad=0) -> View:
    """The memory cost of im2col on a (1, 3, H, H) input as col size / input size, and the
    coverage count map: how many windows copy each pixel."""
    N, C = 1, 3
    if filter_size > H + 2 * pad:
        return View(f"filter {filter_size} does not fit into the padded input {H} + 2*{pad} = "
                    f"{H + 2 * pad}: no windows, nothing to copy. Make the filter smaller or the "
                    f"input larger.")
    x = np.ones((N, C, H, H))                                           # (N, C, H, W)
    col = im2col(x, filter_size, filter_size, stride, pad)              # (N*OH*OW, C*FH*FW)
    count = col2im(col, x.shape, filter_size, filter_size, stride, pad)[0, 0]   # (H, W)
    ratio = col.size / x.size
    fs = [f for f in range(1, 12) if f <= H + 2 * pad]
    curve = (fs, [im2col_ratio(H, f, stride, pad) for f in fs])
    text = (f"input (N, C, H, W) = {x.shape}: {x.size:,} numbers\n"
            f"col (N*OH*OW, C*FH*FW) = {col.shape}: {col.size:,} numbers\n"
            f"memory ratio col / input = {ratio:.2f} = OH*OW / (H*W) * FH*FW = "
            f"{col.shape[0]} / {H * H} * {filter_size * filter_size}\n"
            f"mean windows per pixel (count map) = {count.mean():.2f}")
    if col.size > count.sum() * C:
        text += (f"; the other {ratio - count.mean():.2f} numbers per input pixel are copies of "
                 f"padding zeros")
    setting = f"\n(H = W = {H}, stride {stride}, pad {pad})"
    return View(text, plot_coverage(count, curve, (filter_size, ratio), setting))


# ------------------------------------------------------------------------------- explorers --

def im2col_explorer():
    """Channels, filter size, stride, padding and the highlighted row of the column matrix; the
    row slider's maximum follows the number of rows, so every row it reaches exists."""
    controls = {"channels": ui.slider("channels", 1, 1, 2), "filter_size": ui.slider("filter", 2, 2, 3),
                "stride": ui.slider("stride", 1, 1, 2), "pad": ui.slider("padding", 0, 0, 1),
                "row": ui.slider("row", 0, 0, 8)}

    def update_rows(_=None):
        OH = conv_output_size(_H, controls["filter_size"].value, controls["stride"].value,
                              controls["pad"].value)
        controls["row"].max = OH * OH - 1
    for name in ("filter_size", "stride", "pad"):
        controls[name].observe(update_rows, names="value")
    update_rows()
    return ui.explorer(im2col_view, controls)


def memory_explorer():
    """H, filter size, stride and padding for the memory ratio and the count map; the filter
    slider's maximum follows H + 2*pad, so the filter always fits."""
    controls = {"H": ui.slider("H", 28, 4, 32), "filter_size": ui.slider("filter", 5, 1, 11),
                "stride": ui.slider("stride", 1, 1, 4), "pad": ui.slider("padding", 0, 0, 3)}

    def update_filter(_=None):
        controls["filter_size"].max = min(11, controls["H"].value + 2 * controls["pad"].value)
    for name in ("H", "pad"):
        controls[name].observe(update_filter, names="value")
    update_filter()
    return ui.explorer(memory_view, controls)


# --------------------------------------------------------------------------------- figures --

def plot_im2col(x, filter_size, stride, pad, row=0, col=None):
    """im2col on a tiny (1, C, H, W) input: the padded channels with every window, and the column
    matrix whose rows are coloured like their windows. Window/row ``row`` is drawn bold.
    ``col``: the column matrix ``im2col(x, filter_size, filter_size, stride, pad)`` if the caller
    has it already (default: computed here). Returns the figure."""
    x = np.asarray(x, dtype=float)
    _, C, H, W = x.shape
    F = filter_size
    if col is None:
        col = im2col(x, F, F, stride, pad)                   # (OH*OW, C*F*F)
    xp = np.pad(x[0], ((0, 0), (pad, pad), (pad, pad)))     # (C, H+2P, W+2P)
    Hp, Wp = xp.shape[1:]
    OW = conv_output_size(W, F, stride, pad)
    n = col.shape[0]
    colors = window_colors(n)
    row = min(max(row, 0), n - 1)
    gap = 1.5
    width_in = C * (Wp + gap)
    fig, ax = plt.subplots(figsize=(0.42 * (width_in + col.shape[1] + 3) + 1, 0.42 * max(Hp, n) + 1.5))
    oy, ox = divmod(row, OW)
    for c in range(C):
        x0 = c * (Wp + gap)
        shade = [[(lighten(colors[row], 0.3) if (oy * stride <= i < oy * stride + F and
                                                ox * stride <= j < ox * stride + F) else
                   ("0.88" if (i < pad or j < pad or i >= pad + H or j >= pad + W) else "white"))
                  for j in range(Wp)] for i in range(Hp)]
        cells(ax, Hp, Wp, x0=x0, face=shade, values=xp[c], fmt=cell_text, label=f"channel {c}", fontsize=8)
        for k in range(n):
            ky, kx = divmod(k, OW)
            ax.add_patch(plt.Rectangle((x0 + kx * stride + 0.08, ky * stride + 0.08), F - 0.16, F - 0.16,
                                       fill=False, edgecolor=colors[k], lw=3 if k == row else 0.8,
                                       alpha=1 if k == row else 0.6))
    cx = width_in + 2
    fc = [[lighten(colors[k], 0.3 if k == row else 0.7) for _ in range(col.shape[1])] for k in range(n)]
    cells(ax, *col.shape, x0=cx, face=fc, values=col, fmt=cell_text,
          label=f"col: ({n}, {col.shape[1]}) = (N*OH*OW, C*FH*FW)", fontsize=7)
    ax.add_patch(plt.Rectangle((cx, row), col.shape[1], 1, fill=False, edgecolor=colors[row], lw=3))
    for c in range(1, C):
        ax.plot([cx + c * F * F] * 2, [0, n], color="k", lw=1.5)
    for k in range(n):
        ax.text(cx - 0.2, k + 0.5, str(k), ha="right", va="center", fontsize=7, color="0.3")
    finish(ax, cx + col.shape[1], max(Hp, n), above=1.4)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


def plot_coverage(count, ratio_curve=None, current=None, setting=""):
    """Left: how many windows cover each input pixel (col2im(im2col(ones))). Right (optional):
    the memory ratio col size / input size against the filter size, ``current`` marked;
    ``setting`` is appended to that plot's title. ``ratio_curve``: (filter sizes, ratios).
    Returns the figure."""
    count = np.asarray(count)
    ncols = 1 if ratio_curve is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4.2), squeeze=False)
    ax = axes[0, 0]
    im = ax.imshow(count, cmap="viridis", vmin=0)
    if count.shape[0] <= 12 and count.shape[1] <= 12:
        for (i, j), v in np.ndenumerate(count):
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=8,
                    color="white" if v < 0.6 * max(count.max(), 1) else "black")
    ax.set_title("windows covering each pixel\n(col2im(im2col(ones)))", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046)
    if ratio_curve is not None:
        ax = axes[0, 1]
        fs, rs = ratio_curve
        ax.plot(fs, rs, "o-", color="C0")
        if current is not None:
            ax.plot(*current, "o", color="C3", ms=12, label="current setting")
            ax.legend()
        ax.set_xlabel("filter size FH = FW")
        ax.set_ylabel("col size / input size")
        ax.set_title(f"memory cost of im2col{setting}", fontsize=10)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.04, right=0.97, top=0.86, bottom=0.14, wspace=0.3)
    return fig


# -------------------------------------------------------------------------------- exercises --

@answer_check
def check_col_shape(answer) -> bool:
    """Exercise 1: the shape of im2col(x, 3, 3, stride=1, pad=1) for x of shape (8, 3, 32, 32);
    a tuple, list or array of two whole numbers."""
    N, C, H, W, FH, FW, S, P = 8, 3, 32, 32, 3, 3, 1, 1
    want = (N * conv_output_size(H, FH, S, P) * conv_output_size(W, FW, S, P), C * FH * FW)
    got = as_shape(answer)
    if got == want:
        return report(True, f"{want}: one row per output position (8*32*32), one column per weight (3*3*3).")
    if got == want[::-1]:
        hint = "rows and columns are swapped: one ROW per output position, one COLUMN per weight."
    else:
        hint = ("rows = N*OH*OW and columns = C*FH*FW; with pad 1 and a 3x3 filter OH = OW = 32. "
                "Give two numbers (rows, columns).")
    return report(False, "", hint)


@answer_check
def check_coverage(answer) -> bool:
    """Exercise 2: the coverage count map of a 5x5 input under a 3x3 filter, stride 2, pad 0
    (how many windows contain each pixel), as a 5x5 list of lists or array. (The lesson prints
    the map for stride 1 on 4x4, so this one has to be worked out.)"""
    ones = np.ones((1, 1, 5, 5))                                             # (N, C, H, W)
    want = col2im(im2col(ones, 3, 3, 2), ones.shape, 3, 3, 2)[0, 0]          # (H, W)
    got = as_array(answer, ndim=2)
    ok = got is not None and got.shape == want.shape and np.array_equal(got, want)
    if ok or got is None or got.shape != want.shape:
        hint = ("with stride 2 a 3x3 filter fits 2x2 times into 5x5 (rows 0-2 and 2-4, columns 0-2 "
                "and 2-4); for each pixel, count how many of those four windows contain it. "
                "The answer has shape (5, 5).")
    else:
        hint = ("count per pixel how many of the four windows (rows 0-2 or 2-4, columns 0-2 or 2-4) "
                "contain it: only row 2 and column 2 are shared by two windows.")
    return report(ok, f"the count map is {want.astype(int).tolist()}: col2im(im2col(x)) is x times this.",
                  hint)


# ------------------------------------------------------------------------ lesson 4: im2col --

def _rows(v):
    """(N, OH, OW, C, FH, FW)-ordered windows -> (N*OH*OW, C*FH*FW)."""
    return v.reshape(v.shape[0] * v.shape[1] * v.shape[2], -1)


def _im2col_shape_cause(got, g):
    N, C, FH, FW = g["N"], g["C"], g["FH"], g["FW"]
    OH, OW = out_size(g["H"], FH, g["S"], g["P"]), out_size(g["W"], FW, g["S"], g["P"])
    if tuple(got) == (C * FH * FW, N * OH * OW):
        return ("transposed: the book's layout has one ROW per output position (N*OH*OW rows) "
                "and one column per weight (C*FH*FW columns); return col.T")
    if len(got) == 6:
        return "still 6-D: reshape to 2-D rows (N*OH*OW) by columns (C*FH*FW)"
    if len(got) != 2:
        return "col must be 2-D"
    if got[1] == FH * FW and C > 1:
        return "each row holds the window in ALL C channels: C*FH*FW columns"
    if got[1] == C * FH * FW and got[0] % N == 0:
        for oh in range(1, got[0] + 1):            # which (OH', OW') gives this many rows
            if got[0] // N % oh == 0:
                cause = size_cause((oh, got[0] // N // oh), g)
                if cause and (oh, got[0] // N // oh) != (OH, OW):
                    return cause
    return None


def _im2col_explain(c, got, want):
    x, FH, FW = c.args
    S, P = c.geo["S"], c.geo["P"]
    OH, OW = out_size(c.geo["H"], FH, S, P), out_size(c.geo["W"], FW, S, P)
    v = windows(x, FH, FW, S, P)                                          # (N, C, OH, OW, FH, FW)
    variants = [
        ("reshaped without moving the axes: bring the windows to (N, OH, OW, C, FH, FW) with "
         "transpose before reshaping (the book's (N, C, FH, FW, OH, OW) array needs "
         ".transpose(0, 4, 5, 1, 2, 3))", lambda: v.transpose(0, 1, 4, 5, 2, 3).reshape(want.shape)),
        ("columns in (FH, FW, C) order: the book's columns go channel first, c*FH*FW + i*FW + j",
         lambda: _rows(v.transpose(0, 2, 3, 4, 5, 1))),
        ("each window flattened column by column: use row-major order, column i*FW + j within "
         "a channel", lambda: _rows(v.transpose(0, 2, 3, 1, 5, 4))),
        ("rows in the wrong order: row n*OH*OW + oy*OW + ox, so ox runs fastest, then oy",
         lambda: _rows(v.transpose(0, 3, 2, 1, 4, 5))),
        ("rows in the wrong order: images first, row n*OH*OW + oy*OW + ox",
         lambda: _rows(v.transpose(2, 3, 0, 1, 4, 5))),
        ("transposed: the book's layout has one ROW per output position and one column per "
         "weight; return col.T", lambda: want.T),
        ("stride ignored: the window of output (oy, ox) starts at row oy*stride, column ox*stride",
         lambda: _rows(windows(x, FH, FW, 1, P)[:, :, :OH, :OW].transpose(0, 2, 3, 1, 4, 5))),
        ("padding on one side only: pad adds `pad` zeros at the top AND the bottom, left AND right",
         lambda: _rows(windows(pad_one_side(x, P), FH, FW, S, 0).transpose(0, 2, 3, 1, 4, 5))),
    ]
    return compare("col", "(N*OH*OW, C*FH*FW)", got, want, variants,
                    lambda s: _im2col_shape_cause(s, c.geo))


@answer_check
def check_im2col(fn):
    """Lesson 4: ``fn(x, filter_h, filter_w, stride=1, pad=0) -> col (N*OH*OW, C*FH*FW)``, the
    book's layout (see STUBS['im2col']), against ``convlab.im2col.im2col``."""
    return run_check(fn, "im2col", col_cases(), ("x",),
                     lambda c: im2col(*c.args, c.geo["S"], c.geo["P"]), _im2col_explain,
                     "your im2col agrees with convlab.im2col.im2col (the book's layout)")


# ------------------------------------------------------------------------ lesson 4: col2im --

def _col2im_explain(c, got, want):
    col, shape, FH, FW = c.args
    g, S, P = c.geo, c.geo["S"], c.geo["P"]
    N, C = g["N"], g["C"]
    OH, OW = out_size(g["H"], FH, S, P), out_size(g["W"], FW, S, P)

    def win(order):
        """col read as if its axes were ``order`` (a wrong layout), as (N, C, OH, OW, FH, FW)."""
        sizes = {"N": N, "OH": OH, "OW": OW, "C": C, "FH": FH, "FW": FW}
        a = col.reshape([sizes[k] for k in order])
        return a.transpose([order.index(k) for k in ("N", "C", "OH", "OW", "FH", "FW")])

    right = win(("N", "OH", "OW", "C", "FH", "FW"))
    assigned = "overlapping windows assigned instead of summed: use += (col2im adds the windows up)"
    variants = [
        (assigned, lambda: col2im_overwriting(col, shape, FH, FW, S, P)),
        (assigned, lambda: fold_loop(right, shape, S, P, assign=True)),
        ("overlapping windows averaged: col2im SUMS them (it is im2col's transpose, not its "
         "inverse: a pixel covered by k windows gets k contributions)",
         lambda: want / np.maximum(col2im(im2col(np.ones(shape), FH, FW, S, P), shape, FH, FW,
                                           S, P), 1)),
        ("the padding cut off at the wrong place: drop `pad` rows and columns on EACH side, "
         "img[:, :, pad:pad + H, pad:pad + W]",
         lambda: fold_loop(right, shape, S, P, crop_start=True)),
        ("stride ignored: the window of row (n, oy, ox) starts at row oy*stride, column ox*stride",
         lambda: fold_loop(right, shape, S, P, step=1)),
        ("columns read in (FH, FW, C) order: the book's columns go channel first, c*FH*FW + i*FW + j",
         lambda: fold(win(("N", "OH", "OW", "FH", "FW", "C")), shape, S, P)),
        ("each window read column by column: column i*FW + j within a channel (row-major)",
         lambda: fold(win(("N", "OH", "OW", "C", "FW", "FH")), shape, S, P)),
        ("rows read in the wrong order: row n*OH*OW + oy*OW + ox, so ox runs fastest",
         lambda: fold(win(("N", "OW", "OH", "C", "FH", "FW")), shape, S, P)),
        ("rows read in the wrong order: images first, row n*OH*OW + oy*OW + ox",
         lambda: fold(win(("OH", "OW", "N", "C", "FH", "FW")), shape, S, P)),
        ("reshaped without moving the axes: col reshapes to (N, OH, OW, C, FH, FW); transpose "
         "it to (N, C, FH, FW, OH, OW) as the book does before adding",
         lambda: fold(col.reshape(N, C, FH, FW, OH, OW).transpose(0, 1, 4, 5, 2, 3), shape, S, P)),
    ]

    def shape_cause(s):
        if len(s) != 4:
            return "img must be 4-D (N, C, H, W), the shape of input_shape"
        return size_cause(s[2:], g, cropped_input=True)
    return compare("img", "(N, C, H, W)", got, want, variants, shape_cause)


@answer_check
def check_col2im(fn):
    """Lesson 4: ``fn(col, input_shape, filter_h, filter_w, stride=1, pad=0) -> img (N, C, H, W)``
    (see STUBS['col2im']) against ``convlab.im2col.col2im``: overlapping windows add up."""
    return run_check(fn, "col2im", col_cases(col2im=True), ("col",),
                     lambda c: col2im(*c.args, c.geo["S"], c.geo["P"]), _col2im_explain,
                     "your col2im agrees with convlab.im2col.col2im (overlaps summed)")
