"""Lesson 6 (notebooks/06_training.ipynb): training SimpleConvNet, judging it, and its hyperparameters.

    LiveCurves(epochs)            a Trainer callback that redraws the curves in place each epoch
    draw_live_curves(history)     that figure: accuracy per epoch and loss per step
    SIMPLE_SLIDERS, LR_SLIDER     the hyperparameter explorer's slider ranges (tests sweep them)
    simple_convnet_report(...)    -> (text, net or None): every layer's size worked out in integers
    simple_convnet_view(...)      -> View: that text (the explorer's live summary)
    train_briefly(...)            -> (text, history or None): a seeded one-epoch run on a subset
    train_view(...)               -> View: that text and the loss per step (the explorer's button)
    hyperparameter_explorer(data) sliders (filters, filter size, stride, hidden size, learning rate),
                                  a live size summary and a "Train briefly" button
    check_affine_input_size, check_accuracy_from_confusion: the exercises

The figures of a finished run live in ``draw`` (``plot_history``, ``plot_confusion_matrix``,
``plot_mistakes``) and the confusion counts in ``convlab.analysis.confusion_matrix``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..arith import check_int, conv_output_size, uncovered
from ..nets import SimpleConvNet
from ..train import Trainer
from . import ui
from .check import answer_check, as_int, as_number, close, report

__all__ = ["LiveCurves", "draw_live_curves", "SIMPLE_SLIDERS", "LR_SLIDER", "simple_convnet_report",
           "simple_convnet_view", "train_briefly", "train_view", "hyperparameter_explorer",
           "check_affine_input_size", "check_accuracy_from_confusion"]


# -- a short live run ----------------------------------------------------------------------------

def draw_live_curves(history, epochs=None):
    """Accuracy per epoch (train 'o', test 's') and loss per step of a (running) history; the
    figure ``LiveCurves`` redraws. ``epochs``: the planned number (fixes the x axis)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = np.arange(1, len(history["test_acc"]) + 1)
    last = epochs or max(len(ep), 1)
    ax1.plot(ep, history["train_acc"], marker="o", label="train")
    ax1.plot(ep, history["test_acc"], marker="s", label="test")
    ax1.set_xlim(0.5, last + 0.5)
    ax1.set_xticks(np.arange(1, last + 1))
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy")
    ax1.legend(loc="lower right")
    ax2.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], lw=0.8)
    ax2.set_xlabel("step (mini-batch)")
    ax2.set_ylabel("loss")
    fig.tight_layout()
    return fig


class LiveCurves:
    """A Trainer callback that redraws the curves in place after every epoch.

    ``Trainer(..., callback=LiveCurves(epochs))``. The figure lives in one display slot (IPython
    ``display_id``) that each epoch updates, so the notebook keeps the final picture. It runs in
    the cell's own execution (not in a widget callback), where updating a display is reliable.
    """

    def __init__(self, epochs=None):
        self.epochs, self.handle = epochs, None

    def __call__(self, history):
        from IPython.display import Image, display
        view = ui.View("", draw_live_curves(history, self.epochs))      # closes the figure
        image = Image(view.png())
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)


# -- hyperparameters: sizes first, then a brief training run ---------------------------------------

SIMPLE_SLIDERS = {"filter_num": (1, 64, 1, 30), "filter_size": (1, 12, 1, 5),
                  "stride": (1, 4, 1, 1), "hidden_size": (10, 300, 10, 100)}
"""Slider ranges (min, max, step, default) of the SimpleConvNet explorer. Every combination in
range builds a valid net: the smallest conv output is (28 - 12) // 4 + 1 = 5, at least the 2x2 pool."""

LR_SLIDER = (-4, -1, 0.25, 1e-3)
"""The learning-rate slider: 10**-4 .. 10**-1 in steps of 10**0.25, starting at the book's 0.001."""


def _lr(lr) -> str:
    """A learning rate as the slider, the pending line and the report all write it: 0.001, 0.0018."""
    return f"{lr:.2g}"


def simple_convnet_report(filter_num=30, filter_size=5, stride=1, hidden_size=100, pad=0,
                          input_size=28, seed=0):
    """The SimpleConvNet these hyperparameters build: (text, net). The text works out every layer's
    output size with the formula, notes rows the stride leaves unseen and gives the parameter
    count. An invalid combination gives (a message saying why, None); never raises."""
    try:
        for name, v, lo in (("filter_num", filter_num, 1), ("filter_size", filter_size, 1),
                            ("stride", stride, 1), ("hidden_size", hidden_size, 1), ("pad", pad, 0),
                            ("input_size", input_size, 1)):
            check_int(name, v, lo)
    except ValueError as e:
        return f"Invalid combination: {e}", None
    padded = input_size + 2 * pad
    if filter_size > padded:
        return (f"Invalid combination: the {filter_size} x {filter_size} filter is larger than the "
                f"padded input ({padded} x {padded}); use filter_size <= {padded}"), None
    OH = conv_output_size(input_size, filter_size, stride, pad)
    if OH < 2:
        return (f"Invalid combination: the conv output is {OH} x {OH}, too small for the 2 x 2 "
                f"pooling window (needs at least 2 x 2); use a smaller filter or stride"), None
    net = SimpleConvNet(input_dim=(1, input_size, input_size),
                        conv_param={"filter_num": filter_num, "filter_size": filter_size,
                                    "pad": pad, "stride": stride},
                        hidden_size=hidden_size, seed=seed)
    shapes = dict(net.shapes)
    _, PH, PW = shapes["Pool1"]
    lines = [f"Conv1:   OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1 = {OH}  "
             f"-> {filter_num} x {OH} x {OH}"]
    left = uncovered(input_size, filter_size, stride, pad)
    if left:
        lines.append(f"         note: stride {stride} leaves the last {left} row(s) and column(s) "
                     f"of the input unseen")
    lines.append(f"Pool1:   {OH} // 2 = {PH}  -> {filter_num} x {PH} x {PW}"
                 + ("   (odd size: the last row/column is dropped)" if OH % 2 else ""))
    lines.append(f"Affine1: {filter_num}*{PH}*{PW} = {filter_num * PH * PW} inputs -> "
                 f"{hidden_size} hidden units")
    lines.append(f"Affine2: {hidden_size} -> 10 class scores")
    lines.append(f"Parameters: {sum(p.size for p in net.params.values()):,}")
    return "\n".join(lines), net


def simple_convnet_view(filter_num=30, filter_size=5, stride=1, hidden_size=100, pad=0, input_size=28):
    """The layer-size summary of ``simple_convnet_report`` as a View (text only)."""
    return ui.View(simple_convnet_report(filter_num, filter_size, stride, hidden_size, pad, input_size)[0])


def train_briefly(filter_num, filter_size, stride, hidden_size, lr, data, epochs=1,
                  mini_batch_size=100, seed=0):
    """Build a SimpleConvNet with these hyperparameters, train it with Adam at learning rate ``lr``
    on ``data`` = (x_train, t_train, x_test, t_test) (a small subset) and return (text report,
    history); (a message, None) for an invalid setting. Seeded: same arguments, same numbers."""
    text, net = simple_convnet_report(filter_num, filter_size, stride, hidden_size, seed=seed)
    if net is None:
        return text, None
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not 0 < lr < np.inf:
        return f"Invalid learning rate {lr!r}: expected a positive number", None
    x_train, t_train, x_test, t_test = data
    h = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=mini_batch_size,
                optimizer="adam", optimizer_param={"lr": float(lr)}, train_eval_size=len(x_train),
                seed=seed, verbose=False).train()
    report_ = (f"filters {filter_num}, size {filter_size}, stride {stride}, hidden {hidden_size}, "
               f"lr {_lr(lr)}: after {epochs} epoch(s) on {len(x_train)} images, "
               f"train acc {h['train_acc'][-1]:.2f}, test acc {h['test_acc'][-1]:.2f} "
               f"({len(x_test)} test images)")
    return report_, h


def train_view(filter_num, filter_size, stride, hidden_size, lr, data, epochs=1, mini_batch_size=100,
               seed=0):
    """``train_briefly`` as a View: its report and the loss of every training step."""
    text, h = train_briefly(filter_num, filter_size, stride, hidden_size, lr, data, epochs,
                            mini_batch_size, seed)
    if h is None:
        return ui.View(text)
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], marker="o", markersize=3)
    ax.axhline(np.log(10), color="0.6", ls="--", lw=0.8)
    ax.text(1, np.log(10), " chance (ln 10)", va="bottom", fontsize=8, color="0.4")
    ax.set_ylim(bottom=0)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("step (mini-batch)")
    ax.set_ylabel("training loss")
    ax.set_title(f"lr = {_lr(lr)}: test accuracy {h['test_acc'][-1]:.2f}", fontsize=10)
    fig.tight_layout()
    return ui.View(text, fig)


def hyperparameter_explorer(data, epochs=1):
    """Sliders for SimpleConvNet's filters, filter size, stride, hidden size and learning rate.
    The layer sizes update as a slider is released; the pending line says at once what the
    "Train briefly" button will train; the button trains the net on ``data`` (a small subset, see
    ``train_briefly``) and shows its accuracy and loss per step."""
    controls = {k: ui.slider(k.replace("_", " "), d, lo, hi, st)
                for k, (lo, hi, st, d) in SIMPLE_SLIDERS.items()}
    lo, hi, st, d = LR_SLIDER
    controls["lr"] = ui.log_slider("learning rate", d, lo, hi, st, fmt=".2g")

    def summary(filter_num, filter_size, stride, hidden_size, lr):
        return simple_convnet_view(filter_num, filter_size, stride, hidden_size)

    def train(filter_num, filter_size, stride, hidden_size, lr):
        return train_view(filter_num, filter_size, stride, hidden_size, lr, data, epochs)

    def describe(filter_num, filter_size, stride, hidden_size, lr):
        return (f"lr = {_lr(lr)} for {epochs} epoch(s) on {len(data[0])} images: {filter_num} "
                f"filters of {filter_size} x {filter_size}, stride {stride}, {hidden_size} hidden units")

    return ui.explorer(summary, controls, action=train, label="Train briefly", describe=describe)


# -- exercises -------------------------------------------------------------------------------------

@answer_check
def check_affine_input_size(answer, filter_num=30, filter_size=5, stride=1, pad=0, input_size=28,
                            pool=2) -> bool:
    """Exercise 1: how many inputs the first Affine layer of SimpleConvNet receives, i.e.
    FN * PH * PW after the convolution and 2x2 pooling. The exercise is to work it out IN INTEGERS,
    so an integer answer (int, NumPy integer, 1-element integer array) is required and exact; a
    float, even 360.0, fails with a hint about the float division that breaks the book's code."""
    OH = conv_output_size(input_size, filter_size, stride, pad)
    PH = OH // pool
    right = filter_num * PH * PH
    kind = np.asarray(answer).dtype.kind if as_number(answer) is not None else None
    ok = kind in ("i", "u") and as_int(answer) == right
    if kind == "f":
        hint = ("give a whole number (int). Sizes are integers: use // for the divisions, as "
                "float arithmetic is what breaks the book's SimpleConvNet for odd sizes")
    else:
        hint = (f"first OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1, then the "
                f"{pool}x{pool} pooling gives OH // {pool} rows and columns; multiply by the "
                f"number of filters")
    return report(ok, f"Affine1 receives {filter_num} x {PH} x {PH} = {right} numbers per image.", hint)


@answer_check
def check_accuracy_from_confusion(answer, cm) -> bool:
    """Exercise 2: the accuracy read off the confusion matrix ``cm``; exact to 1e-6 relative
    (a rounded value such as 0.9267 fails: compute it, do not copy digits)."""
    cm = np.asarray(cm)
    right = np.trace(cm) / cm.sum()
    ok = close(as_number(answer), right)
    return report(ok, f"accuracy = diagonal sum / total = {int(np.trace(cm))} / {int(cm.sum())} "
                      f"= {right:.4f}.",
                  "correct answers sit on the diagonal (true class == predicted class): "
                  "np.trace(cm) / cm.sum(), not rounded")
