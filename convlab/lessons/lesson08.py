"""Lesson 8 (notebooks/08_classic_cnns.ipynb): LeNet then and now, AlexNet's ingredients, and
what a network costs.

    plot_histories(histories)     test accuracy per epoch and smoothed loss of several runs
    lrn_report(alpha, beta, ...)  -> (text table, output/input per channel): LRN on one pixel
    lrn_view(alpha, beta, ...)    -> View: that table, and input vs output per channel
    lrn_explorer()                sliders alpha (log scale) and beta
    dropout_view(ratio, seed)     -> View: a block of ones through Dropout in training and at test
    dropout_explorer()            sliders ratio and seed (each seed draws another mask)
    plot_costs(nets)              parameters and multiply-adds per image, side by side
    one_change_specs()            LeNet 1998, then ReLU alone, then max pooling alone (net specs)
    one_change_runs(data, ...)    -> (text table, {label: history}): those three nets trained briefly
    live_run_size(browser)        (training images, epochs, test images) of a live deep-net run
    LiveRun(name, data, shipped)  .forecast() -> text, .train() -> history: a short run, timed
    forecast_seconds(...)         epochs x (steps x a measured step + a measured evaluation)
    images_seen(history)          training images seen after each step and each epoch
    loss_at(history, images)      the mean loss of the steps that end there
    compare_with_shipped(live, shipped, title) -> View: one line and both runs' curves
    check_conv_multiply_adds: the exercise

The counts come from ``convlab.analysis.multiply_adds``; the layers from ``convlab.layers``.
"""
from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np

from ..analysis import multiply_adds
from ..arith import check_int, conv_output_size
from ..layers import LRN, Dropout
from ..nets import Net, build_net
from ..platform import in_browser
from ..train import Trainer
from . import ui
from .check import answer_check, as_number, report
from .draw import plot_history
from .lesson06 import time_step_and_evaluation

__all__ = ["plot_histories", "LRN_VALUES", "lrn_report", "lrn_view", "lrn_explorer", "dropout_view",
           "dropout_explorer", "plot_costs", "check_conv_multiply_adds", "one_change_specs",
           "one_change_runs", "live_run_size", "LIVE_IMAGES", "LIVE_EPOCHS", "LIVE_TEST",
           "forecast_seconds", "LiveRun", "images_seen", "loss_at", "compare_with_shipped"]


def plot_histories(histories, title=None):
    """Compare training runs side by side: left, test (and train) accuracy per epoch of each run
    (``draw.plot_history``, the axis fitted to the data); right, the loss per step (moving mean
    over up to 50 steps). ``histories``: {label: history}."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_history(histories, ax=ax1, ylim=None)
    for line, (label, h) in zip(ax1.get_lines()[::2], histories.items()):   # test lines: one per run
        loss = np.asarray(h["loss"], dtype=float)
        k = max(1, min(50, len(loss) // 10))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        steps_per_epoch = len(loss) / max(len(h["test_acc"]), 1)
        ax2.plot((np.arange(len(smooth)) + k) / steps_per_epoch, smooth, color=line.get_color(), label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss (moving mean)")
    ax2.set_yscale("log")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# -- local response normalisation ------------------------------------------------------------------

#: The one-pixel example: six channels, channel 2 much stronger than its neighbours.
LRN_VALUES = (1.0, 2.0, 8.0, 2.0, 1.0, 0.5)


def lrn_report(alpha=1e-4, beta=0.75, k=2.0, n=5, values=LRN_VALUES):
    """Local response normalisation of one pixel across channels: (text table, output/input per
    channel), or (a message, None) for an invalid setting. A channel whose neighbours are strong
    is damped more."""
    try:
        layer = LRN(n=n, k=k, alpha=alpha, beta=beta)
    except ValueError as e:
        return f"Invalid LRN setting: {e}", None
    x = np.asarray(values, dtype=float).reshape(1, -1, 1, 1)                 # (1, C, 1, 1)
    y = layer.forward(x)
    ratio = (y / x)[0, :, 0, 0]
    rows = [f"LRN(n={n}, k={k:g}, alpha={alpha:g}, beta={beta:g})",
            "channel   input   output   output/input"]
    for c, (a, b, r) in enumerate(zip(x[0, :, 0, 0], y[0, :, 0, 0], ratio)):
        rows.append(f"{c:7d} {a:7.2f} {b:8.4f} {r:10.4f}")
    return "\n".join(rows), ratio


def lrn_view(alpha=1e-4, beta=0.75, k=2.0, n=5, values=LRN_VALUES):
    """``lrn_report`` as a View: the table, and each channel's input and output as bars."""
    text, ratio = lrn_report(alpha, beta, k, n, values)
    if ratio is None:
        return ui.View(text)
    x = np.asarray(values, dtype=float)
    C = np.arange(len(x))
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.bar(C - 0.2, x, width=0.4, color="0.75", label="input")
    ax.bar(C + 0.2, x * ratio, width=0.4, color="tab:blue", label="output")
    for c in C:
        ax.text(c + 0.2, x[c] * ratio[c], f"x{ratio[c]:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(C)
    ax.set_xlabel("channel (one pixel)")
    ax.set_title(f"LRN: alpha = {alpha:g}, beta = {beta:g}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return ui.View(text, fig)


def lrn_explorer(values=LRN_VALUES):
    """Sliders for LRN's alpha (log scale, 1e-5 .. 10) and beta (0 .. 2) on the one-pixel example."""

    def view(alpha, beta):
        return lrn_view(alpha=alpha, beta=beta, values=values)

    return ui.explorer(view, {"alpha": ui.log_slider("alpha", 1e-4, -5, 1, 0.5, fmt=".0e"),
                              "beta": ui.float_slider("beta", 0.75, 0.0, 2.0, 0.25)})


# -- dropout ---------------------------------------------------------------------------------------

def dropout_view(ratio=0.5, seed=0, size=(6, 10)):
    """What Dropout does to a block of ones in training (with the random mask of ``seed``) and at
    test time. Our Dropout is 'inverted': survivors are scaled by 1/(1 - ratio) so the mean stays
    about 1 and the test pass is the identity."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        return ui.View(f"Invalid ratio {ratio!r}: expected 0 <= ratio < 1")
    x = np.ones((1, 1) + tuple(size))                                        # (1, 1, H, W)
    d = Dropout(ratio, rng=seed)
    y_train, y_test = d.forward(x, train_flg=True), d.forward(x, train_flg=False)
    kept = int(np.count_nonzero(y_train))
    scale = 1 / (1 - ratio)
    text = (f"ratio {ratio:.2f}, seed {seed}: training keeps {kept} of {x.size} units, each scaled "
            f"to {scale:.2f}; mean {y_train.mean():.2f}. Test: all {x.size} kept, mean "
            f"{y_test.mean():.2f}")
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.2))
    for ax, y, name in ((axes[0], y_train, f"training, seed {seed}: {kept} kept (x{scale:.2f}), "
                                           f"{x.size - kept} zeroed"),
                        (axes[1], y_test, "test: all kept, unscaled")):
        ax.imshow(y[0, 0], cmap="Greens", vmin=0, vmax=scale)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return ui.View(text, fig)


def dropout_explorer():
    """Sliders for ``dropout_view``: the ratio (0 .. 0.9) and the seed (0 .. 9), whose mask is
    drawn in the training picture (and named in its title)."""
    return ui.explorer(dropout_view, {"ratio": ui.float_slider("ratio", 0.5, 0.0, 0.9, 0.1, fmt=".1f"),
                                      "seed": ui.slider("seed", 0, 0, 9)})


# -- what a network costs --------------------------------------------------------------------------

def plot_costs(nets, title=None):
    """Bar charts (log scale) comparing nets: parameters and multiply-adds per image.
    ``nets``: {label: net}."""
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


@answer_check
def check_conv_multiply_adds(answer, C, H, W, FN, FH, FW, stride=1, pad=0) -> bool:
    """Exercise: multiply-adds of one convolution layer for one image, OH * OW * FN * C * FH * FW.
    A whole number, exact (117600 and 117600.0 both pass; 117599 does not)."""
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    right = OH * OW * FN * C * FH * FW
    return report(as_number(answer) == right,
                  f"{OH}*{OW} output positions x {FN} filters x {C}*{FH}*{FW} products "
                  f"= {right:,} multiply-adds.",
                  "each output number is one dot product of C*FH*FW multiply-adds; there are "
                  "FN * OH * OW output numbers (work out OH and OW first)")


# ------------------------------------------------------------- one change at a time --

def one_change_specs():
    """{label: LeNet spec}: the 1998 design, then the sigmoid replaced by ReLU (nothing else),
    then also the average subsampling replaced by max pooling (nothing else). The layers and
    sizes are ``convlab.nets.LeNet``'s; all three start from the same initial-weight scale."""
    def lenet(act, mode):
        pool = ("pool", {"size": 2, "mode": mode})
        return [("conv", {"filter_num": 6, "filter_size": 5, "pad": 2}), (act, {}), pool,
                ("conv", {"filter_num": 16, "filter_size": 5}), (act, {}), pool,
                ("affine", {"size": 120}), (act, {}), ("affine", {"size": 84}), (act, {}),
                ("affine", {"size": 10})]
    return {"1998: sigmoid, average": lenet("sigmoid", "avg"),
            "ReLU, average": lenet("relu", "avg"),
            "ReLU, max": lenet("relu", "max")}


def one_change_runs(data, epochs=1, lr=1e-3, seed=0):
    """Train the three nets of ``one_change_specs`` alike (Adam at ``lr``, batches of 100, the
    same seed, the same "xavier" initial-weight scale) on ``data`` = (x_train, t_train, x_test,
    t_test) and return (text table, {label: history}). Seeded: same data, same numbers."""
    x_train, t_train, x_test, t_test = data
    runs, lines = {}, []
    previous = None
    for label, spec in one_change_specs().items():
        net = Net((1, 28, 28), spec, "xavier", seed)
        h = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=100,
                    optimizer="adam", optimizer_param={"lr": lr}, train_eval_size=len(x_train),
                    seed=seed, verbose=False).train()
        runs[label] = h
        acc = h["test_acc"][-1]
        change = "" if previous is None else f"   {acc - previous:+.2f} from the row above"
        lines.append(f"{label:<24} test accuracy {acc:.2f}{change}")
        previous = acc
    steps = epochs * (len(x_train) // 100)
    head = (f"{steps} steps of Adam (lr {lr:g}) on {len(x_train):,} training digits, "
            f"test accuracy on {len(x_test):,} test digits:")
    return "\n".join([head] + lines), runs


# ------------------------------------------------------------------ a deep net, live --

def live_run_size(browser: bool) -> tuple[int, int, int]:
    """(training images, epochs, test images) of the lessons' live runs of the deep net. Here a
    step of 100 images takes about 0.1 s through ``Trainer``'s fast path (two cores), so 3
    epochs of 10,000 images are 300 steps, about half a minute. In the browser (NumPy without
    BLAS, one thread: each step 10-30x slower) the run is 2 epochs of 1,000 images."""
    return (1000, 2, 500) if browser else (10000, 3, 1000)


#: The live runs' default size (a learner raises IMAGES and EPOCHS in the cell to train longer).
LIVE_IMAGES, LIVE_EPOCHS, LIVE_TEST = live_run_size(in_browser())


def forecast_seconds(step_seconds, eval_seconds, steps_per_epoch, epochs):
    """The forecast of a run: ``epochs`` x (``steps_per_epoch`` measured steps + one measured
    evaluation)."""
    return epochs * (steps_per_epoch * step_seconds + eval_seconds)


class LiveRun:
    """A short run of a registry net (``name``) with the recipe of its shipped run
    (``shipped``: its history: batch size, optimiser, learning rate, ``shift``, seed), on the
    first ``images`` training images for ``epochs`` epochs, evaluated on the first
    ``test_images`` test images (and as many training images) after each epoch. The learning
    rate stays constant: the shipped run's decay acts per epoch of 60,000 images, so during its
    first 60,000 images its rate was constant too (a longer live run keeps it constant beyond).
    ``data`` = (x_train, t_train, x_test, t_test); ``images`` beyond its size take all of it.

        run.describe()  -> text: the recipe and the size of the run
        run.forecast()  -> text: the time of the run, forecast from a few measured steps
        run.train()     -> history: trains through ``Trainer`` (its fast path and progress bar)
                           and prints the measured time beside the forecast
    """

    def __init__(self, name, data, shipped, images=LIVE_IMAGES, epochs=LIVE_EPOCHS,
                 test_images=LIVE_TEST):
        x_train, t_train, x_test, t_test = data
        self.images = min(check_int("images", images, 100), len(x_train))       # at most all
        self.epochs = check_int("epochs", epochs, 1)
        self.test_images = min(check_int("test_images", test_images, 1), len(x_test))
        self.name, self.config = name, shipped["config"]
        self.data = (x_train[:self.images], t_train[:self.images],
                     x_test[:self.test_images], t_test[:self.test_images])
        self.forecast_s = None

    def trainer(self, verbose=True):
        """A fresh net (the shipped run's seed: the same initial weights) and its Trainer."""
        c = self.config
        net = build_net(self.name, seed=c["seed"])
        # eval_batch_size 100: batches of 1,000 would make im2col matrices of hundreds of MB
        return Trainer(net, *self.data, epochs=self.epochs, mini_batch_size=c["mini_batch_size"],
                       optimizer=c["optimizer"], optimizer_param=c["optimizer_param"],
                       train_eval_size=self.test_images, seed=c["seed"], shift=c.get("shift", 0),
                       eval_batch_size=100, verbose=verbose)

    def describe(self):
        """One line: the recipe and the size of the run."""
        c = self.config
        opt = ", ".join(f"{k} {v:g}" for k, v in c["optimizer_param"].items())
        steps = self.epochs * -(-self.images // c["mini_batch_size"])
        return (f"A fresh {self.name} net, seed {c['seed']} (the shipped run's initial weights); "
                f"{c['optimizer']} ({opt}, constant), batches of {c['mini_batch_size']}, shift "
                f"{c.get('shift', 0)}: {self.epochs} epoch(s) of {self.images:,} training images "
                f"({steps} steps), then {self.test_images:,} test images after each epoch.")

    def forecast(self, steps=3):
        """Time one warm-up step, then ``steps`` steps and one evaluation of a throwaway net, and
        multiply (``forecast_seconds``): the text says it is a forecast and from what."""
        trial = self.trainer(verbose=False)
        bs = trial.batch_size
        batches = [np.arange(i * bs, (i + 1) * bs) % len(trial.x_train) for i in range(steps + 1)]
        step, evaluation = time_step_and_evaluation(trial, batches, warmup=1)
        self.forecast_s = forecast_seconds(step, evaluation, trial.steps_per_epoch, self.epochs)
        return (f"Forecast (measured here just now: one step of {bs} images {step:.2f} s, one "
                f"evaluation {evaluation:.1f} s): {self.epochs} epoch(s) x {trial.steps_per_epoch} "
                f"steps + {self.epochs} evaluation(s) = about {self.forecast_s:.0f} s")

    def train(self):
        """Train (a progress bar), print the measured time, return the history."""
        start = time.perf_counter()
        history = self.trainer().train()
        took = time.perf_counter() - start
        said = "" if self.forecast_s is None else f" (the forecast said about {self.forecast_s:.0f} s)"
        print(f"Measured: {took:.0f} s{said}")
        return history


def images_seen(history):
    """(N training images seen after each step, after each epoch) of a history, from its
    config: an epoch is ``train_size`` images in batches of ``mini_batch_size`` (its last
    batch smaller when they do not divide)."""
    c = history["config"]
    N, B = c["train_size"], c["mini_batch_size"]
    per_epoch = -(-N // B)                                             # steps per epoch
    s = np.arange(len(history["loss"]))                                # step index, from 0
    steps = s // per_epoch * N + np.minimum((s % per_epoch + 1) * B, N)
    return steps, N * np.arange(1, len(history["test_acc"]) + 1)


def loss_at(history, images, window=50):
    """The mean training loss of ``history`` over the ``window`` steps (or fewer) that end where
    it has seen ``images`` training images (the last step that does not go beyond them)."""
    seen = images_seen(history)[0]
    end = int(np.searchsorted(seen, images, side="right"))
    if end == 0 or images > seen[-1]:
        raise ValueError(f"images must be between one batch ({seen[0] if len(seen) else 0}) and "
                         f"the {seen[-1] if len(seen) else 0:,} images the history has seen, got {images}")
    part = history["loss"][max(0, end - window):end]
    return sum(part) / len(part)


def compare_with_shipped(live, shipped, title, window=50):
    """The live run against the shipped run of the same net and recipe, by training images seen:
    one line (the mean training loss of the last ``window`` steps of both at the live run's
    end; the live and the shipped test accuracies) and the two curves (training loss, test
    accuracy)."""
    seen = int(images_seen(live)[0][-1])
    now, then = loss_at(live, seen, window), loss_at(shipped, seen, window)
    epochs, N = len(shipped["test_acc"]), shipped["config"]["train_size"]
    line = (f"After {seen:,} images: training loss (mean of the last {min(window, len(live['loss']))} "
            f"steps) {now:.3f} here, {then:.3f} in the shipped run; test accuracy "
            f"{live['test_acc'][-1]:.4f} here ({live['config']['test_size']:,} test images); the "
            f"shipped run: {shipped['test_acc'][0]:.4f} after {N:,} images, {shipped['test_acc'][-1]:.4f} "
            f"after {epochs * N:,} ({epochs} epochs; {shipped['config']['test_size']:,} test images).")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    k = max(1, min(window, len(live["loss"]) // 5))                   # moving mean over k steps
    for h, label, color in ((shipped, "shipped run", "0.5"), (live, "live run", "tab:orange")):
        steps_seen, epochs_seen = images_seen(h)
        shown = steps_seen <= 2 * seen                                 # the shipped run: as far again
        loss = np.asarray(h["loss"], dtype=float)[shown]
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(steps_seen[shown][k - 1:], smooth, color=color, label=label)
        ax2.plot(epochs_seen, h["test_acc"], "o-", color=color, label=label)
    ax1.axvline(seen, color="0.8", lw=1, zorder=0)
    ax1.set_xlabel("training images seen")
    ax1.set_ylabel(f"training loss (mean of {k} steps)")
    ax1.set_yscale("log")
    ax2.set_xscale("log")
    ax2.set_xlabel("training images seen (log scale)")
    ax2.set_ylabel("test accuracy (after each epoch)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return ui.View(line, fig)
