"""A net's plan: its layers swapped for their fast twins, run the way ``Trainer`` needs it.

``LayerPlan(net)`` holds, for every layer of a :class:`convlab.nets.Net`, its fast twin
(``convlab.fast.layers.twin_of``: same parameter arrays) or the layer itself when it has no
twin (Affine, Sigmoid, Dropout with its own random generator, LRN, the loss). ``step`` is
``net.gradient`` and the optimiser's update with a :class:`~convlab.fast.workspace.Workspace`
lending every big array, step after step; ``accuracy`` is ``net.accuracy`` through the twins.
"""
from __future__ import annotations

import numpy as np

from ..arith import check_int
from ..layers import check_labels
from .layers import twin_of
from .optim import update
from .workspace import Workspace

__all__ = ["LayerPlan"]


class LayerPlan:
    """``net``'s layers as fast twins sharing its parameters; see the module docstring."""

    eval_batch = None          # no preferred evaluation batch: the caller's

    def __init__(self, net):
        self.net = net
        self.layers = {name: twin_of(layer) for name, layer in net.layers.items()}
        self.last_layer = net.last_layer
        twins = {id(layer): self.layers[name] for name, layer in net.layers.items()}
        self._owner = {k: (twins[id(layer)], attr) for k, (layer, attr) in net._owner.items()}
        self.params = net.params
        self.workspace = Workspace()

    def _forward(self, x, train_flg):
        for layer in self.layers.values():
            x = layer.forward(x, train_flg) if getattr(layer, "uses_train_flg", False) else layer.forward(x)
        return x

    def predict(self, x, train_flg=False):
        """``net.predict(x)`` through the twins (its own arrays: nothing is borrowed)."""
        return self._forward(self.net._check_x(x), train_flg)

    def accuracy(self, x, t, batch_size=100):
        """``net.accuracy(x, t, batch_size)`` through the twins."""
        x = self.net._check_x(x)
        t = check_labels(t, x.shape[0], self.net.output_size)
        batch_size = check_int("batch_size", batch_size, 1)
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            correct += int(np.sum(self.predict(x[i:i + batch_size]).argmax(axis=1) == t[i:i + batch_size]))
        return correct / max(x.shape[0], 1)

    def gradient(self, x, t):
        """``net.gradient(x, t)``: backprop through the twins, a dict keyed like ``params``. The
        arrays of the layers' results are lent by the workspace: valid until the next call."""
        with self.workspace.attached(list(self.layers.values())):
            self.last_layer.forward(self._forward(self.net._check_x(x), True), t)
            dout = self.last_layer.backward(1)
            for layer in reversed(list(self.layers.values())):
                dout = layer.backward(dout)
        return {k: getattr(layer, "d" + attr) for k, (layer, attr) in self._owner.items()}

    def step(self, x, t, optimizer):
        """One training step, ``optimizer.update(params, gradient(x, t))``; returns the loss of the
        batch, the one SoftmaxWithLoss computed in the forward pass (exact from log-softmax,
        finite even where a probability underflowed)."""
        grads = self.gradient(x, t)
        update(optimizer, self.params, grads)
        return float(self.last_layer.loss)
