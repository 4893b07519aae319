"""Static matplotlib figures for the lessons. Each function names the lesson that uses it.

Every figure is computed from the library's own code, so a drawing cannot disagree with the
numbers it illustrates.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# ---- lessons 0-2 ----
# Grids are drawn cell by cell: cell (r, c) occupies [c, c+1] x [r, r+1] with the y axis pointing
# down, so a drawing reads like the printed array.

from matplotlib.collections import LineCollection, PatchCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Rectangle as _Rect  # noqa: E402

from .arith import conv_output_size as _conv_out  # noqa: E402

_PAD_GREY = "#d9d9d9"
_FIRST, _LAST, _NOW = "#1f77b4", "#ff7f0e", "#d62728"


def coverage_1d(size, kernel, stride=1, pad=0, dilation=1):
    """How many windows use each position of one padded axis (length ``size + 2*pad``).

    All zeros when the filter does not fit. Taught in notebooks/01_output_size.ipynb.
    """
    padded = size + 2 * pad
    extent = dilation * (kernel - 1) + 1
    count = np.zeros(padded, dtype=int)
    if extent > padded:
        return count
    n_out = _conv_out(size, kernel, stride, pad, dilation)
    for i in range(n_out):
        count[i * stride:i * stride + extent:dilation] += 1
    return count


def coverage_map(H, W, FH, FW, pad=0, stride=1, dilation=1):
    """(H+2P, W+2P) array: how many windows use each cell of the padded input.

    The 2-D count is the outer product of the two 1-D counts, because windows are placed on a
    grid. Taught in notebooks/01_output_size.ipynb.
    """
    return np.outer(coverage_1d(H, FH, stride, pad, dilation), coverage_1d(W, FW, stride, pad, dilation))


def _cells(ax, n_rows, n_cols, x0=0.0, y0=0.0, face="white", values=None, fmt="{:g}",
           fontsize=9, lw=0.6):
    """Draw an n_rows x n_cols grid at (x0, y0). ``face`` is a colour, a function (r, c) -> colour,
    or an (n_rows, n_cols, 3) RGB array. One image plus one line collection (fast), then text."""
    if callable(face):
        rgb = np.array([[to_rgb(face(r, c)) for c in range(n_cols)] for r in range(n_rows)])
    elif isinstance(face, np.ndarray):
        rgb = face
    else:
        rgb = np.broadcast_to(np.array(to_rgb(face)), (n_rows, n_cols, 3))
    ax.imshow(rgb, extent=(x0, x0 + n_cols, y0 + n_rows, y0), interpolation="nearest", zorder=0)
    segs = [[(x0, y0 + r), (x0 + n_cols, y0 + r)] for r in range(n_rows + 1)]
    segs += [[(x0 + c, y0), (x0 + c, y0 + n_rows)] for c in range(n_cols + 1)]
    ax.add_collection(LineCollection(segs, colors="#555555", linewidths=lw, zorder=1))
    if values is not None:
        for r in range(n_rows):
            for c in range(n_cols):
                ax.text(x0 + c + 0.5, y0 + r + 0.5, fmt.format(values[r][c]), ha="center",
                        va="center", fontsize=fontsize, zorder=3)


def _outline(ax, r, c, h, w, color, x0=0.0, y0=0.0, lw=2.5, ls="-"):
    ax.add_patch(_Rect((x0 + c + 0.06, y0 + r + 0.06), w - 0.12, h - 0.12, fill=False,
                       edgecolor=color, lw=lw, ls=ls))


def _finish(ax, width, height, title=None):
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 0.3, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


def draw_output_size(H, W, FH, FW, pad=0, stride=1, dilation=1):
    """Padded input with a coverage count per cell, the first (blue) and last (orange) window,
    cells no window touches hatched red, and the OH x OW output grid. Never raises for
    integer settings >= their minimum; a filter that does not fit is drawn sticking out.

    Taught in notebooks/01_output_size.ipynb. Returns the figure.
    """
    PH, PW = H + 2 * pad, W + 2 * pad
    EH, EW = dilation * (FH - 1) + 1, dilation * (FW - 1) + 1
    fits = EH <= PH and EW <= PW
    count = coverage_map(H, W, FH, FW, pad, stride, dilation)
    OH = _conv_out(H, FH, stride, pad, dilation) if EH <= PH else 0
    OW = _conv_out(W, FW, stride, pad, dilation) if EW <= PW else 0
    is_pad = np.ones((PH, PW), dtype=bool)
    is_pad[pad:pad + H, pad:pad + W] = False

    scale = 0.32
    left_w, left_h = max(PW, EW), max(PH, EH)
    right_w = max(OW, 3)
    fig, (ax_in, ax_out) = plt.subplots(
        1, 2, figsize=(min(13, 1.5 + scale * (left_w + right_w) + 1.5), min(8, 1.6 + scale * max(left_h, OH, 3))),
        gridspec_kw={"width_ratios": [left_w + 0.6, right_w + 0.6]})

    # colour: white -> blue with the count, padding greyer, unused cells pink (hatched below)
    share = count / max(count.max(), 1)
    rgb = 1.0 - 0.55 * share[..., None] * (1.0 - np.array(to_rgb("#4292c6")))
    rgb = np.where(is_pad[..., None], rgb * 0.85, rgb)
    if fits:
        rgb = np.where((count == 0)[..., None], np.array(to_rgb("#f4cccc")), rgb)
    show_numbers = fits and max(PH, PW) <= 16
    _cells(ax_in, PH, PW, face=rgb, values=count if show_numbers else None,
           fontsize=8 if max(PH, PW) <= 12 else 6)
    if fits:
        if (count == 0).any():
            ax_in.add_collection(PatchCollection(
                [_Rect((c, r), 1, 1) for r, c in zip(*np.nonzero(count == 0))],
                facecolor="none", edgecolor=_NOW, hatch="///", lw=0, zorder=2))
        if pad:
            ax_in.add_patch(_Rect((pad, pad), W, H, fill=False, edgecolor="black", lw=1.6))
        last_r, last_c = (OH - 1) * stride, (OW - 1) * stride
        _outline(ax_in, last_r, last_c, EH, EW, _LAST)
        _outline(ax_in, 0, 0, EH, EW, _FIRST)
        if dilation > 1:  # mark the taps of the first window
            for i in range(FH):
                for j in range(FW):
                    ax_in.plot(j * dilation + 0.2, i * dilation + 0.2, "s", color=_FIRST, ms=3)
        title = (f"padded input {PH} x {PW} (grey = padding)\n"
                 "blue/number: windows per cell; red: unused")
    else:
        _outline(ax_in, 0, 0, EH, EW, _NOW, ls="--")
        title = f"padded input {PH} x {PW}: the {EH} x {EW} filter (red) does not fit"
    _finish(ax_in, left_w, left_h, title)

    if fits:
        def out_face(r, c):
            if (r, c) == (0, 0):
                return "#c6dbef"
            return "#fdd0a2" if (r, c) == (OH - 1, OW - 1) else "white"
        _cells(ax_out, OH, OW, face=out_face)
        _finish(ax_out, right_w, max(OH, 3), f"output OH x OW = {OH} x {OW}")
    else:
        ax_out.text(0.5, 0.5, "no output:\nthe filter\ndoes not fit", ha="center", va="center",
                    transform=ax_out.transAxes, color=_NOW)
        _finish(ax_out, right_w, 3, "output")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.86, wspace=0.08)
    return fig


def draw_conv_step(x, w, out, pad, stride, step, bias=0.0):
    """One step of a single-channel convolution: the padded input with the current window, the
    filter, the elementwise products, and the output filled in up to this step.

    ``x`` (H, W), ``w`` (FH, FW), ``out`` (OH, OW) the layer's result (bias included); ``step``
    counts windows row by row from 0. Taught in notebooks/02_convolution.ipynb. Returns the figure.
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
        inside = r0 <= r < r0 + FH and c0 <= c < c0 + FW
        if inside:
            return "#fde0dd"
        return _PAD_GREY if (r < pad or c < pad or r >= pad + H or c >= pad + W) else "white"
    _cells(ax_x, PH, PW, face=x_face, values=xp)
    unused = coverage_map(H, W, FH, FW, pad, stride) == 0               # (H+2P, W+2P)
    if unused.any():
        ax_x.add_collection(PatchCollection(
            [_Rect((c, r), 1, 1) for r, c in zip(*np.nonzero(unused))],
            facecolor="none", edgecolor=_NOW, hatch="///", lw=0, zorder=2))
    _outline(ax_x, r0, c0, FH, FW, _NOW)
    _finish(ax_x, PW, PH, f"input (padding {pad}, stride {stride})"
            + ("\nred hatch: never used" if unused.any() else ""))

    _cells(ax_w, FH, FW, face="#e5f5e0", values=w)
    _finish(ax_w, FW, max(FH, OH), "filter")

    _cells(ax_p, FH, FW, face="#fde0dd", values=prod)
    _finish(ax_p, FW, max(FH, OH), f"products, sum = {prod.sum():g}")

    def o_face(r, c):
        if (r, c) == (i, j):
            return "#fcbba1"
        return "white" if r * OW + c < step else "#f0f0f0"
    shown = [[f"{out[r, c]:g}" if r * OW + c <= step else "" for c in range(OW)] for r in range(OH)]
    _cells(ax_o, OH, OW, face=o_face, values=shown, fmt="{}")
    _outline(ax_o, i, j, 1, 1, _NOW)
    b = f" + bias {bias:g}" if bias else ""
    _finish(ax_o, OW, max(FH, OH), f"output{b}: step {step + 1} of {OH * OW}")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.88, wspace=0.12)
    return fig


def _box(ax, x, y, depth, height, width, color, label=None, skew=0.45):
    """A 3-D-looking block: ``width`` to the right, ``height`` up, ``depth`` (channels) going back."""
    dx, dy = skew * depth, skew * depth * 0.6
    front = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
    top = [(x, y + height), (x + width, y + height), (x + width + dx, y + height + dy), (x + dx, y + height + dy)]
    side = [(x + width, y), (x + width + dx, y + dy), (x + width + dx, y + height + dy), (x + width, y + height)]
    for poly, shade in ((side, 0.75), (top, 0.9), (front, 1.0)):
        rgb = np.array(plt.matplotlib.colors.to_rgb(color)) * shade
        ax.add_patch(plt.Polygon(poly, closed=True, facecolor=rgb, edgecolor="black", lw=0.8))
    if label:
        ax.text(x + width / 2, y - 0.6, label, ha="center", va="top", fontsize=9)
    return x + width + dx


def draw_conv_blocks(C, H, W, FN, FH, FW, pad=0, stride=1, N=1):
    """Shapes of a convolution as blocks: input (C, H, W), FN filters (C, FH, FW), bias (FN, 1, 1)
    and output (FN, OH, OW); with N > 1 each data block is drawn as a short stack (a batch).
    Depth stands for channels (capped so big counts stay readable; the labels give the numbers).

    Taught in notebooks/02_convolution.ipynb. Returns the figure. The filter must fit.
    """
    OH = _conv_out(H, FH, stride, pad)
    OW = _conv_out(W, FW, stride, pad)
    k = 4.0 / max(H, W, OH, OW, 1)          # the biggest block face is about 4 units tall

    def depth(ch):
        return min(0.25 + 0.35 * ch, 3.0)

    fig, ax = plt.subplots(figsize=(11, 3.8))
    x, gap, top = 0.0, 2.2, 0.0

    def stack(x, n, d, h, w, color, step):
        for i in range(n - 1, -1, -1):
            end = _box(ax, x + step * i, step * i, d, h, w, color)
        return x, end + step * (n - 1)

    def label(x0, x1, text):
        ax.text((x0 + x1) / 2, -0.4, text, ha="center", va="top", fontsize=9)

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
        label(x0, x1, text)
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


def draw_demo_grid(n):
    """An n x n grid whose cells show their row*n + col index: the demo in notebooks/00_start_here.ipynb."""
    fig, ax = plt.subplots(figsize=(1 + 0.4 * n, 1 + 0.4 * n))
    _cells(ax, n, n, face="#deebf7", values=np.arange(n * n).reshape(n, n), fmt="{}")
    _finish(ax, n, n, f"{n} x {n} = {n * n} cells")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88)
    return fig


# ---- lessons 3-5 ----
# Pooling (notebooks/03_pooling.ipynb), im2col/col2im (04_im2col.ipynb) and backward passes
# (05_forward_backward.ipynb). Grids are drawn cell by cell so every number can be read.

def _cell_text(v):
    """Short label for one grid cell: integers without decimals, -inf as '-inf'."""
    if np.isneginf(v):
        return "-inf"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0")


def draw_cells(ax, values, facecolors=None, title="", fontsize=9, origin=(0, 0), edgecolor="0.6"):
    """Draw a 2-D array as a grid of labelled cells (row 0 at the top) on ``ax``.

    ``facecolors``: None (white) or an array of colours with one entry per cell.
    ``origin``: (x, y) of the top-left corner, so several grids can share one axes.
    Taught in notebooks/03_pooling.ipynb and notebooks/04_im2col.ipynb.
    """
    values = np.asarray(values, dtype=float)
    rows, cols = values.shape
    x0, y0 = origin
    cells = [plt.Rectangle((x0 + j, y0 + i), 1, 1) for i in range(rows) for j in range(cols)]
    faces = ["white"] * len(cells) if facecolors is None else [fc for r in facecolors for fc in r]
    ax.add_collection(PatchCollection(cells, facecolors=faces, edgecolors=edgecolor, linewidths=0.8))
    for i in range(rows):
        for j in range(cols):
            ax.text(x0 + j + 0.5, y0 + i + 0.5, _cell_text(values[i, j]), ha="center", va="center",
                    fontsize=fontsize)
    if title:
        ax.text(x0 + cols / 2, y0 - 0.4, title, ha="center", va="bottom", fontsize=fontsize + 1)
    return ax


def _grid_axes(ax, width, height):
    """Square cells, row 0 at the top, no ticks."""
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(height + 0.2, -1.4)
    ax.set_aspect("equal")
    ax.axis("off")


def window_colors(n):
    """n distinguishable colours (RGBA rows), one per window / output cell / column-matrix row."""
    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(k % cmap.N) for k in range(n)]


def _lighten(color, amount=0.55):
    r, g, b, _ = color
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount, 1.0)


def plot_pooling(x, pool, stride, pad, mode="max", out=None, arg=None):
    """Input (with its padding ring) and the pooling windows on the left, the output on the right.

    ``x``: 2-D input; ``out``: the pooled 2-D output or None (an invalid setting: only the input
    is drawn); ``arg``: (OH, OW) index of each window's winning cell (max pooling) or None.
    Taught in notebooks/03_pooling.ipynb.
    """
    x = np.asarray(x, dtype=float)
    H, W = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.full((H + 2 * pad, W + 2 * pad), fill)
    xp[pad:pad + H, pad:pad + W] = x
    Hp, Wp = xp.shape
    shade = [["0.85" if (i < pad or j < pad or i >= pad + H or j >= pad + W) else "white"
              for j in range(Wp)] for i in range(Hp)]
    OH, OW = (0, 0) if out is None else out.shape
    colors = window_colors(OH * OW)
    gap = 2
    fig, ax = plt.subplots(figsize=(0.5 * (Wp + gap + max(OW, 1)) + 1, 0.5 * max(Hp, OH) + 1.2))
    title = f"input {H}x{W}" + (f" + padding {pad} ({'-inf' if mode == 'max' else '0'}, grey)" if pad else "")
    draw_cells(ax, xp, shade, title=title, fontsize=8)
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
        fc = [[_lighten(colors[i * OW + j]) for j in range(OW)] for i in range(OH)]
        draw_cells(ax, out, fc, title=f"{mode} pooling -> {OH}x{OW}", fontsize=8, origin=(Wp + gap, 0))
    _grid_axes(ax, Wp + gap + max(OW, 1), max(Hp, OH))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


def plot_shift(x, xs, y, ys, mode="max", pool=None):
    """Robustness to shifts: input and shifted input above, their pooled outputs below; in the
    shifted panels every value that differs from the unshifted one is red. ``pool``: draw the
    pooling windows' borders on the inputs.
    Taught in notebooks/03_pooling.ipynb."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    for row, (a, b, what) in enumerate([(x, xs, "input"), (y, ys, f"after {mode} pooling")]):
        changed = ~np.isclose(a, b)
        for col, m in enumerate((a, b)):
            ax = axes[row, col]
            fc = [["#f4a6a6" if col and changed[i, j] else "white" for j in range(m.shape[1])]
                  for i in range(m.shape[0])]
            title = (f"{what}, shifted: {changed.sum()} of {changed.size} changed (red)" if col else what)
            draw_cells(ax, m, fc, title=title, fontsize=7 if m.shape[1] > 8 else 9)
            if pool and row == 0:
                for k in range(0, m.shape[0] + 1, pool):
                    ax.plot([0, m.shape[1]], [k, k], color="k", lw=1.5)
                for k in range(0, m.shape[1] + 1, pool):
                    ax.plot([k, k], [0, m.shape[0]], color="k", lw=1.5)
            _grid_axes(ax, m.shape[1], m.shape[0])
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


def plot_im2col(x, filter_size, stride, pad, row=0, col=None):
    """im2col on a tiny (1, C, H, W) input: the padded channels with every window, and the column
    matrix whose rows are coloured like their windows. Window/row ``row`` is drawn bold.
    ``col``: the column matrix ``im2col(x, filter_size, filter_size, stride, pad)`` if the caller
    has it already (default: computed here). Taught in notebooks/04_im2col.ipynb."""
    from .im2col import im2col
    x = np.asarray(x, dtype=float)
    _, C, H, W = x.shape
    F = filter_size
    if col is None:
        col = im2col(x, F, F, stride, pad)                   # (OH*OW, C*F*F)
    xp = np.pad(x[0], ((0, 0), (pad, pad), (pad, pad)))     # (C, H+2P, W+2P)
    Hp, Wp = xp.shape[1:]
    OW = _conv_out(W, F, stride, pad)
    n = col.shape[0]
    colors = window_colors(n)
    row = min(max(row, 0), n - 1)
    gap = 1.5
    width_in = C * (Wp + gap)
    fig, ax = plt.subplots(figsize=(0.42 * (width_in + col.shape[1] + 3) + 1, 0.42 * max(Hp, n) + 1.5))
    oy, ox = divmod(row, OW)
    for c in range(C):
        x0 = c * (Wp + gap)
        shade = [[(_lighten(colors[row], 0.3) if (oy * stride <= i < oy * stride + F and
                                                 ox * stride <= j < ox * stride + F) else
                   ("0.88" if (i < pad or j < pad or i >= pad + H or j >= pad + W) else "white"))
                  for j in range(Wp)] for i in range(Hp)]
        draw_cells(ax, xp[c], shade, title=f"channel {c}", fontsize=8, origin=(x0, 0))
        for k in range(n):
            ky, kx = divmod(k, OW)
            ax.add_patch(plt.Rectangle((x0 + kx * stride + 0.08, ky * stride + 0.08), F - 0.16, F - 0.16,
                                       fill=False, edgecolor=colors[k], lw=3 if k == row else 0.8,
                                       alpha=1 if k == row else 0.6))
    cx = width_in + 2
    fc = [[_lighten(colors[k], 0.3 if k == row else 0.7) for _ in range(col.shape[1])] for k in range(n)]
    draw_cells(ax, col, fc, title=f"col: ({n}, {col.shape[1]}) = (N*OH*OW, C*FH*FW)", fontsize=7,
               origin=(cx, 0))
    ax.add_patch(plt.Rectangle((cx, row), col.shape[1], 1, fill=False, edgecolor=colors[row], lw=3))
    for c in range(1, C):
        ax.plot([cx + c * F * F] * 2, [0, n], color="k", lw=1.5)
    for k in range(n):
        ax.text(cx - 0.2, k + 0.5, str(k), ha="right", va="center", fontsize=7, color="0.3")
    _grid_axes(ax, cx + col.shape[1], max(Hp, n))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.03)
    return fig


def plot_coverage(count, ratio_curve=None, current=None, setting=""):
    """Left: how many windows cover each input pixel (col2im(im2col(ones))). Right (optional):
    the memory ratio col size / input size against the filter size, ``current`` marked;
    ``setting`` is appended to that plot's title.
    ``ratio_curve``: (filter sizes, ratios). Taught in notebooks/04_im2col.ipynb."""
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
    ax.set_xticks([]); ax.set_yticks([])
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


def plot_pool_backward(x, dout, dx, mode="max", arg_cells=()):
    """Pooling's backward pass on one channel: input (winners circled), dout, and dx.
    ``arg_cells``: (row, col) of each window's winner in x. Taught in notebooks/05_forward_backward.ipynb."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, m, title in zip(axes, (x, dout, dx), ("input x", "dout (gradient from above)",
                                                 f"dx ({'to the first max' if mode == 'max' else 'spread evenly'})")):
        fc = [["#fde2a8" if (title == "input x" and (i, j) in set(arg_cells)) or
               (title.startswith("dx") and m[i, j] != 0) else "white"
               for j in range(m.shape[1])] for i in range(m.shape[0])]
        draw_cells(ax, m, fc, title=title, fontsize=9)
        _grid_axes(ax, max(m.shape[1], 4), max(m.shape[0], 4))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.03, wspace=0.15)
    return fig


def plot_gradcheck(rows, threshold=1e-7):
    """Horizontal bars of log10(relative error) per (layer, parameter); the pass line drawn.
    ``rows``: list of (label, error). Taught in notebooks/05_forward_backward.ipynb."""
    labels = [r[0] for r in rows]
    errs = np.array([max(r[1], 1e-18) for r in rows])
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    ax.barh(range(len(rows)), np.log10(errs), color=["C2" if e < threshold else "C3" for e in errs])
    ax.axvline(np.log10(threshold), color="k", ls="--", lw=1, label=f"pass line {threshold:g}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("log10(relative error)  (further left is better)")
    ax.legend(loc="lower right", fontsize=8)
    fig.subplots_adjust(left=0.3, right=0.97, top=0.97, bottom=0.2)
    return fig


# ---- lessons 6-8 (and training curves) ----

def plot_history(history, ax=None, title=None):
    """The chapter's training figure: train accuracy ('o') and test accuracy ('s') per epoch,
    y from 0 to 1. ``history`` is the dict ``Trainer.train()`` returns (or a shipped
    ``*_history.json``). Redraw it from a Trainer callback to watch the curves grow live.
    Taught in ``notebooks/06_training.ipynb``; ``python -m convlab train`` saves it as a PNG.
    """
    train_acc, test_acc = list(history["train_acc"]), list(history["test_acc"])
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    epochs = np.arange(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, marker="o", markevery=1, label="train")
    ax.plot(epochs[:len(test_acc)], test_acc, marker="s", markevery=1, label="test")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    if len(epochs):
        ax.set_xlim(0, len(epochs) + 1)
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[::max(1, len(epochs) // 10)])
        ax.annotate(f"test {test_acc[-1]:.4f}", (epochs[len(test_acc) - 1], test_acc[-1]),
                    xytext=(0, -18), textcoords="offset points", ha="right", fontsize=9)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    if title is not None:
        ax.set_title(title)
    return ax


# -- lessons 6-8: evaluation, filters, feature maps, costs (notebooks 06, 07, 08) --

def confusion_matrix(t, y, n_classes=10):
    """counts[i, j] = number of images of true class i that the net predicted as class j.

    Taught in notebooks/06_training.ipynb. ``t`` and ``y`` are integer labels of equal length.
    """
    t, y = np.asarray(t), np.asarray(y)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"t and y must be 1-D label arrays of the same length, got shapes "
                         f"{t.shape} and {y.shape}")
    for name, a in (("t", t), ("y", y)):
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must hold integer labels in [0, {n_classes}), got dtype "
                             f"{a.dtype} with range [{a.min()}, {a.max()}]")
    flat = t.astype(np.int64) * n_classes + y.astype(np.int64)            # (N,) one cell id each
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def plot_confusion_matrix(cm, title=None):
    """Draw a confusion matrix with every count written in its cell; the diagonal (right answers)
    is blue, mistakes orange, so the few errors stand out. Taught in notebooks/06_training.ipynb."""
    cm = np.asarray(cm)
    K = cm.shape[0]
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    off = np.where(np.eye(K, dtype=bool), 0, cm)
    ax.imshow(np.log1p(off), cmap="Oranges", vmin=0)
    for i in range(K):
        for j in range(K):
            diag = i == j
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="tab:blue" if diag else ("black" if cm[i, j] else "0.75"),
                    fontweight="bold" if diag else "normal")
    ax.set_xticks(range(K))
    ax.set_yticks(range(K))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"Confusion matrix: {cm.sum():,} images, accuracy {acc:.4f}")
    fig.tight_layout()
    return fig


def plot_mistakes(x, t, y, max_images=20, ncols=10, title=None):
    """A gallery of the misclassified images: each titled 'true -> predicted'.

    Taught in notebooks/06_training.ipynb. ``x``: (N, 1, 28, 28) or (N, 784) images, ``t`` true
    and ``y`` predicted labels. Shows the first ``max_images`` mistakes in index order.
    """
    x, t, y = np.asarray(x), np.asarray(t), np.asarray(y)
    wrong = np.flatnonzero(t != y)[:max_images]
    n = len(wrong)
    rows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(rows, ncols, figsize=(1.2 * ncols, 1.45 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if n == 0:
        axes[0, 0].text(0, 0.5, "no mistakes", fontsize=12)
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(_image_chw(x[i])[0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"#{i}: {t[i]}\u2192{y[i]}", fontsize=8, color="tab:red")
    total = int(np.sum(t != y))
    fig.suptitle(title or f"{n} of {total} mistakes (true \u2192 predicted)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_filters(W, ncols=10, title=None):
    """First-layer filters W (FN, C, FH, FW) as small grey images (channel 0), each scaled to its
    own range: white = most negative, black = most positive (the chapter's figure).

    Taught in notebooks/07_what_the_network_sees.ipynb.
    """
    W = np.asarray(W)
    if W.ndim != 4:
        raise ValueError(f"W must have shape (FN, C, FH, FW), got {W.shape}")
    FN = W.shape[0]
    rows = -(-FN // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(0.9 * ncols, 0.95 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, ax in enumerate(axes.ravel()[:FN]):
        ax.imshow(W[k, 0], cmap="gray_r", interpolation="nearest")
        ax.set_title(str(k), fontsize=7)
    fig.suptitle(title or f"{FN} filters {W.shape[2]}x{W.shape[3]}", fontsize=10)
    fig.tight_layout()
    return fig


def _image_chw(image):
    """One image as (C, H, W): accepts (C, H, W), (H, W) or a flattened 28x28 MNIST digit (784,)."""
    a = np.asarray(image)
    if a.ndim == 1 and a.size == 784:
        return a.reshape(1, 28, 28)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a
    raise ValueError(f"image must have shape (C, H, W), (H, W) or (784,), got {a.shape}")


def filter_responses(W, b, image):
    """Convolve one image (1, H, W) with every filter of W (FN, 1, FH, FW) plus bias b (FN,):
    the first layer's feature maps (FN, OH, OW) before the ReLU.

    Taught in notebooks/07_what_the_network_sees.ipynb (uses the library's Convolution layer).
    """
    from .layers import Convolution
    W = np.asarray(W)
    img = _image_chw(image).astype(W.dtype)[None]                          # (1, C, H, W)
    return Convolution(W, np.asarray(b, dtype=W.dtype)).forward(img)[0]   # (FN, OH, OW)


def plot_filter_responses(W, b, image, filters=(0, 1, 2, 3, 4, 5)):
    """Top row: the chosen filters; bottom row: the image convolved with each (before ReLU).
    Red = strong positive response, blue = negative. Taught in
    notebooks/07_what_the_network_sees.ipynb."""
    filters = list(filters)
    resp = filter_responses(W, b, image)                                  # (FN, OH, OW)
    n = len(filters) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.7 * n, 3.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[1, 0].imshow(_image_chw(image)[0], cmap="gray_r", vmin=0, vmax=1)
    axes[1, 0].set_title("input", fontsize=9)
    for col, k in enumerate(filters, start=1):
        axes[0, col].imshow(np.asarray(W)[k, 0], cmap="gray_r", interpolation="nearest")
        axes[0, col].set_title(f"filter {k}", fontsize=9)
        m = float(np.abs(resp[k]).max()) or 1.0
        axes[1, col].imshow(resp[k], cmap="RdBu_r", vmin=-m, vmax=m)
        axes[1, col].set_title(f"response {k}", fontsize=9)
    fig.tight_layout()
    return fig


def feature_maps(net, image):
    """Run one image through ``net`` (test mode) and return [(layer name, output), ...] for every
    layer, outputs without the batch axis: (C, H, W) for conv/pool/ReLU, (M,) for affine.

    Taught in notebooks/07_what_the_network_sees.ipynb.
    """
    x = net._check_x(np.asarray(image).reshape((1,) + net.input_dim))  # (1, C, H, W)
    out = []
    for name, layer in net.layers.items():
        x = layer.forward(x, False) if getattr(layer, "uses_train_flg", False) else layer.forward(x)
        out.append((name, x[0]))
    return out


def plot_feature_maps(net, image, layers=None, max_maps=8, maps=None):
    """One row per layer: the first ``max_maps`` channels of its output for one image, each
    titled with the layer's name and output shape (C, H, W). ``layers``: names to show (default:
    every conv and pool layer). ``maps``: ``feature_maps(net, image)`` if the caller has it
    already (default: computed here). Taught in notebooks/07_what_the_network_sees.ipynb."""
    if maps is None:
        maps = feature_maps(net, image)
    maps = [(n, a) for n, a in maps if a.ndim == 3]
    if layers is None:
        layers = [n for n, _ in maps if n.startswith(("Conv", "Pool"))]
    unknown = [n for n in layers if n not in dict(maps)]
    if unknown:
        raise ValueError(f"layers {unknown} are not layers with (C, H, W) outputs; choose from "
                         f"{[n for n, _ in maps]}")
    rows = [("input", np.asarray(image, dtype=float).reshape(net.input_dim))] + \
        [(n, a) for n, a in maps if n in layers]
    fig, axes = plt.subplots(len(rows), max_maps + 1, figsize=(1.25 * (max_maps + 1), 1.35 * len(rows)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (name, a) in enumerate(rows):
        C, H, W = a.shape
        axes[r, 0].text(0.0, 0.5, f"{name}\n{C}x{H}x{W}", fontsize=9, va="center",
                        transform=axes[r, 0].transAxes)
        for c in range(min(C, max_maps)):
            axes[r, c + 1].imshow(a[c], cmap="gray_r" if name == "input" else "viridis",
                                  interpolation="nearest")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.08, hspace=0.12)
    return fig


def receptive_fields(net):
    """[(layer name, output shape, receptive field)] for every conv and pool layer: the side of
    the input square (in pixels, padding included) that one output unit of the layer depends on.
    Each layer with kernel k adds (k - 1) * (product of the earlier strides). Taught in
    notebooks/07_what_the_network_sees.ipynb."""
    rows, field, jump = [], 1, 1
    for name, shape in net.shapes[1:]:
        layer = net.layers[name]
        if name.startswith("Conv"):
            k, s = layer.W.shape[2], layer.stride[0]
        elif name.startswith("Pool"):
            k, s = layer.pool_h, layer.stride[0]
        else:
            continue
        field += (k - 1) * jump
        jump *= s
        rows.append((name, tuple(shape), field))
    return rows


def plot_histories(histories, title=None):
    """Compare training runs side by side: left, test accuracy per epoch of each run; right,
    the loss per step (smoothed over 50 steps). ``histories``: {label: history dict}.

    Taught in notebooks/08_classic_cnns.ipynb.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, h in histories.items():
        ep = np.arange(1, len(h["test_acc"]) + 1)
        line, = ax1.plot(ep, h["test_acc"], marker="s", markersize=4, label=f"{label} test")
        ax1.plot(ep, h["train_acc"], marker="o", markersize=3, ls="--", color=line.get_color(),
                 alpha=0.6, label=f"{label} train")
        loss = np.asarray(h["loss"], dtype=float)
        k = max(1, min(50, len(loss) // 10))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        steps_per_epoch = len(loss) / max(len(h["test_acc"]), 1)
        ax2.plot((np.arange(len(smooth)) + k) / steps_per_epoch, smooth, color=line.get_color(), label=label)
    ax1.set_xlabel("epoch")
    ax1.xaxis.get_major_locator().set_params(integer=True)
    ax1.set_ylabel("accuracy")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss (moving mean)")
    ax2.set_yscale("log")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def multiply_adds(net):
    """Multiply-adds one image costs in each Conv/Affine layer of ``net``: [(name, count)], from
    the shapes alone (Conv: OH*OW*FN*C*FH*FW; Affine: D*M). Activations, pooling and LRN are
    cheap by comparison and not counted. Taught in notebooks/08_classic_cnns.ipynb."""
    rows = []
    for name, out_shape in net.shapes[1:]:
        layer = net.layers[name]
        if name.startswith("Conv"):
            FN, C, FH, FW = layer.W.shape
            _, OH, OW = out_shape
            rows.append((name, OH * OW * FN * C * FH * FW))
        elif name.startswith("Affine"):
            D, M = layer.W.shape
            rows.append((name, D * M))
    return rows


def plot_costs(nets, title=None):
    """Bar charts (log scale) comparing nets: parameters and multiply-adds per image.
    ``nets``: {label: net}. Taught in notebooks/08_classic_cnns.ipynb."""
    labels = list(nets)
    params = [sum(p.size for p in n.params.values()) for n in nets.values()]
    macs = [sum(c for _, c in multiply_adds(n)) for n in nets.values()]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, vals, what in ((axes[0], params, "parameters"), (axes[1], macs, "multiply-adds per image")):
        bars = ax.bar(labels, vals, color="tab:blue")
        ax.set_yscale("log")
        ax.set_title(what)
        for bar, v in zip(bars, vals):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v / 1e6:.2f}M", ha="center",
                    va="bottom", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_ylim(top=max(vals) * 4)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
