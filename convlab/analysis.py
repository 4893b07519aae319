"""Numbers the lessons show, computed without drawing anything (NumPy only, no matplotlib).

Lesson modules (``convlab.lessons``) draw these; the CLI prints them. Each function names the
lesson that teaches it.
"""
from __future__ import annotations

import numpy as np

from .arith import conv_output_size as _conv_out
from .layers import Convolution

__all__ = ["coverage_1d", "coverage_map", "confusion_matrix", "image_chw", "filter_responses",
           "feature_maps", "receptive_fields", "multiply_adds"]


def coverage_1d(size, kernel, stride=1, pad=0, dilation=1):
    """How many windows use each position of one padded axis (length ``size + 2*pad``).

    All zeros when the filter does not fit. Taught in notebooks/01_output_size.ipynb.
    """
    padded = size + 2 * pad
    extent = dilation * (kernel - 1) + 1
    count = np.zeros(padded, dtype=int)
    if extent > padded:
        return count
    n_out = _conv_out(size, kernel, stride, pad, dilation)
    for i in range(n_out):
        count[i * stride:i * stride + extent:dilation] += 1
    return count


def coverage_map(H, W, FH, FW, pad=0, stride=1, dilation=1):
    """(H+2P, W+2P) array: how many windows use each cell of the padded input.

    The 2-D count is the outer product of the two 1-D counts, because windows are placed on a
    grid. Taught in notebooks/01_output_size.ipynb.
    """
    return np.outer(coverage_1d(H, FH, stride, pad, dilation), coverage_1d(W, FW, stride, pad, dilation))


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
    # np.intp: what np.bincount takes (int32 in the browser, where int64 would not cast).
    flat = t.astype(np.intp) * n_classes + y.astype(np.intp)              # (N,) one cell id each
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def image_chw(image):
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
    W = np.asarray(W)
    img = image_chw(image).astype(W.dtype)[None]                          # (1, C, H, W)
    return Convolution(W, np.asarray(b, dtype=W.dtype)).forward(img)[0]   # (FN, OH, OW)


def feature_maps(net, image):
    """Run one image through ``net`` (test mode) and return [(layer name, output), ...] for every
    layer, outputs without the batch axis: (C, H, W) for conv/pool/ReLU, (M,) for affine.
    Taught in notebooks/07_what_the_network_sees.ipynb.
    """
    x = np.asarray(image).reshape((1,) + net.input_dim)                   # (1, C, H, W)
    return [(name, out[0]) for name, out in net.activations(x)]


def receptive_fields(net):
    """[(layer name, output shape, receptive field)] for every conv and pool layer: the side of
    the input square (in pixels, padding included) that one output unit of the layer depends on.
    Each layer with kernel k adds (k - 1) * (product of the earlier strides). Taught in
    notebooks/07_what_the_network_sees.ipynb."""
    rows, field, jump = [], 1, 1
    for name, shape in net.shapes[1:]:
        layer = net.layers[name]
        if name.startswith("Conv"):
            k, s = layer.W.shape[2], layer.stride[0]
        elif name.startswith("Pool"):
            k, s = layer.pool_h, layer.stride[0]
        else:
            continue
        field += (k - 1) * jump
        jump *= s
        rows.append((name, tuple(shape), field))
    return rows


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


# -- lessons 4 and 5 (notebooks/04_im2col.ipynb, notebooks/05_forward_backward.ipynb) ----------

__all__ += ["im2col_ratio"]


def im2col_ratio(H, filter_size, stride=1, pad=0):
    """col size / input size of im2col for an (N, C, H, H) input and FH = FW = filter_size.
    N and C cancel: the ratio is OH*OW*FH*FW / (H*W). Taught in notebooks/04_im2col.ipynb."""
    OH = _conv_out(H, filter_size, stride, pad)
    return OH * OH * filter_size * filter_size / (H * H)
