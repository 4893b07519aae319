"""The PyTorch twin of any convlab ``Net``, built from the net's own layers (bench code: torch is a
benchmark peer and a test oracle here, never a convlab dependency).

    model = twin(net)                  # torch.nn.Sequential holding copies of net.params
    loss = F.cross_entropy(model(x), t)
    grads = grads_like(model)          # {"W1": ..., "b1": ...} as NumPy arrays, keyed like net.params

Layer by layer (every option is read off the convlab layer, none is written per net):

| convlab | torch |
|---|---|
| ``Convolution(W, b, stride, pad, dilation)`` | ``Conv2d`` with weight W, bias b and the same stride, padding, dilation |
| ``Pooling(..., mode="max")`` | ``MaxPool2d`` (same window, stride, padding; both pad with -inf) |
| ``Pooling(..., mode="avg")`` | ``AvgPool2d(..., count_include_pad=True)``: convlab averages over the padded cells too (zeros) |
| ``Relu``, ``Sigmoid`` | ``ReLU``, ``Sigmoid`` |
| ``Affine(W, b)`` (W: D x M) | ``Flatten`` + ``Linear(D, M)`` with weight W.T (torch keeps M x D) |
| ``Dropout(ratio)`` | ``Dropout(p=ratio)`` (inverted dropout in both; its own random masks) |
| ``LRN(n, k, alpha, beta)`` | ``LocalResponseNorm(size=n, alpha=alpha, beta=beta, k=k)`` |
| ``SoftmaxWithLoss`` | ``F.cross_entropy`` (mean over the batch) |

LRN's alpha maps as it is: both divide alpha by the window, y_c = x_c / (k + alpha/n *
sum x^2) ** beta (torch averages the squares over ``size`` channels, the zero padding included;
convlab sums them over the channels that exist and divides by n: the same number), and both
centre the window the same way, channels [c - n//2, c + (n-1)//2], so an even n matches too.
``tests/test_bench_twins.py`` proves the twin of every registry net equal to the net.
"""
from __future__ import annotations

import numpy as np
import torch

from convlab import layers as L

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _tensor(a, dtype):
    return torch.from_numpy(np.ascontiguousarray(a)).to(TORCH_DTYPES[np.dtype(dtype)])


def twin_modules(layers, in_channels, dtype):
    """[(torch module, {convlab param attribute -> (torch parameter, transposed?)}), ...] for a
    sequence of convlab layers; ``in_channels`` is the input's C (Conv2d wants it)."""
    out, C = [], in_channels
    for layer in layers:
        kind = type(layer)
        if kind is L.Convolution:
            FN, C_in, FH, FW = layer.W.shape
            if C_in != C:
                raise ValueError(f"a convolution expects C = {C_in} input channels, got {C}")
            m = torch.nn.Conv2d(C_in, FN, (FH, FW), stride=layer.stride, padding=layer.pad,
                                dilation=layer.dilation, dtype=TORCH_DTYPES[np.dtype(dtype)])
            with torch.no_grad():
                m.weight.copy_(_tensor(layer.W, dtype))
                m.bias.copy_(_tensor(layer.b, dtype))
            out.append((m, {"W": (m.weight, False), "b": (m.bias, False)}))
            C = FN
        elif kind is L.Pooling:
            window = (layer.pool_h, layer.pool_w)
            m = (torch.nn.MaxPool2d(window, layer.stride, layer.pad) if layer.mode == "max" else
                 torch.nn.AvgPool2d(window, layer.stride, layer.pad, count_include_pad=True))
            out.append((m, {}))
        elif kind is L.Relu:
            out.append((torch.nn.ReLU(), {}))
        elif kind is L.Sigmoid:
            out.append((torch.nn.Sigmoid(), {}))
        elif kind is L.Affine:
            D, M = layer.W.shape
            m = torch.nn.Linear(D, M, dtype=TORCH_DTYPES[np.dtype(dtype)])
            with torch.no_grad():
                m.weight.copy_(_tensor(layer.W.T, dtype))                 # (M, D)
                m.bias.copy_(_tensor(layer.b, dtype))
            out.append((torch.nn.Flatten(), {}))
            out.append((m, {"W": (m.weight, True), "b": (m.bias, False)}))
            C = M
        elif kind is L.Dropout:
            out.append((torch.nn.Dropout(p=layer.ratio), {}))
        elif kind is L.LRN:
            out.append((torch.nn.LocalResponseNorm(layer.n, alpha=layer.alpha, beta=layer.beta,
                                                   k=layer.k), {}))
        else:
            raise ValueError(f"no PyTorch twin for a layer of class {kind.__name__}")
    return out


def twin(net, dtype=None):
    """A ``torch.nn.Sequential`` computing ``net.predict`` from copies of ``net.params`` (in
    ``dtype``, default the net's). ``model.convlab_params`` maps each convlab parameter name
    (W1, b1, ...) to (torch parameter, transposed?), for :func:`grads_like`."""
    dtype = net.dtype if dtype is None else np.dtype(dtype)
    pieces = twin_modules(net.layers.values(), net.input_dim[0], dtype)
    model = torch.nn.Sequential(*[m for m, _ in pieces])
    by_layer = [p for _, p in pieces if p]                    # layers that own W and b, in order
    model.convlab_params = {f"{attr}{i}": tp for i, p in enumerate(by_layer, start=1)
                            for attr, tp in p.items()}
    if set(model.convlab_params) != set(net.params):
        raise ValueError(f"the twin holds {sorted(model.convlab_params)}, the net "
                         f"{sorted(net.params)}")
    return model


def grads_like(model):
    """The twin's gradients after a backward pass, as NumPy arrays keyed like the net's params
    (Linear's weight gradient transposed back to convlab's D x M)."""
    return {k: (p.grad.T if transposed else p.grad).detach().numpy().copy()
            for k, (p, transposed) in model.convlab_params.items()}


def loss_fn(scores, t):
    """SoftmaxWithLoss's twin: the mean cross-entropy of scores (N, K) against labels (N,)."""
    return torch.nn.functional.cross_entropy(scores, t)
