"""SimpleConvNet's training step and prediction in fewer passes: the speed behind ``Trainer``.

The layer-by-layer path (``net.gradient``; ``notebooks/06_training.ipynb``) is what a learner
reads. For the one network that the chapter trains for 20 epochs, :class:`FusedSimpleConvNet`
computes the same numbers with less work, using facts the layers cannot use one at a time:

1. ReLU and max pooling commute, gradients included: ``relu(maxpool(c)) == maxpool(relu(c))``,
   and a window whose maximum is <= 0 passes no gradient either way. Pooling first makes the
   ReLU four times cheaper (``pool=2``) and removes the ReLU mask over the big conv output.
2. The columns of the im2col matrix can come in any order. Ordering them by window offset and
   with the images last, (i, j, py, px, n), puts the conv outputs of one pooling offset side by
   side (max pooling is one ``np.max`` over contiguous blocks) and the pooled maps in the order
   the affine layer needs, images last: ``W2 @ du.T`` then gives their gradient in the same
   layout, with no transposed copies. With the images last, im2col copies contiguous runs of
   images, one copy from a ``sliding_window_view``.
3. The first layer needs no input gradient (the plain path skips it too).
4. The conv products have a short inner dimension and tens of thousands of columns. They run as
   one GEMM per (window offset, pooled row) of PW*N columns, all in one stacked ``np.matmul``
   call: small enough for OpenBLAS's faster small-matrix kernels, one Python call.

The conv GEMM is the plain path's own (``[W | b] @ [col; 1]``, see ``layers.Convolution``) with
permuted columns, so the forward pass and the loss are bit for bit the plain path's (a test
checks this). Backward sums the same products in another order: gradients agree to float32
rounding. Ties inside a pooling window go to the FIRST maximum, as in ``Pooling``.

Both cores: a batch is split into ``threads`` slices of images (``convlab.fast.threads.Workers``,
shared with ``LayerPlan``). The calling thread runs the first slice and a worker thread each other
slice, every one with single-threaded BLAS (``convlab.fast.blas``) and its own arrays. A step is
one job per thread: its slice's forward and backward pass; a barrier (every slice done); then
its rows of every gradient (``fast.optim.share``: dW2 = the sum over the slices of hT @ du,
the slices' dW1 added, ...) and, in ``step``, Adam's update of those same rows
(``fast.optim.update``'s ``split``) while they are in its cache. No thread adds up the whole dW2
alone, and the calling thread does no work of its own between the slices and the update.
Everything is added in a fixed order: a given thread count gives the same numbers run after
run. Fewer, bigger NumPy calls matter here: each call releases Python's GIL and must take it
back, and with two threads that handoff waits for the other thread.

``tests/test_fast_fused.py`` proves all of this against ``net.gradient`` and ``net.predict``; how much
faster it is: ``docs/speed.md``.
"""
from __future__ import annotations

import functools
import threading
import types

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arith import check_int
from ..layers import (Affine, Convolution, Pooling, Relu, check_labels, cross_entropy_rows,
                      log_softmax)
from ..optim import Adam
from .optim import share, update
from .threads import Workers, default_threads  # noqa: F401 (default_threads: re-exported)

__all__ = ["FusedSimpleConvNet", "fused_for", "default_threads", "EVAL_BATCH"]

EVAL_BATCH = 100    # images per worker and predict() call when evaluating: measured fastest
PIECE = 50
"""A slice predicts at most PIECE images at a time: a piece's column matrix and conv outputs
(0.13 MB an image) stay nearer the core. On an AMD EPYC (1 MB L2 per core), 100 images in
pieces of 50 took 3.5 ms of CPU time against 4.3 ms in one piece (one core); the training
step's slices are about this size already (a batch of 100 on two threads)."""


def fused_for(net, threads=None):
    """A :class:`FusedSimpleConvNet` sharing ``net``'s parameters, or None when ``net`` does not
    have that shape (see :meth:`FusedSimpleConvNet.why_not`)."""
    return None if FusedSimpleConvNet.why_not(net) else FusedSimpleConvNet(net, threads)


class _Slice:
    """One worker's share of a batch: its arrays and the views into them, laid out once per
    slice size (:meth:`views`) and reused step after step, and what its forward pass keeps for
    the backward pass (``col``, ``c``, ``m``, ``hT``, ``u``, ``shape``, ``dWb``)."""

    def __init__(self):
        self._views = {}        # images per slice -> its arrays and views (at most two sizes)

    def views(self, fused, n, dtype):
        """The arrays and views of a slice of ``n`` images of ``dtype``: made on first use, then
        the same objects every call (no allocation, no view building in the step)."""
        V = self._views.get((n, dtype))
        if V is None:
            if len(self._views) >= 2:       # e.g. the training batch and the evaluation batch
                self._views.clear()
            V = self._views[(n, dtype)] = _layout(fused, n, dtype)
        return V


def _layout(fused, n, dtype):
    """The arrays of one slice of n images (module docstring: images last, columns in window-offset
    order) and the views the step uses, as a namespace."""
    W, p = fused.conv.W, fused.pool.pool_h
    FN, C, FH, FW = W.shape
    P0, P1 = fused.conv.pad
    _, H, W_ = fused.input_dim
    Hp, Wp = H + 2 * P0, W_ + 2 * P1
    OH, OW = Hp - FH + 1, Wp - FW + 1
    PH, PW = OH // p, OW // p
    K, Q = C * FH * FW, PH * PW * n                                      # weights per filter, windows
    D, hidden = fused.affine1.W.shape
    V = types.SimpleNamespace(shape=(n, FN, PH, PW), K=K)
    V.xT = np.zeros((C, Hp, Wp, n), dtype)                               # the images last, padded:
    V.x_in = V.xT[:, P0:P0 + H, P1:P1 + W_]                              # the border stays 0
    # im2col: column (i, j, py, px, n) of row (c, fy, fx) is input pixel (p*py + i + fy,
    # p*px + j + fx) of channel c of image n; one copy from the windows' view
    win = sliding_window_view(V.xT, (FH, FW), axis=(1, 2))              # (C, OH, OW, N, FH, FW) view
    win = win.reshape(C, PH, p, PW, p, n, FH, FW)                        # oy = p*py + i, ox = p*px + j
    V.win = win.transpose(0, 6, 7, 2, 4, 1, 3, 5)                        # (C, FH, FW, i, j, PH, PW, N)
    if not np.may_share_memory(V.win, V.xT):       # a reshape that copied would go stale
        raise RuntimeError("the windows of the images must be a view of them")
    V.col = np.empty((K + 1, p * p * PH, PW * n), dtype)
    V.col[K] = 1                                                         # the bias row, as in Convolution
    V.col_win = V.col[:K].reshape(C, FH, FW, p, p, PH, PW, n)
    V.colT = V.col.transpose(1, 0, 2)                                    # (p*p*PH, K+1, PW*N)
    V.c = np.empty((FN, p * p * PH, PW * n), dtype)                      # conv outputs, bias included
    V.cT = V.c.transpose(1, 0, 2)                                        # (p*p*PH, FN, PW*N)
    V.c_k = V.c.reshape(FN, p * p, Q)                                    # c[:, k]: window offset k
    V.m = np.empty((FN, Q), dtype)                                       # the window maxima
    V.hT = np.empty((D, n), dtype)                                       # Affine1's input, images last
    V.u, V.r = np.empty((n, hidden), dtype), np.empty((n, hidden), dtype)
    V.dhT = np.empty((D, n), dtype)
    V.free, V.hit, V.dk = np.empty((FN, Q), bool), np.empty((FN, Q), bool), np.empty((FN, Q), dtype)
    V.dm = V.dhT.reshape(FN, Q)                                          # the pooled maps' gradient
    V.dk_rows = V.dk.reshape(FN, PH, PW * n).transpose(1, 0, 2)          # one GEMM per pooled row py
    V.col_rows = [V.col[:, k * PH:(k + 1) * PH].transpose(1, 2, 0) for k in range(p * p)]
    V.parts = np.empty((p * p, PH, FN, K + 1), dtype)                    # [dW | db] of each GEMM
    V.dWb = np.empty((FN, K + 1), dtype)
    V.dW2 = {}                                                           # (lo, hi) -> rows of a part
    return V


class FusedSimpleConvNet:
    """Conv - ReLU - max pool - Affine - ReLU - Affine - softmax loss, as ``SimpleConvNet``'s
    layers compute it, in fewer passes (module docstring). Shares ``net.params``: an optimiser
    updating them updates both. ``gradient(x, t)`` -> (loss, grads); ``step(x, t, optimizer)``
    -> loss (what ``Trainer`` calls); ``predict``; ``accuracy``.
    ``threads``: worker threads (default :func:`default_threads`; 1 where the BLAS cannot be
    made single-threaded per thread). Its arrays are reused from call to call: copy a result
    you want to keep past the next call."""

    eval_batch = EVAL_BATCH     # images per worker when evaluating (what Trainer.evaluate uses)

    @staticmethod
    def why_not(net):
        """None if ``net`` fits the fused step, else a sentence saying what does not."""
        kinds = [type(layer) for layer in getattr(net, "layers", {}).values()]
        if kinds != [Convolution, Relu, Pooling, Affine, Relu, Affine]:
            return "the layers are not Convolution, Relu, Pooling, Affine, Relu, Affine"
        conv, _, pool, *_ = net.layers.values()
        if conv.stride != (1, 1) or conv.dilation != (1, 1):
            return "the convolution's stride and dilation must be 1"
        p = pool.pool_h
        if pool.mode != "max" or pool.pool_w != p or pool.stride != (p, p) or pool.pad != (0, 0):
            return "the pooling must be max pooling over p x p windows with stride p and no padding"
        _, OH, OW = conv.output_shape(net.input_dim)
        if OH % p or OW % p:
            return f"the conv output {OH}x{OW} must split into whole {p}x{p} windows"
        return None

    def __init__(self, net, threads=None):
        reason = self.why_not(net)
        if reason:
            raise ValueError(f"net cannot use the fused step: {reason}")
        self.conv, _, self.pool, self.affine1, _, self.affine2 = net.layers.values()
        self.input_dim = tuple(net.input_dim)
        self.params = net.params
        self.workers = Workers(threads)                                  # convlab.fast.threads
        self.threads = self.workers.threads
        self._slices = [_Slice() for _ in range(self.threads)]
        self._batch = {}                    # (N, dtype) -> the arrays of a whole batch (_prepare)

    # -- the workers ----------------------------------------------------------------------------
    def _jobs(self, N):
        """(slice, lo, hi) for each worker: contiguous ranges of the N images (``Workers.cuts``)."""
        return [(self._slices[i], lo, hi) for i, lo, hi in self.workers.cuts(N)]

    def split(self, fn):
        """fn(i, n) for i in range(n), one call per worker thread (n = ``threads``); returns when
        all are done. For element-wise work on shares of arrays, e.g. ``Adam.update``."""
        self.workers.split(fn)

    # -- forward ----------------------------------------------------------------------------
    def _Wb(self, dtype):
        """[W | b] (FN, K+1): the conv weights with the bias as a last column, as in Convolution."""
        W, b = self.conv.W, self.conv.b
        return np.concatenate([W.reshape(len(W), -1), b.reshape(len(W), 1)], axis=1, dtype=dtype)

    def _conv_pool(self, S, x, Wb):
        """Conv (bias included) and max pooling, before the ReLU, for the images x of slice S,
        images last: column q = (py, px, n). Keeps for backward, in the slice's views ``V``:
        ``col`` (K+1, p*p*Q), ``c`` the conv outputs (FN, p*p, Q) and ``m`` their window maxima
        (FN, Q), Q = PH*PW*N. Returns V."""
        V = S.views(self, len(x), x.dtype)
        np.copyto(V.x_in, x.transpose(1, 2, 3, 0))
        np.copyto(V.col_win, V.win)                                      # im2col, one copy
        # one GEMM per (offset i, j, row py): PW*N columns each, stacked in one matmul call
        np.matmul(Wb, V.colT, out=V.cT)                                  # (p*p*PH, FN, PW*N)
        np.max(V.c_k, axis=1, out=V.m)                                   # over the window offsets k = i*p + j
        S.V, S.shape, S.col, S.c, S.m = V, V.shape, V.col, V.c_k, V.m
        return V

    def _head(self, S, V, r=None):
        """ReLU of the pooled maps V.m (FN, PH*PW*N), then Affine - ReLU - Affine: the scores
        (N, M). Keeps the Affine1 input as ``V.hT`` (D, N): the pooled maps as Affine1 flattens
        them, but images last; writes the Affine2 input into ``r`` (N, hidden) if given."""
        hT, u = V.hT, V.u
        r = V.r if r is None else r
        np.maximum(V.m.reshape(hT.shape), 0, out=hT)                     # row d = (f, py, px): Affine1's order
        h = hT.T                                                         # (N, D) view, as Affine1 sees it
        if len(h) <= 2:  # OpenBLAS multiplies one or two rows in another order when they come transposed
            h = np.ascontiguousarray(h)
        np.matmul(h, self.affine1.W, out=u)                              # (N, hidden)
        u += self.affine1.b
        np.maximum(u, 0, out=r)
        s = r @ self.affine2.W + self.affine2.b                          # (N, M) scores
        S.hT, S.u = hT, u
        return s

    def _as_images(self, x):
        return np.asarray(x, dtype=self.conv.W.dtype).reshape((-1,) + self.input_dim)

    def predict(self, x):
        """Class scores (N, M) before the softmax, equal to ``net.predict(x)``."""
        x = self._as_images(x)
        out = np.empty((len(x), self.affine2.W.shape[1]), x.dtype)
        Wb = self._Wb(x.dtype)
        self.workers.run(self._scores, [(S, x[lo:hi], Wb, out[lo:hi]) for S, lo, hi in self._jobs(len(x))])
        return out

    def _scores(self, S, x, Wb, out):
        """The scores of the images x of slice S, written into ``out`` (a slice of predict's),
        in pieces of at most :data:`PIECE` images, as even as whole images allow (so none is
        one or two images: OpenBLAS multiplies those in another order, see ``_head``)."""
        n = len(x)
        k = -(-n // PIECE)                                               # pieces
        for lo, hi in zip([n * i // k for i in range(k)], [n * (i + 1) // k for i in range(k)]):
            out[lo:hi] = self._head(S, self._conv_pool(S, x[lo:hi], Wb))

    def accuracy(self, x, t, batch_size=EVAL_BATCH):
        """Fraction of x classified as t, like ``net.accuracy`` (every sample counts); each
        worker takes ``batch_size`` images at a time."""
        t = check_labels(t, len(x), self.affine2.W.shape[1])
        chunk = check_int("batch_size", batch_size, 1) * self.threads
        correct = 0
        for i in range(0, len(x), chunk):
            correct += int(np.sum(self.predict(x[i:i + chunk]).argmax(axis=1) == t[i:i + chunk]))
        return correct / max(len(x), 1)

    # -- the training step --------------------------------------------------------------------
    def gradient(self, x, t):
        """(loss, grads): the mean cross-entropy of the batch and the gradients keyed like
        ``params`` (W1, b1, W2, b2, W3, b3), the numbers of ``net.gradient(x, t)``."""
        run = self._prepare(x, t)
        self._run(run)
        return run.loss, run.grads

    def step(self, x, t, optimizer):
        """One training step, ``optimizer.update(params, gradient(x, t))``; returns the loss.
        With Adam the whole step is one job per worker thread (:meth:`_run`): each computes its
        slice, then its rows of every gradient (``fast.optim.share``), then Adam's update of
        those rows, still in its cache. No thread adds up the whole dW2 alone, and the calling
        thread does no work between the two halves."""
        run = self._prepare(x, t)
        if type(optimizer) is Adam:
            update(optimizer, self.params, run.grads, split=functools.partial(self._run, run))
        else:
            self._run(run)
            optimizer.update(self.params, run.grads)
        return run.loss

    def _prepare(self, x, t):
        """What one step's workers share: the images and labels, their cuts into slices, the
        whole batch's arrays (r, ds, du: each slice writes its rows) and the gradient arrays."""
        x = self._as_images(x)
        N = x.shape[0]
        t = check_labels(t, N, self.affine2.W.shape[1])
        arrays = self._batch.get((N, x.dtype))
        if arrays is None:                  # made once per batch size (at most two kept)
            if len(self._batch) >= 2:
                self._batch.clear()
            hidden, M = self.affine1.W.shape[1], self.affine2.W.shape[1]
            arrays = self._batch[(N, x.dtype)] = types.SimpleNamespace(
                r=np.empty((N, hidden), x.dtype), ds=np.empty((N, M), x.dtype),
                du=np.empty((N, hidden), x.dtype),
                grads={k: np.empty(p.shape, x.dtype) for k, p in self.params.items()})
        run = types.SimpleNamespace(x=x, t=t, N=N, jobs=self._jobs(N), Wb=self._Wb(x.dtype),
                                    r=arrays.r, ds=arrays.ds, du=arrays.du, grads=dict(arrays.grads))
        run.nll = [None] * len(run.jobs)
        return run

    def _run(self, run, rows=None):
        """The step of ``run`` on the workers, one job each (:meth:`_thread_step`); ``rows(i, n)``
        (optional: fast.optim.update's share of an update) runs at the end of job i of n. Sets
        ``run.loss``."""
        n = len(run.jobs)
        barrier = threading.Barrier(n) if n > 1 else None
        self.workers.run(self._thread_step, [(run, i, n, barrier, rows) for i in range(n)])
        run.loss = float(np.concatenate(run.nll).mean())                 # as SoftmaxWithLoss: a mean

    def _thread_step(self, run, i, n, barrier, rows):
        """Job i of n: slice i's forward and backward pass; once every slice is done (the barrier),
        rows ``share(g, i, n)`` of every gradient g, then ``rows(i, n)``. A job that fails breaks
        the barrier, so the others return instead of waiting for it; its error is the one raised."""
        try:
            S, lo, hi = run.jobs[i]
            run.nll[i] = self._slice_gradient(S, run.x[lo:hi], run.t[lo:hi], run.N, run.Wb,
                                              run.r[lo:hi], run.ds[lo:hi], run.du[lo:hi])
            if barrier is not None:
                barrier.wait()
            self._gradient_rows(run, i, n)
            if rows is not None:
                rows(i, n)
        except threading.BrokenBarrierError:
            return                  # another job failed: Workers.run raises its error
        except BaseException:
            if barrier is not None:
                barrier.abort()
            raise

    def _gradient_rows(self, run, i, n):
        """Rows ``share(g, i, n)`` of every gradient g of the batch from the slices' parts, added
        in slice order: dW1, db1 (the slices' [dW | db]), dW2 = h.T @ du (the sum over the slices
        of their hT @ du: each slice keeps its hT in its own array, as a batch-wide (D, N) one
        would have two threads writing into the same cache lines, measured 3-5% slower),
        db2, dW3 = r.T @ ds, db3. Arrays under ``SPLIT_MIN`` numbers go whole to job 0."""
        g, du, r, ds = run.grads, run.du, run.r, run.ds
        (S0, a0, b0), *others = run.jobs
        lo, hi = share(g["W1"], i, n)
        if hi > lo:
            K = S0.V.K
            dW1 = g["W1"].reshape(len(g["W1"]), K)                       # (FN, K) view
            np.copyto(dW1[lo:hi], S0.V.dWb[lo:hi, :K])
            for S, _, _ in others:
                dW1[lo:hi] += S.V.dWb[lo:hi, :K]
        lo, hi = share(g["b1"], i, n)
        if hi > lo:
            np.copyto(g["b1"][lo:hi], S0.V.dWb[lo:hi, -1])
            for S, _, _ in others:
                g["b1"][lo:hi] += S.V.dWb[lo:hi, -1]
        dW2 = g["W2"]
        lo, hi = share(dW2, i, n)
        if hi > lo:
            np.matmul(S0.hT[lo:hi], du[a0:b0], out=dW2[lo:hi])           # (D/n, n) @ (n, hidden)
            if others:
                part = self._slices[i].V.dW2.get((lo, hi))
                if part is None:
                    part = self._slices[i].V.dW2[(lo, hi)] = np.empty((hi - lo, dW2.shape[1]), dW2.dtype)
                for S, a, b in others:
                    dW2[lo:hi] += np.matmul(S.hT[lo:hi], du[a:b], out=part)
        lo, hi = share(g["b2"], i, n)
        if hi > lo:
            np.sum(du[:, lo:hi], axis=0, out=g["b2"][lo:hi])
        lo, hi = share(g["W3"], i, n)
        if hi > lo:
            np.matmul(r[:, lo:hi].T, ds, out=g["W3"][lo:hi])
        lo, hi = share(g["b3"], i, n)
        if hi > lo:
            np.sum(ds[:, lo:hi], axis=0, out=g["b3"][lo:hi])

    def _slice_gradient(self, S, x, t, N, Wb, r, ds, du):
        """-log p of the right class per image for the images x of slice S, keeping its
        [dW1 | db1] in ``S.V.dWb``; ``N`` is the whole batch, so the slices' gradients add up to
        the batch's mean. Writes its images of the whole batch's r, ds and du (for the Affine
        gradients)."""
        n = len(x)
        V = self._conv_pool(S, x, Wb)
        s = self._head(S, V, r)                                          # (n, M)
        # softmax with loss, by SoftmaxWithLoss's own functions
        log_y = log_softmax(s)                                           # (n, M)
        nll = cross_entropy_rows(log_y, t)                               # (n,)
        np.exp(log_y, out=ds)                                            # (n, M): y, then y - onehot
        ds[np.arange(n), t] -= 1
        ds *= 1.0 / N
        # A confident net's exp(log y) of a wrong class can underflow below the smallest normal
        # float, 1.2e-38 (after the chapter's 20 epochs, 558 of the 600 training batches hold
        # such entries); these subnormal numbers, and products of barely normal ones, spread
        # through the backward products row by row, and x86 CPUs compute with subnormals many
        # times slower. Entries below 1e-30 are set to 0: no gradient notices in float32.
        ds[np.abs(ds) < 1e-30] = 0
        np.matmul(ds, self.affine2.W.T, out=du)                          # (n, hidden)
        du *= V.u > 0                                                    # Relu2
        du += 0                                                          # -0.0 -> 0.0, as Relu does
        np.matmul(self.affine1.W, du.T, out=V.dhT)                       # (D, n): images last
        self._conv_pool_backward(S, V)
        return nll

    def _conv_pool_backward(self, S, V):
        """[dW1 | db1] of slice S into ``V.dWb`` from ``V.dhT`` (D, N), the gradient of its
        pooled-and-ReLU'd maps (row d = (f, py, px), images last: the layout of V.m). Each
        window's gradient goes to the first offset k holding its maximum: ``free`` marks the
        windows not yet routed (bool masks: a quarter of the memory traffic of float ones)."""
        c, m, dm, free, hit, dk = V.c_k, V.m, V.dm, V.free, V.hit, V.dk
        np.greater(m, 0, out=free)                                       # the ReLU after pooling
        last = len(V.col_rows) - 1
        for k, col_k in enumerate(V.col_rows):                           # the first maximum wins
            if k < last:
                np.equal(c[:, k], m, out=hit)                            # offset k holds the max ...
                hit &= free                                              # ... and comes first
                free ^= hit                                              # routed
                np.multiply(dm, hit, out=dk)
            else:
                np.multiply(dm, free, out=dk)                            # the rest: the last offset
            # this offset's share of [dW | db] = dk @ col.T while dk is still in the cache: one
            # GEMM per pooled row py (the forward's blocks), stacked in one matmul call
            np.matmul(V.dk_rows, col_k, out=V.parts[k])
        np.sum(V.parts, axis=(0, 1), out=V.dWb)                          # (FN, K+1)
