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
    chapter_recipe_history()      the plain-recipe run (no shift, no decay), shipped as a history only
    chapter_run_estimate(...)     -> (seconds, text): the chapter's 20 epochs timed from a few steps here
    run_chapter(...)              -> history: the chapter's recipe live (progress bar, live curves)
    recipe_report(runs)           -> text: final, best and last-5 test accuracy, train-test gap per run
    plot_recipes(runs, zoom)      the chapter's 0..1 figure beside the same curves zoomed in
    shift_variety(max_shift, epochs) -> (offsets, expected distinct positions, P(no repeat))
    book_affine_rows(...)         the rows the book's float sizing gives Affine1's W (wrong for odd sizes)
    adam_first_step(lr, x, t)     -> (median |change| of W1 after one Adam step, std of W1 before)
    check_affine_input_size, check_accuracy_from_confusion: the exercises

The figures of a finished run live in ``draw`` (``plot_history``, ``plot_confusion_matrix``,
``plot_mistakes``) and the confusion counts in ``convlab.analysis.confusion_matrix``.
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np

from ..arith import check_int, conv_output_size, uncovered
from ..nets import SimpleConvNet
from ..optim import Adam
from ..platform import in_browser
from ..pretrained import WEIGHTS_DIR
from ..train import Trainer, load_history
from . import ui
from .check import answer_check, as_int, as_number, close, report
from .draw import plot_history

__all__ = ["LiveCurves", "draw_live_curves", "SIMPLE_SLIDERS", "LR_SLIDER", "simple_convnet_report",
           "simple_convnet_view", "train_briefly", "train_view", "hyperparameter_explorer",
           "CHAPTER_HISTORY", "chapter_recipe_history", "chapter_run_estimate", "run_chapter",
           "recipe_report", "plot_recipes",
           "shift_variety", "book_affine_rows", "adam_first_step", "check_affine_input_size",
           "check_accuracy_from_confusion"]


# -- a short live run ----------------------------------------------------------------------------

def draw_live_curves(history, epochs=None):
    """Accuracy per epoch (``draw.plot_history``) and loss per step of a (running) history; the
    figure ``LiveCurves`` redraws. ``epochs``: the planned number (fixes the x axis)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    plot_history(history, ax=ax1, epochs=epochs or None)
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

# -- the chapter's plain recipe beside the shipped run -------------------------------------------

CHAPTER_HISTORY = os.path.join(WEIGHTS_DIR, "simple-chapter_history.json")
"""The history of ``python -m convlab train --net simple --epochs 20 --seed 0``: the chapter's
recipe (Adam 0.001, batch 100, 20 epochs) with no shift and no decay. Shipped as a history only,
without weights (``pretrained.available()`` lists only nets with a .npz)."""


def chapter_recipe_history():
    """The shipped history of the chapter's plain recipe (see ``CHAPTER_HISTORY``)."""
    return load_history(CHAPTER_HISTORY)


def time_step_and_evaluation(trainer, batches, warmup=1):
    """(seconds per training step, seconds for one evaluation) of ``trainer``, measured: a
    step on each of the first ``warmup`` batches (index arrays into its training set, untimed),
    then one on each other batch (timed), then one ``trainer.evaluate()``. The forecasts of
    lessons 6 (the chapter's run) and 8-9 (the live runs) are built on it; the training steps
    change the trainer's net, so time a throwaway one."""
    x, t = trainer.x_train, trainer.t_train
    for b in batches[:warmup]:
        trainer.train_step(x[b], t[b])
    t0 = time.perf_counter()
    for b in batches[warmup:]:
        trainer.train_step(x[b], t[b])
    step = (time.perf_counter() - t0) / max(len(batches) - warmup, 1)
    t0 = time.perf_counter()
    trainer.evaluate()
    return step, time.perf_counter() - t0


def chapter_run_estimate(x_train, t_train, x_test, t_test, epochs=20, steps=30):
    """(seconds, text): how long the chapter's recipe (``run_chapter``) should take on this
    machine, measured: ``steps`` training steps (after 3 of warm-up) and one end-of-epoch
    evaluation, scaled to ``epochs`` epochs. A second or two; the net it times is thrown away."""
    trainer = Trainer(SimpleConvNet(seed=0), x_train, t_train, x_test, t_test, epochs=epochs,
                      verbose=False)
    idx = np.random.default_rng(0).permutation(len(x_train))
    batches = [idx[i * 100:(i + 1) * 100] for i in range(steps + 3)]
    step, evaluation = time_step_and_evaluation(trainer, batches, warmup=3)
    per_epoch = trainer.steps_per_epoch * step + evaluation
    total = epochs * per_epoch
    text = (f"one training step (100 images): {step * 1e3:.1f} ms; one evaluation "
            f"({trainer.train_eval_size:,} training + {len(x_test):,} test images): {evaluation:.2f} s\n"
            f"one epoch = {trainer.steps_per_epoch} steps + the evaluation: about {per_epoch:.0f} s\n"
            f"{epochs} epochs: about {total / 60:.1f} minutes on this machine, if nothing else is running")
    if in_browser():
        text += ("\nin the browser NumPy has no BLAS: rather than run the chapter here, load the "
                 "shipped 20-epoch net (convlab.pretrained.load_pretrained('simple'))")
    return total, text


def run_chapter(x_train, t_train, x_test, t_test, epochs=20, checkpoint_dir=None):
    """The chapter's recipe, live: SimpleConvNet(seed=0), Adam lr 0.001, batch 100, ``epochs``
    epochs on all of (x_train, t_train), evaluated after every epoch; a progress bar (tqdm) and
    the curves redrawn after every epoch. Ctrl-C (Kernel > Interrupt) stops after keeping the
    complete epochs. Returns the history (``Trainer.train``)."""
    trainer = Trainer(SimpleConvNet(seed=0), x_train, t_train, x_test, t_test, epochs=epochs, seed=0,
                      callback=LiveCurves(epochs), checkpoint_dir=checkpoint_dir)
    return trainer.train()


def _recipe(h) -> str:
    """'shift 2, lr decay 0.9' or 'no shift, no decay': the extras a run's config records."""
    c = h["config"]
    shift, decay = c.get("shift", 0), c.get("lr_decay", 1.0)
    return (f"shift {shift}" if shift else "no shift") + ", " + \
        (f"lr decay {decay:g}" if decay != 1 else "no decay")


def recipe_report(runs, last=5):
    """Text comparing training runs ``runs`` = {label: history}, one row per run: its recipe, then
    the final test accuracy, the best (with its epoch), the mean and the lowest-highest of the last
    ``last`` epochs (single epochs wobble), the final train accuracy and the train-test gap."""
    rows = [f"{'run':<9} {'recipe':<22} {'final test':>10} {'best (epoch)':>13} "
            f"{f'last {last}: mean':>13} {'min-max':>13} {'final train':>11} {'gap':>7}"]
    for label, h in runs.items():
        test, train = np.asarray(h["test_acc"]), np.asarray(h["train_acc"])
        best, tail = int(np.argmax(test)), test[-last:]
        rows.append(f"{label:<9} {_recipe(h):<22} {test[-1]:10.4f} {f'{test[best]:.4f} ({best + 1})':>13} "
                    f"{tail.mean():13.4f} {f'{tail.min():.4f}-{tail.max():.4f}':>13} {train[-1]:11.4f} "
                    f"{train[-1] - test[-1]:+7.4f}")
    return "\n".join(rows)


def plot_recipes(runs, zoom=(0.96, 1.0)):
    """Two panels of the same runs ({label: history}), both drawn by ``draw.plot_history``: left,
    the chapter's figure (accuracy from 0 to 1, where every curve hugs the top); right, the
    accuracy axis zoomed to ``zoom``, where the curves can be told apart. Train: dashed with
    circles; test: solid with squares."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_history(runs, ax=axes[0], title="the chapter's axis: 0 to 1")
    plot_history(runs, ax=axes[1], ylim=zoom, title=f"zoomed: {zoom[0]:g} to {zoom[1]:g}")
    axes[0].get_legend().remove()
    fig.tight_layout()
    return fig


def shift_variety(max_shift=2, epochs=20):
    """What ``--shift max_shift`` does to one training image over ``epochs`` epochs (one random
    (dy, dx) per use, each in -max_shift..max_shift): (number of possible offsets, expected number
    of distinct positions it is seen at, probability that no position repeats)."""
    n = (2 * max_shift + 1) ** 2
    expected = n * (1 - (1 - 1 / n) ** epochs)
    p_distinct = float(np.prod([(n - i) / n for i in range(epochs)])) if epochs <= n else 0.0
    return n, expected, p_distinct


def book_affine_rows(filter_num, filter_size, stride, pad=0, input_size=28, pool=2):
    """The number of rows the book's SimpleConvNet gives Affine1's weights: its sizes are computed
    with float division, ``int(FN * (OH / 2) * (OH / 2))`` with ``OH = (H - FH + 2P) / S + 1``,
    which is right only when OH is a whole, even number."""
    OH = (input_size - filter_size + 2 * pad) / stride + 1
    return int(filter_num * (OH / pool) * (OH / pool))


def adam_first_step(lr, x, t, seed=0):
    """ONE Adam step at learning rate ``lr`` on a fresh ``SimpleConvNet(seed)`` with images ``x`` and
    labels ``t``: (median size of the change of a W1 weight, std of W1 before the step). Adam's
    first step moves every weight whose gradient is not zero by almost exactly ``lr``."""
    net = SimpleConvNet(seed=seed)
    before = net.params["W1"].copy()
    Adam(lr=lr).update(net.params, net.gradient(x, t))
    return float(np.median(np.abs(net.params["W1"] - before))), float(before.std())


# -- exercises -------------------------------------------------------------------------------------

@answer_check
def check_affine_input_size(answer, filter_num=30, filter_size=5, stride=1, pad=0, input_size=28,
                            pool=2) -> bool:
    """Exercise 1: how many inputs the first Affine layer of SimpleConvNet receives, i.e.
    FN * PH * PW after the convolution and 2x2 pooling. A whole number, exact (360 and 360.0 both
    pass); the book's float sizing (``book_affine_rows``) gets its own hint."""
    OH = conv_output_size(input_size, filter_size, stride, pad)
    PH = OH // pool
    right = filter_num * PH * PH
    got = as_number(answer)
    if got is not None and got != right and int(got) == book_affine_rows(filter_num, filter_size,
                                                                          stride, pad, input_size, pool):
        hint = ("that is what the book's float sizing gives; sizes are integers: use // for the "
                "divisions (the conv output has a whole number of rows, pooling drops an odd last row)")
    else:
        hint = (f"first OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1, then the "
                f"{pool}x{pool} pooling gives OH // {pool} rows and columns; multiply by the "
                f"number of filters")
    return report(as_int(answer) == right, f"Affine1 receives {filter_num} x {PH} x {PH} = {right} "
                                           f"numbers per image.", hint)


@answer_check
def check_accuracy_from_confusion(answer, cm) -> bool:
    """Exercise 2: the accuracy read off the confusion matrix ``cm``; exact to float64 rounding
    (``check.close``: 1e-12 relative, so 1 - mistakes / total passes too), while a rounded value
    such as 0.9267 or a value off by one part in a billion fails: compute it, do not copy digits."""
    cm = np.asarray(cm)
    right = np.trace(cm) / cm.sum()
    ok = close(as_number(answer), right)
    return report(ok, f"accuracy = diagonal sum / total = {int(np.trace(cm))} / {int(cm.sum())} "
                      f"= {right:.4f}.",
                  "correct answers sit on the diagonal (true class == predicted class): "
                  "np.trace(cm) / cm.sum(), not rounded")
