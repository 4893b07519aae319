"""Static matplotlib figures for the lessons. Each function names the lesson that uses it.

Every figure is computed from the library's own code, so a drawing cannot disagree with the
numbers it illustrates.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

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

