"""The core's one figure: train and test accuracy per epoch of a training run (the chapter's figure).

``python -m convlab train`` saves it as ``accuracy.png`` with ``save_accuracy_png``; the lessons
draw it with ``convlab.lessons.draw.plot_history``, which builds on ``accuracy_curves`` here.
matplotlib is imported only inside the function that makes a figure (with the Agg canvas, no
window, no pyplot), so importing this module costs nothing and the core never needs matplotlib.
"""
from __future__ import annotations

__all__ = ["accuracy_curves", "save_accuracy_png"]


def _runs(history_or_runs) -> dict:
    """{label: history}: one history (a dict with "test_acc") becomes {None: history}."""
    if "test_acc" in history_or_runs:
        return {None: history_or_runs}
    return dict(history_or_runs)


def accuracy_curves(ax, history_or_runs, ylim=(0.0, 1.0), epochs=None, title=None):
    """Draw train ('o') and test ('s') accuracy per epoch on the matplotlib Axes ``ax`` and return it.

    ``history_or_runs``: one history (the dict ``Trainer.train()`` returns, or a shipped
    ``*_history.json``), or several as {label: history}. One run: lines "train" and "test" and the
    final test accuracy written beside its point. Several runs: one colour per run, test solid,
    train dashed. ``ylim``: the accuracy axis, (0, 1) as in the chapter, or None to fit the data.
    ``epochs``: the planned number of epochs (fixes the x axis of a run that is still growing).
    """
    runs = _runs(history_or_runs)
    longest = max((len(h["test_acc"]) for h in runs.values()), default=0)
    last = max(epochs or 0, longest)
    for label, h in runs.items():
        train, test = list(h["train_acc"]), list(h["test_acc"])
        if label is None:
            ax.plot(range(1, len(train) + 1), train, marker="o", label="train")
            line, = ax.plot(range(1, len(test) + 1), test, marker="s", label="test")
            if test:
                ax.annotate(f"test {test[-1]:.4f}", (len(test), test[-1]), xytext=(0, -18),
                            textcoords="offset points", ha="right", fontsize=9)
        else:
            line, = ax.plot(range(1, len(test) + 1), test, marker="s", markersize=4, label=f"{label}: test")
            ax.plot(range(1, len(train) + 1), train, marker="o", markersize=3, ls="--",
                    color=line.get_color(), alpha=0.7, label=f"{label}: train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    if ylim is not None:
        ax.set_ylim(*ylim)
    if last:
        ax.set_xlim(0.5, last + 0.5)
        ax.set_xticks(range(1, last + 1, max(1, -(-last // 20))))
    ax.legend(loc="lower right", fontsize=9 if len(runs) == 1 else 8)
    ax.grid(alpha=0.3)
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax


def save_accuracy_png(history, f, title=None, description=None, dpi=90):
    """The chapter's figure of one ``history`` as a PNG written to ``f`` (a path or a binary
    file); ``description`` goes into the PNG's Description field."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    accuracy_curves(fig.subplots(), history, title=title)
    fig.savefig(f, format="png", dpi=dpi,
                metadata=None if description is None else {"Description": description})
