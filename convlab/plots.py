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


def plot_feature_maps(net, image, layers=None, max_maps=8):
    """One row per layer: the first ``max_maps`` channels of its output for one image, each
    titled with the layer's name and output shape (C, H, W). ``layers``: names to show (default:
    every conv and pool layer). Taught in notebooks/07_what_the_network_sees.ipynb."""
    maps = [(n, a) for n, a in feature_maps(net, image) if a.ndim == 3]
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
    fig.tight_layout()
    return fig


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
        k = min(50, len(loss)) or 1
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        steps_per_epoch = len(loss) / max(len(h["test_acc"]), 1)
        ax2.plot((np.arange(len(smooth)) + k) / steps_per_epoch, smooth, color=line.get_color(), label=label)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss (mean of 50 steps)")
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
