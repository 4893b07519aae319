"""Drawing primitives shared by the lesson modules (matplotlib only; no widgets, no lesson logic).

Grids are drawn cell by cell: cell (r, c) occupies [c, c+1] x [r, r+1] with the y axis pointing
down, so a drawing reads like the printed array. Every figure is computed from the library's own
numbers, so a drawing cannot disagree with what it illustrates.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from ..analysis import image_chw
from ..plot import accuracy_curves

__all__ = ["PAD_GREY", "FIRST", "LAST", "NOW", "cells", "outline", "finish", "window_colors", "lighten",
           "cell_text", "block", "plot_history", "plot_confusion_matrix", "plot_mistakes", "plot_filters"]

#: Colours every lesson uses alike: padding, the first window, the last window, the current one.
PAD_GREY = "#d9d9d9"
FIRST, LAST, NOW = "#1f77b4", "#ff7f0e", "#d62728"


def cells(ax, n_rows, n_cols, x0=0.0, y0=0.0, face="white", values=None, fmt="{:g}",
          fontsize=9, lw=0.6, label=None, edgecolor="#555555"):
    """The one grid primitive: an n_rows x n_cols grid of cells with its top-left corner at
    (x0, y0), so several grids can share one axes. ``face``: one colour, a function (r, c) ->
    colour, or one colour per cell (nested lists, or an (n_rows, n_cols, 3 or 4) RGB(A) array).
    ``values``: what to write in each cell, with ``fmt`` (a format string or a function such as
    ``cell_text``). ``label``: a line above the grid. Drawn as one image plus one line collection
    (fast), then the text. Finish the axes with ``finish``."""
    if callable(face):
        rgb = np.array([[to_rgb(face(r, c)) for c in range(n_cols)] for r in range(n_rows)])
    elif isinstance(face, str) or (isinstance(face, tuple) and np.ndim(face) == 1):
        rgb = np.broadcast_to(np.array(to_rgb(face)), (n_rows, n_cols, 3))
    elif isinstance(face, np.ndarray) and face.dtype.kind == "f" and face.shape[-1:] in ((3,), (4,)):
        rgb = face[..., :3]
    else:
        rgb = np.array([[to_rgb(face[r][c]) for c in range(n_cols)] for r in range(n_rows)])
    ax.imshow(rgb, extent=(x0, x0 + n_cols, y0 + n_rows, y0), interpolation="nearest", zorder=0)
    segs = [[(x0, y0 + r), (x0 + n_cols, y0 + r)] for r in range(n_rows + 1)]
    segs += [[(x0 + c, y0), (x0 + c, y0 + n_rows)] for c in range(n_cols + 1)]
    ax.add_collection(LineCollection(segs, colors=edgecolor, linewidths=lw, zorder=1))
    if values is not None:
        show = fmt if callable(fmt) else fmt.format
        for r in range(n_rows):
            for c in range(n_cols):
                ax.text(x0 + c + 0.5, y0 + r + 0.5, show(values[r][c]), ha="center",
                        va="center", fontsize=fontsize, zorder=3)
    if label:
        ax.text(x0 + n_cols / 2, y0 - 0.4, label, ha="center", va="bottom", fontsize=fontsize + 1)


def outline(ax, r, c, h, w, color, x0=0.0, y0=0.0, lw=2.5, ls="-"):
    ax.add_patch(Rectangle((x0 + c + 0.06, y0 + r + 0.06), w - 0.12, h - 0.12, fill=False,
                       edgecolor=color, lw=lw, ls=ls))


def finish(ax, width, height, title=None, above=0.3):
    """Square cells, row 0 at the top, no ticks, a margin of 0.3 cell around ``width`` x
    ``height`` cells (``above``: room at the top, e.g. 1.4 for the labels ``cells`` writes)."""
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 0.3, -above)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


def cell_text(v):
    """Short label for one grid cell: integers without decimals, -inf as '-inf'."""
    if np.isneginf(v):
        return "-inf"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0")


def window_colors(n):
    """n distinguishable colours (RGBA rows), one per window / output cell / column-matrix row."""
    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(k % cmap.N) for k in range(n)]


def lighten(color, amount=0.55):
    r, g, b, _ = color
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount, 1.0)


def block(ax, x, y, depth, height, width, color, label=None, skew=0.45):
    """A 3-D-looking block: ``width`` to the right, ``height`` up, ``depth`` (channels) going back."""
    dx, dy = skew * depth, skew * depth * 0.6
    front = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
    top = [(x, y + height), (x + width, y + height), (x + width + dx, y + height + dy), (x + dx, y + height + dy)]
    side = [(x + width, y), (x + width + dx, y + dy), (x + width + dx, y + height + dy), (x + width, y + height)]
    for poly, shade in ((side, 0.75), (top, 0.9), (front, 1.0)):
        rgb = np.array(to_rgb(color)) * shade
        ax.add_patch(plt.Polygon(poly, closed=True, facecolor=rgb, edgecolor="black", lw=0.8))
    if label:
        ax.text(x + width / 2, y - 0.6, label, ha="center", va="top", fontsize=9)
    return x + width + dx


def plot_history(history, ax=None, title=None, ylim=(0.0, 1.0), epochs=None):
    """The lessons' one accuracy-curve plotter: the chapter's figure, train ('o') and test ('s')
    accuracy per epoch, drawn by the core's ``convlab.plot.accuracy_curves`` (the same figure
    ``python -m convlab train`` saves as accuracy.png). ``history``: the dict ``Trainer.train()``
    returns (or a shipped ``*_history.json``), or several runs as {label: history} (one colour
    per run, train dashed). ``ax``: draw there (default: a new figure); ``ylim``: the accuracy
    axis, None to fit; ``epochs``: the planned number, fixing the x axis of a run still growing.
    Returns the Axes. Taught in ``notebooks/06_training.ipynb``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    return accuracy_curves(ax, history, ylim=ylim, epochs=epochs, title=title)


def plot_confusion_matrix(cm, title=None, class_names=None):
    """Draw a confusion matrix with every count written in its cell; the diagonal (right answers)
    is blue, mistakes orange, so the few errors stand out. ``class_names`` (optional) label the
    rows and columns. Taught in notebooks/06_training.ipynb (and 09 with names)."""
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
    if class_names is not None:
        ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticklabels([f"{name} {i}" for i, name in enumerate(class_names)], fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"Confusion matrix: {cm.sum():,} images, accuracy {acc:.4f}")
    fig.tight_layout()
    return fig


def plot_mistakes(x, t, y, max_images=20, ncols=10, title=None, class_names=None):
    """A gallery of the misclassified images: each titled 'true -> predicted'.

    Taught in notebooks/06_training.ipynb. ``x``: (N, 1, 28, 28) or (N, 784) images, ``t`` true
    and ``y`` predicted labels. Shows the first ``max_images`` mistakes in index order; with
    ``class_names`` the titles name the classes (notebooks/09_fashion_mnist.ipynb).
    """
    x, t, y = np.asarray(x), np.asarray(t), np.asarray(y)
    wrong = np.flatnonzero(t != y)[:max_images]
    n = len(wrong)
    rows = max(1, -(-n // ncols))
    tall = 0.0 if class_names is None else 0.35        # room for two lines of names
    fig, axes = plt.subplots(rows, ncols, figsize=(1.2 * ncols, (1.45 + tall) * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if n == 0:
        axes[0, 0].text(0, 0.5, "no mistakes", fontsize=12)
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(image_chw(x[i])[0], cmap="gray_r", vmin=0, vmax=1)
        if class_names is None:
            ax.set_title(f"#{i}: {t[i]}\u2192{y[i]}", fontsize=8, color="tab:red")
        else:
            ax.set_title(f"#{i} {class_names[t[i]]}\n\u2192 {class_names[y[i]]}", fontsize=7,
                         color="tab:red")
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
