"""Lesson 0 (notebooks/00_start_here.ipynb): how an explorer works, the architecture the lessons
build, and the (N, C, H, W) shape.

    demo_view(size)        -> View: a fact about a size x size grid and the grid itself
    demo_explorer()        one slider over demo_view
    check_batch_shape(a)   the exercise: the (N, C, H, W) shape of 100 MNIST images
    architecture_view()    -> View: the chapter's architecture pattern, drawn from two real nets
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..nets import Net
from . import draw, ui
from .check import answer_check, as_shape, report

__all__ = ["demo_view", "demo_explorer", "check_batch_shape", "FC_SPEC", "CNN_SPEC",
           "architecture_nets", "architecture_view"]


def demo_view(size: int = 3) -> ui.View:
    """The tiny demo: a fact about a size x size grid, and the grid with each cell's number
    (row * size + column) written in it."""
    fig, ax = plt.subplots(figsize=(1 + 0.4 * size, 1 + 0.4 * size))
    draw.cells(ax, size, size, face="#deebf7", values=np.arange(size * size).reshape(size, size),
               fmt="{}")
    draw.finish(ax, size, size, f"{size} x {size} = {size * size} cells")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88)
    text = f"A {size} x {size} grid has {size * size} cells; the last one is number {size * size - 1}."
    return ui.View(text, fig)


def demo_explorer():
    """One slider (``size``, 1 to 8) over ``demo_view``."""
    return ui.explorer(demo_view, {"size": ui.slider("size", 3, 1, 8)})


@answer_check
def check_batch_shape(answer) -> bool:
    """The exercise: the (N, C, H, W) shape of a batch of 100 MNIST images (28 x 28 pixels, grey
    scale). ``answer`` may be a tuple, a list or a 1-D NumPy array."""
    got = as_shape(answer)
    right = (100, 1, 28, 28)
    if got == right:
        return report(True, "(N, C, H, W) = (100, 1, 28, 28): 100 images, 1 channel, 28 x 28.")
    if got == (100, 28, 28):
        hint = "that is what flatten=False would give without a channel axis; convolution needs C too."
    elif got is not None and sorted(got) == sorted(right):
        hint = "right numbers, wrong order: the book's order is (N, C, H, W) -- batch first."
    else:
        hint = "write a tuple (N, C, H, W): N images, C channels (grey scale has 1), then height and width."
    return report(False, "", hint)


# -- the architecture pattern: what a CNN changes in a fully connected net ----------------------

#: The two nets of the chapter's opening figures, as ``convlab.nets.Net`` specs on 1 x 28 x 28
#: images: a fully connected net (Affine-ReLU blocks, Affine-Softmax at the end) and a CNN in
#: which the first three Affine-ReLU blocks became Conv-ReLU-Pool, Conv-ReLU-Pool and Conv-ReLU.
FC_SPEC = [("affine", {"size": 100}), ("relu", {})] * 4 + [("affine", {"size": 10})]
CNN_SPEC = ([("conv", {"filter_num": 16, "filter_size": 3, "pad": 1}), ("relu", {}),
             ("pool", {"size": 2})] * 2
            + [("conv", {"filter_num": 16, "filter_size": 3, "pad": 1}), ("relu", {}),
               ("affine", {"size": 100}), ("relu", {}), ("affine", {"size": 10})])

#: The image both nets take: (C, H, W).
INPUT = (1, 28, 28)

#: Colour of each kind of layer, and the lessons that teach it.
_KINDS = {"Conv": ("#fdae6b", "lessons 1, 2, 4, 5"), "Relu": ("#a1d99b", ""),
          "Pool": ("#9ecae1", "lessons 3, 5"), "Affine": ("#d9d9d9", ""), "Softmax": ("#bcbddc", "")}


def _kind(name: str) -> str:
    return name.rstrip("0123456789")


def _groups(names):
    """Split layer names into blocks, each ending after a Relu or a Softmax (the figure's units):
    [['Affine1', 'Relu1'], ...] or [['Conv1', 'Relu1', 'Pool1'], ...]. A Pool after a Relu
    belongs to the Relu's block."""
    groups = []
    for name in names:
        if groups and _kind(name) == "Pool" and _kind(groups[-1][-1]) == "Relu":
            groups[-1].append(name)
        elif not groups or _kind(groups[-1][-1]) in ("Relu", "Pool", "Softmax"):
            groups.append([name])
        else:
            groups[-1].append(name)
    return groups


def architecture_nets():
    """[(title, [(layer name, output shape), ...]), ...] for the fully connected net and the CNN,
    from a forward pass of one zero image through ``Net(spec=FC_SPEC)`` and ``Net(spec=CNN_SPEC)``
    (the last layer, Softmax, keeps the scores' shape)."""
    out = []
    for title, spec in (("fully connected net", FC_SPEC), ("CNN", CNN_SPEC)):
        net = Net(input_dim=INPUT, spec=spec, seed=0)
        acts = net.activations(np.zeros((1,) + INPUT))
        layers = [(name, a.shape[1:]) for name, a in acts] + [("Softmax", acts[-1][1].shape[1:])]
        out.append((title, layers))
    return out


def _shape(s) -> str:
    return "x".join(map(str, s))


def architecture_view() -> ui.View:
    """The chapter's architecture pattern, drawn from two real nets (``architecture_nets``): the
    fully connected net's Affine-ReLU blocks (top) become Conv-ReLU-Pool blocks in the CNN
    (bottom, the last Pool optional), while the last Affine-ReLU and the Affine-Softmax stay.
    Each layer is labelled with its output shape for one ``INPUT`` image (1 x 28 x 28)."""
    nets = architecture_nets()
    fig, ax = plt.subplots(figsize=(12.5, 5.2))
    lines, spans = [], []
    for row, (title, layers) in enumerate(nets):
        y = 3.6 - row * 4.3                                   # the top row first
        shape = dict(layers)
        groups = _groups([name for name, _ in layers])
        x, row_spans = 0.0, []
        ax.text(-0.3, y + 1.2, f"{title}\ninput {_shape(INPUT)}" + (f"\n(flattened: {np.prod(INPUT)})"
                if row == 0 else ""), ha="right", va="center", fontsize=9)
        for group in groups:
            x0 = x
            for name in group:
                color, _ = _KINDS[_kind(name)]
                right = draw.block(ax, x, y, 0.25, 2.4, 0.75, color)
                ax.text(x + 0.375, y + 1.2, name, rotation=90, ha="center", va="center", fontsize=9)
                ax.text(x + 0.375, y - 0.15, _shape(shape[name]), ha="center", va="top", fontsize=7)
                x = right + 0.15
            row_spans.append((x0, x - 0.15))
            x += 0.45
        spans.append(row_spans)
        flat = f" (flattened: {np.prod(INPUT)})" if row == 0 else ""
        lines.append(f"{title}: input {_shape(INPUT)}{flat} -> " + " -> ".join(
            "-".join(_kind(n) for n in g) + f" ({_shape(shape[g[-1]])})" for g in groups))
    # the first blocks of the fully connected net are replaced; the last two stay
    top, bottom = spans
    n_replaced = len(bottom) - 2
    for k, ((a0, a1), (b0, b1)) in enumerate(zip(top[:n_replaced] + top[-2:], bottom)):
        stays = k >= n_replaced
        color = "0.45" if stays else draw.NOW
        ax.annotate("", xy=((b0 + b1) / 2, 2.0), xytext=((a0 + a1) / 2, 3.0),
                    arrowprops={"arrowstyle": "->", "color": color, "ls": "--" if stays else "-"})
        if k in (0, n_replaced):
            ax.text((a0 + a1 + b0 + b1) / 4 + 0.15, 2.5, "stays" if stays else "becomes",
                    ha="left", va="center", fontsize=8, color=color)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="black") for c, _ in _KINDS.values()]
    ax.legend(handles, [f"{k} ({where})" if where else k for k, (_, where) in _KINDS.items()],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, fontsize=8, frameon=False)
    ax.set_xlim(-2.6, max(b1 for _, b1 in bottom + top) + 0.6)
    ax.set_ylim(-1.2, 6.6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.08, top=0.99)
    lines.append(f"The CNN's first {n_replaced} Affine-ReLU blocks became Conv-ReLU(-Pool); "
                 "the last Affine-ReLU and the Affine-Softmax stay.")
    return ui.View("\n".join(lines), fig)
