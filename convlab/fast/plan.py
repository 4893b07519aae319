"""A net's plan: its layers swapped for their fast twins, run the way ``Trainer`` needs it.

``LayerPlan(net)`` holds, for every layer of a :class:`convlab.nets.Net`, its fast twin
(``convlab.fast.layers.twin_of``: same parameter arrays) or the layer itself when it has no
twin (Affine, Dropout with its own random generator, the loss). ``step`` is
``net.gradient`` and the optimiser's update with a :class:`~convlab.fast.workspace.Workspace`
lending every big array, step after step; ``accuracy`` is ``net.accuracy`` through the twins.

Both cores (``convlab.fast.threads``): a batch of at least 2 * MIN_SLICE images is cut into one
contiguous slice per thread. Each slice has its own set of twins (sharing the net's parameter
arrays, each with its own forward state) and its own workspace, and runs forward, loss and
backward on its images with single-threaded BLAS. ``SoftmaxWithLoss.backward`` divides by the
images it saw, so a slice of n images starts its backward pass from n / N: the slices'
gradients then add up to the whole batch's. They are added in a fixed order, on the same threads,
row shares at a time (``fast.optim.share``), and Adam updates those rows right there. Dropout
masks are drawn on the calling thread, once for the whole batch, by the net's own Dropout layers
(the same generator draws as ``net.gradient``); each slice multiplies by its rows. One thread
(Pyodide, no per-thread BLAS control, ``CONVLAB_THREADS=1``) or a small batch: one slice, the
net's own Dropout layers, exactly the path without threads.

Evaluation (``predict``, ``accuracy``) runs ``eval_batch`` images per thread and forward pass, on
any number of threads, forward only (``convlab.fast.infer``: no argmax, masks or kept columns,
images last from layer to layer, every array reused per thread). A net that path cannot take
is evaluated through the slices' twins, every array reused from the slice's workspace.
"""
from __future__ import annotations

import copy
import functools
import itertools

import numpy as np

from ..arith import check_int
from ..layers import Dropout, SoftmaxWithLoss, check_labels, cross_entropy_rows, log_softmax
from ..optim import Adam
from .infer import inference_for
from .layers import twin_of
from .optim import share, update
from .threads import Workers
from .workspace import Workspace

__all__ = ["LayerPlan", "EVAL_SLICE"]

EVAL_SLICE = 100
"""Images per thread and forward pass when evaluating through the training twins (nets
``convlab.fast.infer`` cannot take; it sizes its own chunks, ``LayerPlan.eval_batch``, and
``Trainer`` evaluates in batches of that). Through the twins 50-100 was best: their arrays stay in
the cache; 500 took 2-3x as long."""


def _forward(layers, x, train_flg):
    for layer in layers.values():
        x = layer.forward(x, train_flg) if getattr(layer, "uses_train_flg", False) else layer.forward(x)
    return x


def _backward(last_layer, layers, dout):
    dout = last_layer.backward(dout)
    for layer in reversed(list(layers.values())):
        dout = layer.backward(dout)


class _Rows:
    """A slice's Dropout: multiplies by its rows of the mask the net's Dropout drew for the whole
    batch (``rows``, set by the plan before each training forward pass), as Dropout multiplies."""

    uses_train_flg = True

    def __init__(self):
        self.rows = self.mask = None

    def forward(self, x, train_flg=True):
        self.mask = self.rows if train_flg else None
        return x.copy() if self.mask is None else x * self.mask

    def backward(self, dout):
        return dout.copy() if self.mask is None else dout * self.mask


class _Slice:
    """One thread's share of a batch: its own twins of ``net``'s layers (``_Rows`` for Dropout),
    its own loss layer and workspace."""

    def __init__(self, net):
        self.layers = {name: _Rows() if type(layer) is Dropout else _own_twin(layer)
                       for name, layer in net.layers.items()}
        self.last_layer = SoftmaxWithLoss()
        self.owner = {k: (self.layers[name], attr) for k, (name, attr) in _owner_names(net).items()}
        self.workspace = Workspace()

    def grads(self):
        return {k: getattr(layer, "d" + attr) for k, (layer, attr) in self.owner.items()}


def _own_twin(layer):
    """A twin of ``layer`` with its own state: ``twin_of``'s, or a shallow copy where there is no
    twin (the same parameter arrays, its own forward state)."""
    twin = twin_of(layer)
    return copy.copy(layer) if twin is layer else twin


def _owner_names(net):
    """param name -> (layer name, attribute), from ``net._owner``."""
    names = {id(layer): name for name, layer in net.layers.items()}
    return {k: (names[id(layer)], attr) for k, (layer, attr) in net._owner.items()}


class LayerPlan:
    """``net``'s layers as fast twins sharing its parameters, on ``threads`` threads (default:
    ``convlab.fast.threads.default_threads``); see the module docstring."""

    def __init__(self, net, threads=None):
        self.net = net
        self.layers = {name: twin_of(layer) for name, layer in net.layers.items()}
        self.last_layer = net.last_layer
        self._owner = {k: (self.layers[name], attr) for k, (name, attr) in _owner_names(net).items()}
        self.params = net.params
        self.workspace = Workspace()
        self.workers = Workers(threads)
        self.threads = self.workers.threads
        self._slices = [_Slice(net) for _ in range(self.threads)]   # one: for evaluation only
        self._dropout_in = {name: net.shapes[i][1] for i, name in enumerate(net.layers)
                            if type(net.layers[name]) is Dropout}    # the shape each one gets
        self.loss = None
        self.inference = inference_for(net)                           # None: the twins evaluate
        self._eval_arrays = [{} for _ in range(self.threads)]         # its arrays, per thread

    @property
    def eval_batch(self):
        """Images per thread and forward pass when evaluating: the forward-only path's
        ``images`` (``convlab.fast.infer.EVAL_BYTES`` of the net's largest map), else
        ``EVAL_SLICE``. The same on any number of threads, and so are the scores."""
        return EVAL_SLICE if self.inference is None else self.inference.images

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, x, train_flg=False):
        """``net.predict(x)`` (a new array): ``eval_batch`` images per thread and forward pass,
        on the threads, forward only (``convlab.fast.infer``) or through the twins."""
        x = self.net._check_x(x)
        if train_flg:
            return _forward(self.layers, x, train_flg)
        return self._scores(x, self.eval_batch)

    def _scores(self, x, per_thread):
        """The scores of images ``x``, in chunks of ``per_thread`` images: each thread takes the
        next chunk not yet taken until none is left (no waiting in between; a chunk's scores do
        not depend on which thread computed it)."""
        out = np.empty((len(x), self.net.output_size), x.dtype)
        weights = None if self.inference is None else self.inference.weights()
        starts = range(0, len(x), per_thread)
        taken = itertools.count()                    # next() is atomic: one chunk, one thread
        self.workers.run(self._slice_scores, [(k, x, out, starts, taken, weights)
                                              for k, _, _ in self.workers.cuts(len(x))])
        return out

    def _slice_scores(self, k, x, out, starts, taken, weights):
        """Thread k: the scores of the chunks ``starts[next(taken)]`` of x into out, forward only
        (``convlab.fast.infer``), or through slice k's training twins where the net has no
        forward-only path."""
        while (i := next(taken)) < len(starts):
            lo, hi = starts[i], starts[i] + starts.step
            xi, oi = x[lo:hi], out[lo:hi]
            if self.inference is not None:
                self.inference.scores(xi, oi, self._eval_arrays[k], weights)
                continue
            S = self._slices[k]
            with S.workspace.attached(list(S.layers.values())):
                oi[...] = _forward(S.layers, xi, False)

    def accuracy(self, x, t, batch_size=100):
        """``net.accuracy(x, t, batch_size)`` as ``predict`` computes the scores, each thread
        taking ``batch_size`` images at a time."""
        x = self.net._check_x(x)
        t = check_labels(t, x.shape[0], self.net.output_size)
        scores = self._scores(x, check_int("batch_size", batch_size, 1))
        return int(np.sum(scores.argmax(axis=1) == t)) / max(x.shape[0], 1)

    # -- the training step --------------------------------------------------------------------
    def gradient(self, x, t):
        """``net.gradient(x, t)``: backprop through the twins, a dict keyed like ``params``; the
        batch's loss is then ``self.loss``. The arrays of the layers' results are lent by the
        workspaces: valid until the next call."""
        parts = self._gradient(x, t)
        if len(parts) > 1:
            self.workers.split(functools.partial(self._add_rows, parts))
        return parts[0]

    def step(self, x, t, optimizer):
        """One training step, ``optimizer.update(params, gradient(x, t))``; returns the loss of the
        batch, SoftmaxWithLoss's formula (exact from log-softmax, finite even where a
        probability underflowed). On threads, each thread adds up its rows of the slices'
        gradients and, with Adam, updates those rows at once."""
        parts = self._gradient(x, t)
        if len(parts) == 1:
            update(optimizer, self.params, parts[0])
        elif type(optimizer) is Adam:
            update(optimizer, self.params, parts[0],
                   split=functools.partial(self._split_after_adding, parts))
        else:
            self.workers.split(functools.partial(self._add_rows, parts))
            optimizer.update(self.params, parts[0])
        return self.loss

    def _gradient(self, x, t):
        """[the gradients of each slice], the first slice's arrays to receive the sum; sets
        ``self.loss``. One slice: the whole batch through ``self.layers``."""
        x = self.net._check_x(x)
        N = x.shape[0]
        jobs = self.workers.cuts(N)
        if len(jobs) == 1:
            with self.workspace.attached(list(self.layers.values())):
                self.loss = float(self.last_layer.forward(_forward(self.layers, x, True), t))
                _backward(self.last_layer, self.layers, 1)
            return [{k: getattr(layer, "d" + attr) for k, (layer, attr) in self._owner.items()}]
        t = check_labels(t, N, self.net.output_size)
        masks = {name: self._draw_mask(name, N) for name in self._dropout_in}
        parts = self.workers.run(self._slice_gradient, [
            (self._slices[i], x[lo:hi], t[lo:hi], N, {k: None if m is None else m[lo:hi]
                                                      for k, m in masks.items()})
            for i, lo, hi in jobs])
        self.loss = float(np.concatenate([nll for nll, _ in parts]).mean())   # as SoftmaxWithLoss
        return [grads for _, grads in parts]

    def _draw_mask(self, name, N):
        """The whole batch's mask of Dropout layer ``name``, drawn by the net's own layer (the
        generator draws of ``net.gradient``); None where it draws none (ratio 0)."""
        layer = self.net.layers[name]
        layer.forward(np.ones((N,) + self._dropout_in[name], self.net.dtype), True)
        return layer.mask

    def _slice_gradient(self, S, x, t, N, masks):
        """(-log p of the right class per image, the gradients) of the n images x of slice S,
        scaled by n / N: the slices' gradients add up to the batch's."""
        for name, rows in masks.items():
            S.layers[name].rows = rows
        with S.workspace.attached(list(S.layers.values())):
            scores = _forward(S.layers, x, True)
            S.last_layer.forward(scores, t)
            _backward(S.last_layer, S.layers, len(x) / N)
            nll = cross_entropy_rows(log_softmax(scores), t)
        return nll, S.grads()

    def _add_rows(self, parts, i, n):
        """Call i of n: rows ``share(g, i, n)`` of every gradient g of the first slice += the same
        rows of the other slices', in slice order."""
        for k, g in parts[0].items():
            lo, hi = share(g, i, n)
            for other in parts[1:]:
                if hi > lo:
                    g[lo:hi] += other[k][lo:hi]

    def _split_after_adding(self, parts, rows):
        """The ``split`` runner ``step`` hands to Adam's update: each thread i of n adds up its
        rows of the gradients, then ``rows(i, n)`` updates the same rows of every parameter."""
        self.workers.split(functools.partial(self._add_then, parts, rows))

    def _add_then(self, parts, rows, i, n):
        self._add_rows(parts, i, n)
        rows(i, n)
