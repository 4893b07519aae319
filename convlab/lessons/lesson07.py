"""Lesson 7 (notebooks/07_what_the_network_sees.ipynb): filters as images, their responses to a
digit, and one digit followed through the net layer by layer.

    plot_filter_responses(W, b, image, filters) the chosen filters (top) and their responses (bottom)
    filter_response_view(W, b, x, index, filters) -> View: that figure for test image ``index``
    filter_response_explorer(W, b, x, filters)  a slider over the images
    plot_feature_maps(net, image, layers, max_maps, maps) one row of channels per layer
    feature_map_view(net, x, t, index, layers, max_maps) -> View: label, prediction and the maps
    feature_map_explorer(net, x, t, layers, max_maps)     a slider over the images
    check_filter_response, check_feature_map_shape: the exercises

The numbers come from the core: ``convlab.analysis.filter_responses`` (the library's Convolution
layer), ``feature_maps`` (one forward pass, every layer's output) and ``receptive_fields``; the
filters themselves are drawn by ``draw.plot_filters``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..analysis import feature_maps, filter_responses, image_chw
from ..layers import softmax
from . import ui
from .check import answer_check, as_array, as_shape, report

__all__ = ["plot_filter_responses", "filter_response_view", "filter_response_explorer",
           "plot_feature_maps", "feature_map_view", "feature_map_explorer", "check_filter_response",
           "check_feature_map_shape"]


def _clip_index(index, n):
    """(index clipped into 0..n-1, a note saying so or '')."""
    if 0 <= index < n:
        return index, ""
    clipped = min(max(index, 0), n - 1)
    return clipped, f" (index {index} is outside 0..{n - 1}; showing {clipped})"


# -- learned filters applied to a digit ----------------------------------------------------------

def plot_filter_responses(W, b, image, filters=(0, 1, 2, 3, 4, 5), resp=None):
    """Top row: the chosen filters; bottom row: the image convolved with each (before the ReLU).
    Red = strong positive response, blue = negative. ``resp``: ``filter_responses(W, b, image)``
    if the caller has it already."""
    filters = list(filters)
    resp = filter_responses(W, b, image) if resp is None else resp       # (FN, OH, OW)
    n = len(filters) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.7 * n, 3.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[1, 0].imshow(image_chw(image)[0], cmap="gray_r", vmin=0, vmax=1)
    axes[1, 0].set_title("input", fontsize=9)
    for col, k in enumerate(filters, start=1):
        axes[0, col].imshow(np.asarray(W)[k, 0], cmap="gray_r", interpolation="nearest")
        axes[0, col].set_title(f"filter {k}", fontsize=9)
        m = float(np.abs(resp[k]).max()) or 1.0
        axes[1, col].imshow(resp[k], cmap="RdBu_r", vmin=-m, vmax=m)
        axes[1, col].set_title(f"response {k}", fontsize=9)
    fig.tight_layout()
    return fig


def filter_response_view(W, b, x, index=0, filters=(0, 1, 2, 3, 4, 5)):
    """Test image ``index`` of ``x`` through the chosen first-layer filters: which of them responds
    most strongly, and the figure. An index out of range is clipped into range and said so."""
    index, note = _clip_index(index, len(x))
    filters = list(filters)
    resp = filter_responses(W, b, x[index])                              # (FN, OH, OW)
    peaks = [float(resp[k].max()) for k in filters]
    best = filters[int(np.argmax(peaks))]
    text = (f"Test image #{index}{note}: the strongest response among filters {filters} is "
            f"filter {best} (peak {max(peaks):.2f})")
    return ui.View(text, plot_filter_responses(W, b, x[index], filters, resp=resp))


def filter_response_explorer(W, b, x, filters=(0, 1, 2, 3, 4, 5)):
    """A slider over the images of ``x``: the chosen first-layer filters applied to each."""
    filters = list(filters)

    def view(index):
        return filter_response_view(W, b, x, index, filters)

    return ui.explorer(view, {"index": ui.slider("test image", 0, 0, len(x) - 1)})


# -- one digit, layer by layer ---------------------------------------------------------------------

def plot_feature_maps(net, image, layers=None, max_maps=8, maps=None):
    """One row per layer: the first ``max_maps`` channels of its output for one image, each row
    titled with the layer's name and output shape (C, H, W). ``layers``: names to show (default:
    every conv and pool layer). ``maps``: ``feature_maps(net, image)`` if the caller has it."""
    if maps is None:
        maps = feature_maps(net, image)
    maps = [(n, a) for n, a in maps if a.ndim == 3]
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
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.08, hspace=0.12)
    return fig


def feature_map_view(net, x, t, index=0, layers=None, max_maps=8):
    """Test image ``index`` of ``x`` (labels ``t``) through ``net``: its label, the prediction and
    every shown layer's feature maps, from ONE forward pass (``convlab.analysis.feature_maps``).
    An index out of range is clipped into range and said so."""
    index, note = _clip_index(index, len(x))
    maps = feature_maps(net, x[index])             # [(layer name, output), ...], in order
    p = softmax(maps[-1][1])                       # the last layer's output: the class scores
    pred = int(p.argmax())
    text = (f"Test image #{index}{note}: label {int(t[index])}, predicted {pred} "
            f"(softmax {p[pred]:.2f})")
    return ui.View(text, plot_feature_maps(net, x[index], layers=layers, max_maps=max_maps, maps=maps))


def feature_map_explorer(net, x, t, layers=None, max_maps=8):
    """A slider over the images of ``x``: each image's feature maps, layer by layer."""

    def view(index):
        return feature_map_view(net, x, t, index, layers, max_maps)

    return ui.explorer(view, {"index": ui.slider("test image", 0, 0, len(x) - 1)})


# -- exercises -------------------------------------------------------------------------------------

@answer_check
def check_filter_response(answer, W, b, image, k) -> bool:
    """Exercise 1: the feature map of filter ``k`` on one image (before the ReLU), shape (OH, OW)
    (a (1, 1, OH, OW) array is accepted too); agrees to 1e-4 relative to the largest value."""
    right = filter_responses(W, b, image)[k]                             # (OH, OW)
    a = as_array(answer)
    if a is None or a.size != right.size:
        got = "no array of numbers" if a is None else f"shape {a.shape}"
        return report(False, "", f"expected an array of shape {right.shape} (a 28x28 image and a "
                                 f"{W.shape[2]}x{W.shape[3]} filter, stride 1, no padding); got {got}")
    ok = np.allclose(a.reshape(right.shape), right, rtol=1e-4,
                     atol=1e-4 * max(1.0, float(np.abs(right).max())))
    return report(ok, f"filter {k}'s feature map matches, shape {right.shape}.",
                  "build Convolution(W[k:k+1], b[k:k+1]) and call forward on image[None] "
                  "(shape (1, 1, 28, 28)); take [0, 0] of the result. Did you add the bias?")


@answer_check
def check_feature_map_shape(answer, net, layer) -> bool:
    """Exercise 2: the (C, H, W) output shape of ``layer`` in ``net``: a tuple, list or array, exact."""
    shapes = dict(net.shapes)
    if layer not in shapes:
        return report(False, "", f"layer must be one of {list(shapes)[1:]}, got {layer!r}")
    right = tuple(shapes[layer])
    return report(as_shape(answer) == right, f"{layer} outputs {right}.",
                  "3x3 convolutions with pad 1 keep H and W and set C to the number of filters; "
                  "each 2x2 pooling halves H and W (rounding down) and keeps C")
