"""Lesson 7 (notebooks/07_what_the_network_sees.ipynb): filters as images, their responses to a
digit, and one digit followed through the net layer by layer.

    plot_filter_responses(W, b, image, filters) the chosen filters (top) and their responses (bottom)
    filter_response_view(W, b, x, index, filters) -> View: that figure for test image ``index``
    filter_response_explorer(W, b, x, filters)  a slider over the images
    plot_feature_maps(net, image, layers, max_maps, maps) one row of channels per layer
    feature_map_view(net, x, t, index, layers, max_maps) -> View: label, prediction and the maps
    feature_map_explorer(net, x, t, layers, max_maps)     a slider over the images
    BOOK_DEEP_SPEC, book_deep_net()             the book's chapter 8 DeepConvNet, built with our layers
    compare_with_book(net)                      -> text: our deep net's shapes beside the book's
    BOOK_HIERARCHY                              the book's figure's layers -> ours, and what they show
    unit_windows(net)                           where each conv/pool unit looks in the input
    strongest_units(net, x)                     one pass: every channel's peak on every image
    hierarchy_report(net, units, t)             -> text: per layer, how often a channel's top images share a label
    plot_top_patches(net, x, units, ...)        the input patches that excite chosen channels most
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
from ..nets import Net
from . import ui
from .check import answer_check, as_array, as_shape, report

__all__ = ["plot_filter_responses", "filter_response_view", "filter_response_explorer",
           "plot_feature_maps", "feature_map_view", "feature_map_explorer", "check_filter_response",
           "check_feature_map_shape", "BOOK_DEEP_SPEC", "book_deep_net", "compare_with_book",
           "BOOK_HIERARCHY", "unit_windows", "strongest_units", "hierarchy_report",
           "plot_top_patches"]


def _clip_index(index, n):
    """(index clipped into 0..n-1, a note saying so or '')."""
    if 0 <= index < n:
        return index, ""
    clipped = min(max(index, 0), n - 1)
    return clipped, f" (index {index} is outside 0..{n - 1}; showing {clipped})"


# -- learned filters applied to a digit ----------------------------------------------------------

def plot_filter_responses(W, b, image, filters=(0, 1, 2, 3, 4, 5), resp=None):
    """Top row: the chosen filters (each on its own grey scale); bottom row: the image convolved
    with each, before the ReLU, all on ONE colour scale (a colour bar gives it): red = positive
    response, blue = negative, white = 0. ``resp``: ``filter_responses(W, b, image)`` if the
    caller has it already."""
    filters = list(filters)
    resp = filter_responses(W, b, image) if resp is None else resp       # (FN, OH, OW)
    n = len(filters) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.7 * n, 3.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[1, 0].imshow(image_chw(image)[0], cmap="gray_r", vmin=0, vmax=1)
    axes[1, 0].set_title("input", fontsize=9)
    m = float(max(np.abs(resp[k]).max() for k in filters)) or 1.0      # one scale for the row
    for col, k in enumerate(filters, start=1):
        axes[0, col].imshow(np.asarray(W)[k, 0], cmap="gray_r", interpolation="nearest")
        axes[0, col].set_title(f"filter {k}", fontsize=9)
        im = axes[1, col].imshow(resp[k], cmap="RdBu_r", vmin=-m, vmax=m)
        axes[1, col].set_title(f"response {k}", fontsize=9)
    fig.tight_layout()
    fig.colorbar(im, ax=list(axes[1, 1:]), fraction=0.03, pad=0.01).ax.tick_params(labelsize=7)
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
    titled with the layer's name and output shape (C, H, W), and "before ReLU" for a layer whose
    output goes into a ReLU. The maps of one row share ONE colour scale (viridis, dark = low,
    yellow = high), given by the colour bar at the row's end; each row has its own scale.
    ``layers``: names to show (default: every conv and pool layer). ``maps``:
    ``feature_maps(net, image)`` if the caller has it."""
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
    order = list(net.layers)
    before_relu = {n for n, nxt in zip(order, order[1:]) if nxt.startswith("Relu")}
    fig, axes = plt.subplots(len(rows), max_maps + 1, figsize=(1.25 * (max_maps + 1) + 0.9, 1.35 * len(rows)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.9, bottom=0.01, top=0.99, wspace=0.08, hspace=0.12)
    for r, (name, a) in enumerate(rows):
        C, H, W = a.shape
        label = f"{name}\n{C}x{H}x{W}" + ("\nbefore ReLU" if name in before_relu else "")
        axes[r, 0].text(0.0, 0.5, label, fontsize=9, va="center", transform=axes[r, 0].transAxes)
        shown = a[:max_maps]
        lo, hi = float(shown.min()), float(shown.max())
        for c in range(min(C, max_maps)):
            im = axes[r, c + 1].imshow(a[c], cmap="gray_r" if name == "input" else "viridis",
                                       vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if name != "input":
            box = axes[r, -1].get_position()
            cax = fig.add_axes([0.915, box.y0 + 0.1 * box.height, 0.012, 0.8 * box.height])
            bar = fig.colorbar(im, cax=cax)
            bar.ax.tick_params(labelsize=7)
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


# -- the book's deeper net beside ours ------------------------------------------------------------

def _conv3(fn, pad=1):
    return [("conv", {"filter_num": fn, "filter_size": 3, "pad": pad}), ("relu", {})]


#: The book's DeepConvNet (its chapter 8, ``ch08/deep_convnet.py``) as a spec of our layers. It
#: differs from ours in Conv4's padding (2, not 1) and in a second Dropout(0.5) on the class
#: scores, which a Net cannot end with (``BOOK_DEEP_EXTRA``).
BOOK_DEEP_SPEC = (_conv3(16) + _conv3(16) + [("pool", {"size": 2})] + _conv3(32) + _conv3(32, pad=2)
                  + [("pool", {"size": 2})] + _conv3(64) + _conv3(64) + [("pool", {"size": 2})]
                  + [("affine", {"size": 50}), ("relu", {}), ("dropout", {"ratio": 0.5}),
                     ("affine", {"size": 10})])
BOOK_DEEP_EXTRA = "Dropout(0.5) on the class scores after Affine2 (training only)"


def book_deep_net(seed=0):
    """The book's chapter 8 DeepConvNet built from ``BOOK_DEEP_SPEC`` (He initialisation, as the
    book's), without its final Dropout."""
    return Net(spec=BOOK_DEEP_SPEC, weight_init_std="he", seed=seed)


def compare_with_book(net, book=None):
    """Text: the output shape of every conv, pool and affine layer in ``net`` (our deep net) beside
    the book's DeepConvNet, rows that differ marked '<-'; then the padding that differs, the dropout
    layers and the parameter counts of both."""
    book = book_deep_net() if book is None else book
    ours, theirs = dict(net.shapes), dict(book.shapes)
    names = [n for n, _ in book.shapes if not n.startswith(("Relu", "Dropout"))]
    rows = [f"{'layer':<9} {'ours':>14} {'book':>14}"]
    for n in names:
        a, b = ours.get(n), theirs[n]
        fmt = lambda s: " x ".join(map(str, s)) if s is not None else "-"  # noqa: E731
        rows.append(f"{n:<9} {fmt(a):>14} {fmt(b):>14}" + ("   <-" if a != b else ""))
    pads = {n: net.layers[n].pad[0] for n in ours if n.startswith("Conv")}
    bpads = {n: book.layers[n].pad[0] for n in theirs if n.startswith("Conv")}
    diff = [f"{n} pad {pads[n]} (book: {bpads[n]})" for n in pads if pads[n] != bpads.get(n)]
    count = lambda m: sum(p.size for p in m.params.values())  # noqa: E731
    rows += ["", "padding that differs: " + (", ".join(diff) or "none"),
             f"dropout layers, ours: {[n for n in ours if n.startswith('Dropout')]}; the book's: "
             f"{[n for n in theirs if n.startswith('Dropout')]} and {BOOK_DEEP_EXTRA}",
             f"Affine1 inputs, ours: {net.layers['Affine1'].W.shape[0]:,}; the book's: "
             f"{book.layers['Affine1'].W.shape[0]:,}",
             f"parameters, ours: {count(net):,}; the book's: {count(book):,}"]
    return "\n".join(rows)


# -- the hierarchy of features ----------------------------------------------------------------------

#: The book's figure (AlexNet's layers, after Wei et al. 2015): its layer, the layer of our deep
#: net at the same place, and what the book says the units of that layer respond to.
BOOK_HIERARCHY = (("Conv1", "Conv1", "edges and blobs"), ("Conv3", "Conv3", "textures"),
                  ("Conv5", "Conv5", "object parts"), ("Fc8", "Affine2", "object classes"))


def unit_windows(net):
    """{layer: (offset, jump, field)} for every conv and pool layer: the unit at row y of the layer
    looks at input rows offset + y*jump .. offset + y*jump + field - 1 (columns alike; rows outside
    0..H-1 are padding). ``field`` is ``analysis.receptive_fields``'s receptive field."""
    out, offset, jump, field = {}, 0, 1, 1
    for name, layer in net.layers.items():
        if name.startswith("Conv"):
            k, s, p = layer.W.shape[2], layer.stride[0], layer.pad[0]
        elif name.startswith("Pool"):
            k, s, p = layer.pool_h, layer.stride[0], layer.pad[0]
        else:
            continue
        offset -= p * jump
        field += (k - 1) * jump
        jump *= s
        out[name] = (offset, jump, field)
    return out


def strongest_units(net, x, batch_size=100):
    """ONE pass of the images ``x`` (N, C, H, W) through ``net`` (test mode), in batches:
    {layer: (peak, where)} for every Conv and Affine layer. ``peak`` (N, channels): a conv
    channel's largest output over all positions (before the ReLU), an affine unit's output;
    ``where`` (N, channels): the flat position y * OW + x of that largest output (0 for affine)."""
    parts = {}
    for i in range(0, len(x), batch_size):
        for name, a in net.activations(x[i:i + batch_size]):
            if name.startswith(("Conv", "Affine")):
                flat = a.reshape(a.shape[0], a.shape[1], -1)          # (n, C, OH*OW) or (n, M, 1)
                parts.setdefault(name, []).append((flat.max(axis=2), flat.argmax(axis=2)))
    return {name: tuple(np.concatenate(p) for p in zip(*v)) for name, v in parts.items()}


def _top(peak, channel, k):
    """The k images on which ``channel`` peaks highest (ties: the lower index first)."""
    return np.argsort(-peak[:, channel], kind="stable")[:k]


def label_shares(peak, t, top=20):
    """For each channel that fires at all (peak > 0 on some image): the share of its ``top``
    strongest images that carry the most common label among them (1.0: all one digit; about
    0.2 to 0.3 for a channel that ignores which digit it is). Returns (shares, number silent)."""
    t = np.asarray(t)
    shares = [np.bincount(t[_top(peak, c, top)].astype(np.intp)).max() / top  # intp: browser
              for c in range(peak.shape[1]) if peak[:, c].max() > 0]
    return np.array(shares), peak.shape[1] - len(shares)


def hierarchy_report(net, units, t, top=20):
    """Text, one row per Conv/Affine layer of ``net``: channels, receptive field, silent channels,
    and the mean share of a channel's ``top`` strongest images (``units`` from
    ``strongest_units``, labels ``t``) that are one digit; the book's figure's names beside."""
    book = {ours: f"{theirs}: {what}" for theirs, ours, what in BOOK_HIERARCHY}
    win = unit_windows(net)
    H = net.input_dim[1]
    rows = [f"{'layer':<8} {'channels':>8} {'field':>8} {'silent':>6} {f'top-{top} one digit':>17}  "
            f"book's figure"]
    for name, (peak, _) in units.items():
        shares, silent = label_shares(peak, t, top)
        field = f"{win[name][2]}" if name in win else f"{H} (all)"
        rows.append(f"{name:<8} {peak.shape[1]:8d} {field:>8} {silent:6d} {shares.mean():17.2f}  "
                    f"{book.get(name, '')}")
    return "\n".join(rows)


def _patch(image, offset, jump, field, pos, OW):
    """The input window (field x field, zeros outside the image) of the unit at flat ``pos``."""
    y, x = divmod(int(pos), OW)
    r, c = offset + y * jump, offset + x * jump
    img = image_chw(image)[0]
    H, W = img.shape
    out = np.zeros((field, field), dtype=float)
    r0, r1, c0, c1 = max(r, 0), min(r + field, H), max(c, 0), min(c + field, W)
    if r0 < r1 and c0 < c1:
        out[r0 - r:r1 - r, c0 - c:c1 - c] = img[r0:r1, c0:c1]
    return out


def plot_top_patches(net, x, units, layers=("Conv1", "Conv3", "Conv5", "Affine2"), channels=(0, 1, 2),
                     k=5):
    """One row per layer: for each of ``channels``, the ``k`` input patches that excite it most
    among the images ``x`` (``units`` from ``strongest_units``), each patch the unit's receptive
    field (zeros where it passes the image's border). An Affine unit sees the whole image."""
    win = unit_windows(net)
    shapes = dict(net.shapes)
    book = {ours: theirs for theirs, ours, _ in BOOK_HIERARCHY}
    ncols = 1 + len(channels) * (k + 1) - 1
    fig, axes = plt.subplots(len(layers), ncols, figsize=(0.78 * ncols, 0.95 * len(layers)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, name in enumerate(layers):
        peak, where = units[name]
        size = f"{win[name][2]}x{win[name][2]}" if name in win else "whole image"
        label = f"{name}\nbook: {book[name]}\n{size}" if name in book else f"{name}\n{size}"
        axes[r, 0].text(0.0, 0.5, label, fontsize=8, va="center", transform=axes[r, 0].transAxes)
        for g, c in enumerate(channels):
            for j, i in enumerate(_top(peak, c, k)):
                ax = axes[r, 1 + g * (k + 1) + j]
                if name in win:
                    OW = shapes[name][2]
                    patch = _patch(x[i], *win[name], where[i, c], OW)
                else:
                    patch = image_chw(x[i])[0]
                ax.imshow(patch, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                ax.axis("on")                                   # a thin frame, no ticks
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_color("0.7")
                if j == 0:
                    ax.set_title(f"ch {c}" if name in win else f"unit {c}", fontsize=8, loc="left")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9, wspace=0.1, hspace=0.35)
    return fig


# -- exercises -------------------------------------------------------------------------------------

@answer_check
def check_filter_response(answer, W, b, image, k) -> bool:
    """Exercise 1: the feature map of filter ``k`` on one image (before the ReLU), shape (OH, OW)
    (a (1, 1, OH, OW) array is accepted too). Every cell agrees to 32 units in the last place of
    the weights' dtype, relative to the map's largest value (float32: 3.8e-6; a loop summing in
    another order, in float32 or float64, differs by at most 3e-7 on the shipped net), so a map
    off by 5e-5 relative fails."""
    right = filter_responses(W, b, image)[k]                             # (OH, OW)
    a = as_array(answer)
    if a is None or a.size != right.size:
        got = "no array of numbers" if a is None else f"shape {a.shape}"
        return report(False, "", f"expected an array of shape {right.shape} (a 28x28 image and a "
                                 f"{W.shape[2]}x{W.shape[3]} filter, stride 1, no padding); got {got}")
    tol = 32 * np.finfo(right.dtype).eps * float(np.abs(right).max())
    ok = bool(np.all(np.abs(a.reshape(right.shape) - right) <= tol))
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
