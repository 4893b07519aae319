"""Lesson 9 (notebooks/09_fashion_mnist.ipynb): is 99% easy? The same net and recipe on
Fashion-MNIST.

    CLASS_NAMES                 Fashion-MNIST's ten classes (convlab.data.DATASETS)
    UPPER_BODY                  the four classes worn on the upper body: T-shirt/top, Pullover, Coat, Shirt
    predict_classes(net, x)     -> (predicted labels (N,), their softmax probabilities (N,))
    class_gallery_view(x, t)    -> View: the first test images of every class, named
    accuracy_rows()             -> [(net, recipe, MNIST history or None, Fashion-MNIST history)]
    accuracy_view()             -> View: MNIST vs Fashion-MNIST test accuracy of every shipped run
    most_confused(cm, k)        -> [(count, true, predicted)]: the largest off-diagonal cells
    confusion_view(t, y)        -> View: the confusion matrix with class names, the worst pairs
    upper_body_report(cm)       -> text: the 4x4 block of T-shirt/top, Pullover, Coat, Shirt
    mistakes_view(x, t, y, ...) -> View: a gallery of mistakes titled with class names
    filters_view(W_mnist, W_fashion) -> View: first-layer filters of both nets, one above the other
    class_view(x, t, y, p, ...) -> View: the test images of one class with the net's answers
    class_explorer(x, t, y, p)  choice of class, slider over its images, "mistakes only"
    check_shirt_recall: the exercise
    LiveRun, compare_with_shipped, LIVE_*: lesson 8's live run of the deep net, here on clothes

The nets and histories are the shipped ones (``convlab.pretrained``); the one live run is
lesson 8's ``LiveRun`` (a few epochs on a subset).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..data import DATASETS
from ..analysis import confusion_matrix
from ..fast import compile_net
from ..pretrained import shipped
from ..pretrained import load_history as _load_history
from . import ui
from .check import answer_check, as_number, close, report
from .draw import plot_confusion_matrix, plot_mistakes
from .lesson08 import LIVE_EPOCHS, LIVE_IMAGES, LIVE_TEST, LiveRun, compare_with_shipped, plot_histories

__all__ = ["CLASS_NAMES", "UPPER_BODY", "predict_classes", "class_gallery_view", "accuracy_rows",
           "accuracy_view", "most_confused", "confusion_view", "upper_body_report",
           "mistakes_view", "filters_view", "class_view", "class_explorer", "check_shirt_recall",
           "LiveRun", "compare_with_shipped", "LIVE_IMAGES", "LIVE_EPOCHS", "LIVE_TEST"]

CLASS_NAMES = DATASETS["fashion-mnist"].class_names
UPPER_BODY = (0, 2, 4, 6)          # T-shirt/top, Pullover, Coat, Shirt
SHIRT = 6
TITLES = {"simple": "SimpleConvNet", "deep": "deep net"}
RECIPES = {None: "shipped recipe", "chapter": "chapter's recipe"}


def predict_classes(net, x, batch_size=200):
    """The net's answer for every image of x: (predicted labels (N,), softmax probability of the
    predicted class (N,)), computed in batches through the net's fast plan
    (``convlab.fast.compile_net``, what ``Trainer`` evaluates with): the scores of the book's
    ``net.predict(x)`` to float rounding, in about two thirds of the time."""
    plan = compile_net(net, warn=False) or net
    labels, probs = [], []
    for i in range(0, len(x), batch_size):
        scores = plan.predict(x[i:i + batch_size])                    # (B, 10)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)                           # softmax (B, 10)
        labels.append(p.argmax(axis=1))
        probs.append(p.max(axis=1))
    return np.concatenate(labels), np.concatenate(probs)


def class_gallery_view(x, t, per_class=6):
    """The first ``per_class`` test images of each class, one row per class."""
    per_class = int(np.clip(per_class, 1, 16))
    fig, axes = plt.subplots(10, per_class, figsize=(0.62 * per_class + 1.3, 6.6), squeeze=False)
    for k, name in enumerate(CLASS_NAMES):
        idx = np.flatnonzero(t == k)[:per_class]
        for j, ax in enumerate(axes[k]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(idx):
                ax.imshow(x[idx[j]].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        axes[k, 0].set_ylabel(f"{k} {name}", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"Fashion-MNIST: the first {per_class} test images of each class", fontsize=10)
    fig.tight_layout()
    counts = np.bincount(np.asarray(t, dtype=np.intp), minlength=10)  # intp: in the browser too
    text = (f"{len(t):,} test images of 28x28 grey pixels, {counts.min():,} to {counts.max():,} "
            f"per class: " + ", ".join(f"{k} {n}" for k, n in enumerate(CLASS_NAMES)))
    return ui.View(text, fig)


# -- the accuracy gap -----------------------------------------------------------------------------

def accuracy_rows():
    """Every Fashion-MNIST run shipped with a history, beside the MNIST run of the same net and
    recipe (None when MNIST's history of that recipe is not shipped):
    [(net, recipe, MNIST history or None, Fashion-MNIST history)]."""
    histories = set(shipped("history"))
    rows = []
    for name, dataset, recipe in sorted(histories, key=lambda r: (r[0] != "simple", r[0], r[2] or "")):
        if dataset != "fashion-mnist":
            continue
        mnist = (_load_history(name, "mnist", recipe) if (name, "mnist", recipe) in histories
                 else None)
        rows.append((name, recipe, mnist, _load_history(name, "fashion-mnist", recipe)))
    return rows


def accuracy_view():
    """MNIST vs Fashion-MNIST: final test accuracy and mistakes per 10,000 test images of each
    shipped run (same net, same recipe), and SimpleConvNet's test accuracy per epoch on both."""
    columns = "{:<33}{:>8}{:>9}{:>9}{:>9}{:>8}{:>9}"
    lines = ["{:<33}{:>17}{:>18}{:>17}".format("", "test accuracy", "mistakes/10,000", "epochs"),
             columns.format("net, recipe", "MNIST", "Fashion", "MNIST", "Fashion", "MNIST", "Fashion")]
    curves = {}
    for name, recipe, mnist, fashion in accuracy_rows():
        label = f"{TITLES.get(name, name)}, {RECIPES.get(recipe, recipe)}"
        cells = []
        for h in (mnist, fashion):
            acc = None if h is None else h["test_acc"][-1]
            cells.append(("-", "-", "-") if h is None else
                         (f"{acc:.4f}", f"{round((1 - acc) * 10000)}", f"{len(h['test_acc'])}"))
        (m_acc, m_err, m_ep), (f_acc, f_err, f_ep) = cells
        lines.append(columns.format(label, m_acc, f_acc, m_err, f_err, m_ep, f_ep))
        if name == "simple" and recipe is None:
            if mnist is not None:
                curves["MNIST"] = mnist
            curves["Fashion-MNIST"] = fashion
    fig = plot_histories(curves, title="SimpleConvNet, the same recipe on both datasets") if curves else None
    return ui.View("\n".join(lines), fig)


# -- where it goes wrong ------------------------------------------------------------------------

def most_confused(cm, k=6):
    """The ``k`` largest off-diagonal cells of a confusion matrix: [(count, true, predicted)],
    largest first (ties in row-major order)."""
    cm = np.asarray(cm)
    off = np.where(np.eye(len(cm), dtype=bool), -1, cm)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(int(off.flat[i]), int(i // len(cm)), int(i % len(cm))) for i in order]


def confusion_view(t, y, k=6):
    """The confusion matrix with class names, each class's recall, and the ``k`` pairs most often
    mixed up."""
    cm = confusion_matrix(t, y, 10)
    recall = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    lines = [f"{int(np.trace(cm)):,} of {cm.sum():,} right (accuracy {np.trace(cm) / max(cm.sum(), 1):.4f}).",
             "Recall per class (right / images of the class), worst first:"]
    for c in np.argsort(recall, kind="stable"):
        lines.append(f"  {c} {CLASS_NAMES[c]:<12} {recall[c]:.3f}  ({cm[c, c]} of {cm[c].sum()})")
    lines.append(f"The {k} most frequent mistakes (true -> predicted):")
    for count, i, j in most_confused(cm, k):
        lines.append(f"  {count:4d}  {CLASS_NAMES[i]} -> {CLASS_NAMES[j]}")
    fig = plot_confusion_matrix(cm, class_names=CLASS_NAMES,
                                title=f"Fashion-MNIST: {cm.sum():,} test images, accuracy "
                                      f"{np.trace(cm) / max(cm.sum(), 1):.4f}")
    return ui.View("\n".join(lines), fig)


def upper_body_report(cm):
    """The rows and columns of T-shirt/top, Pullover, Coat and Shirt: how many of each were taken
    for which, and what share of all mistakes happens inside this block."""
    cm = np.asarray(cm)
    block = cm[np.ix_(UPPER_BODY, UPPER_BODY)]
    names = [CLASS_NAMES[c] for c in UPPER_BODY]
    lines = ["true \\ predicted " + "".join(f"{n:>13}" for n in names)]
    for n, row in zip(names, block):
        lines.append(f"{n:<17}" + "".join(f"{v:>13d}" for v in row))
    inside = int(block.sum() - np.trace(block))
    errors = int(cm.sum() - np.trace(cm))
    lines.append(f"Mistakes inside these four classes: {inside} of all {errors} "
                 f"({inside / max(errors, 1):.0%}).")
    return "\n".join(lines)


def mistakes_view(x, t, y, true_class=None, max_images=20):
    """The first ``max_images`` misclassified test images, titled 'true -> predicted' with class
    names; ``true_class`` (a number or name) shows only the mistakes on that class."""
    t, y = np.asarray(t), np.asarray(y)
    cls = _class_index(true_class)
    shown = y if cls is None else np.where(t == cls, y, t)   # others count as right: not shown
    n = int(np.sum(shown != t))
    which = "all classes" if cls is None else CLASS_NAMES[cls]
    fig = plot_mistakes(x, t, shown, max_images=max_images, ncols=10, class_names=CLASS_NAMES,
                        title=f"{min(n, max_images)} of {n} mistakes on {which} (true \u2192 predicted)")
    return ui.View(f"{n} mistakes on {which}; the first {min(n, max_images)} in test-set order.", fig)


def _class_index(c):
    if c is None:
        return None
    return CLASS_NAMES.index(c) if isinstance(c, str) else int(c)


def filters_view(W_mnist, W_fashion):
    """The first-layer filters of two SimpleConvNets, MNIST's above, Fashion-MNIST's below, each
    filter on its own grey scale (black most positive); and the range of their weights."""
    fig = plt.figure(figsize=(9, 4.2))
    parts = fig.subfigures(2, 1)
    lines = []
    for part, W, name in zip(parts, (W_mnist, W_fashion), ("MNIST", "Fashion-MNIST")):
        W = np.asarray(W)
        FN = W.shape[0]
        axes = part.subplots(2, -(-FN // 2), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for k, ax in enumerate(axes.ravel()[:FN]):
            ax.imshow(W[k, 0], cmap="gray_r", interpolation="nearest")
        part.suptitle(f"{name}: {FN} filters {W.shape[2]}x{W.shape[3]}", fontsize=10)
        lines.append(f"{name:<14} W1 {W.shape}, weights from {W.min():+.3f} to {W.max():+.3f}, "
                     f"std {W.std():.3f}")
    return ui.View("\n".join(lines), fig)


# -- browsing one class -------------------------------------------------------------------------

def class_view(x, t, y, p, class_name="Shirt", start=0, mistakes_only=False, n=12):
    """Test images of one class, from its ``start``-th on, each titled with the net's answer and
    its softmax probability (green right, red wrong); ``mistakes_only`` skips the right ones."""
    cls = _class_index(class_name)
    t, y, p = np.asarray(t), np.asarray(y), np.asarray(p)
    idx = np.flatnonzero(t == cls)
    right = int(np.sum(y[idx] == cls))
    wrong_as = np.bincount(y[idx][y[idx] != cls].astype(np.intp), minlength=10)
    pool = idx[y[idx] != cls] if mistakes_only else idx
    start = int(np.clip(start, 0, max(len(pool) - 1, 0)))
    show = pool[start:start + n]
    fig, axes = plt.subplots(2, n // 2, figsize=(1.1 * (n // 2), 3.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), show):
        ax.imshow(x[i].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ok = y[i] == cls
        ax.set_title(f"#{i}\n{CLASS_NAMES[y[i]]} {p[i]:.2f}", fontsize=7,
                     color="tab:green" if ok else "tab:red")
    kind = "mistakes on" if mistakes_only else "images of"
    fig.suptitle(f"{CLASS_NAMES[cls]}: {kind} this class, {start + 1}-{start + len(show)} of {len(pool)}",
                 fontsize=10)
    fig.tight_layout()
    taken = ", ".join(f"{CLASS_NAMES[c]} {wrong_as[c]}" for c in np.argsort(-wrong_as, kind="stable")
                      if wrong_as[c])
    text = (f"{CLASS_NAMES[cls]}: {len(idx)} test images, {right} recognised (recall "
            f"{right / max(len(idx), 1):.3f}); taken for: {taken or 'nothing'}.")
    return ui.View(text, fig)


def class_explorer(x, t, y, p):
    """Pick a class and browse its test images with the net's answers; 'mistakes only' shows
    just the ones it got wrong."""
    most = int(np.bincount(np.asarray(t, dtype=np.intp), minlength=10).max())
    return ui.explorer(lambda class_name, start, mistakes_only: class_view(
        x, t, y, p, class_name, start, mistakes_only), {
        "class_name": ui.choice("class", CLASS_NAMES, "Shirt"),
        "start": ui.slider("from image", 0, 0, max(most - 1, 0), 12),
        "mistakes_only": ui.toggle("mistakes only"),
    })


# -- exercise -----------------------------------------------------------------------------------

@answer_check
def check_shirt_recall(answer, cm) -> bool:
    """The exercise: the recall of Shirt (class 6) read from the confusion matrix ``cm`` (rows:
    true class): shirts recognised / all shirts, a fraction in [0, 1], computed, not rounded:
    exact to float64 rounding (``check.close``). A rounded value fails with a hint saying so."""
    cm = np.asarray(cm)
    right = cm[SHIRT, SHIRT] / cm[SHIRT].sum()
    got = as_number(answer)
    if got is None:
        return report(False, "", "give one number, a fraction between 0 and 1 "
                                 "(e.g. 0.5 means half the shirts were recognised).")
    if close(got, right):
        return report(True, f"recall of Shirt = {cm[SHIRT, SHIRT]} / {cm[SHIRT].sum()} = {right:.4f}: "
                            f"the net misses about {1 - right:.0%} of the shirts.")
    precision = cm[SHIRT, SHIRT] / max(cm[:, SHIRT].sum(), 1)
    if abs(got - right) <= 5e-4:                        # the hints below recognise rounded values too
        hint = ("that is the recall rounded (or nearly right); give the exact fraction: "
                "compute it from cm rather than copying digits.")
    elif abs(got - precision) <= 5e-4:
        hint = ("that divides by the COLUMN (all images predicted Shirt: the precision); recall "
                "divides by the ROW, all images that are shirts.")
    elif got == cm[SHIRT, SHIRT]:
        hint = f"{got:g} is the count of shirts recognised; divide it by the number of shirts."
    elif abs(got / 100 - right) <= 5e-4:
        hint = "that looks like a percentage; give the fraction (between 0 and 1)."
    elif abs(got - cm[SHIRT, SHIRT] / cm.sum()) <= 5e-4:
        hint = "divide by the shirts only (row 6's sum), not by all test images."
    else:
        hint = ("take row 6 of the confusion matrix (the true shirts): its diagonal cell divided "
                "by the row's sum.")
    return report(False, "", hint)
