"""Workspace: named scratch arrays that a training loop lends to its layers, step after step.

A training step makes the same big arrays every time: the first convolution's column matrix,
its output, the ReLU mask, the input gradients... several MB each for a batch of 100. Asking
the operating system for fresh memory and having it zero the pages again at every step costs a
real share of the step; handing each layer back the array it used last step costs nothing.

Who owns it: whoever runs the training loop (``convlab.fast.plan.LayerPlan`` does, for ``Trainer``), for one step::

    ws = Workspace()
    for x, t in batches:
        with ws.attached(net):                # every layer of net borrows from ws ...
            grads = net.gradient(x, t)
        optimizer.update(net.params, grads)   # ... and nothing after this line does

The contract: while a workspace is attached, every array a layer returns or keeps (outputs,
input gradients, masks) is valid until the next step with that workspace, which overwrites it;
copy what you want to keep longer. Within one step no two arrays share memory, so no layer
ever writes into an array it handed out earlier in the step. Without a workspace (the
default: notebooks, ``predict``, evaluation) :func:`empty` is plain ``np.empty`` and every
result is the caller's to keep. Parameter gradients (``dW``, ``db``) are never borrowed.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

__all__ = ["Workspace", "empty"]


class Workspace:
    """Named arrays, one set per layer: ``get(layer, name, shape, dtype)`` returns the array
    that layer got under ``name`` last time when shape and dtype match, else a new one."""

    def __init__(self):
        self._arrays = weakref.WeakKeyDictionary()   # layer -> {name: array}; dies with the layer

    def get(self, owner, name, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype``, reused from ``owner``'s last call."""
        arrays = self._arrays.setdefault(owner, {})
        a = arrays.get(name)
        shape, dtype = tuple(shape), np.dtype(dtype)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = arrays[name] = np.empty(shape, dtype)
        return a

    def nbytes(self):
        """Bytes held for reuse (all layers, all names)."""
        return sum(a.nbytes for arrays in self._arrays.values() for a in arrays.values())

    @contextlib.contextmanager
    def attached(self, net):
        """Lend this workspace to every layer of ``net`` for the ``with`` block: ``net`` is a
        convlab net (its ``layers`` dict and ``last_layer``) or a list of layers; any other
        object (a network of your own) borrows nothing."""
        if isinstance(getattr(net, "layers", None), dict):
            layers = list(net.layers.values())
        else:
            layers = list(net) if isinstance(net, (list, tuple)) else []
        if hasattr(net, "last_layer"):
            layers.append(net.last_layer)
        for layer in layers:
            layer.workspace = self
        try:
            yield self
        finally:
            for layer in layers:
                layer.workspace = None


def empty(owner, name, shape, dtype):
    """``np.empty(shape, dtype)``, or the array named ``name`` that ``owner`` (a layer) borrows
    from its attached workspace (``owner.workspace``, see the module docstring)."""
    ws = getattr(owner, "workspace", None)
    return np.empty(shape, dtype) if ws is None else ws.get(owner, name, shape, dtype)
