"""Lesson 0 (notebooks/00_start_here.ipynb): how an explorer works, and the (N, C, H, W) shape.

    demo_view(size)        -> View: a fact about a size x size grid and the grid itself
    demo_explorer()        one slider over demo_view
    check_batch_shape(a)   the exercise: the (N, C, H, W) shape of 100 MNIST images
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import draw, ui
from .check import answer_check, as_shape, report

__all__ = ["demo_view", "demo_explorer", "check_batch_shape"]


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
