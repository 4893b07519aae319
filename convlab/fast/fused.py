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
slice, every one with single-threaded BLAS (``convlab.fast.blas``) and its own arrays. Then the
gradient of the biggest weight, dW2, is computed from all slices, its rows split over the same
threads (``fast.optim.share``); ``step`` has Adam update each thread's rows right there
(``fast.optim.update``'s ``split``), so no thread adds up the whole dW2 alone. The small gradients are added in a fixed order: a given thread count gives the same
numbers run after run. Fewer, bigger NumPy calls matter here: each call releases Python's GIL
and must take it back, and with two threads that handoff waits for the other thread.

``tests/test_fast_fused.py`` proves all of this against ``net.gradient`` and ``net.predict``; how much
faster it is: ``docs/speed.md``.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arith import check_int
from ..layers import (Affine, Convolution, Pooling, Relu, check_labels, cross_entropy_rows,
                      log_softmax)
from ..optim import Adam
from .optim import share, update
from .threads import Workers, default_threads  # noqa: F401 (default_threads: re-exported)
from .workspace import Workspace

__all__ = ["FusedSimpleConvNet", "fused_for", "default_threads", "EVAL_BATCH"]

EVAL_BATCH = 100    # images per worker and predict() call when evaluating: measured fastest


def fused_for(net, threads=None):
    """A :class:`FusedSimpleConvNet` sharing ``net``'s parameters, or None when ``net`` does not
    have that shape (see :meth:`FusedSimpleConvNet.why_not`)."""
    return None if FusedSimpleConvNet.why_not(net) else FusedSimpleConvNet(net, threads)


class _Slice:
    """One worker's share of a batch: its own scratch arrays, and what its forward pass keeps for
    the backward pass (``col``, ``c``, ``m``, ``hT``, ``u``, ``shape``)."""

    def __init__(self):
        self._ws = Workspace()

    def buf(self, name, shape, dtype):
        return self._ws.get(self, name, shape, dtype)


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
        self._batch = _Slice()                                           # arrays of the whole batch

    # -- the workers ----------------------------------------------------------------------------
    def _jobs(self, N):
        """(slice, lo, hi) for each worker: contiguous ranges of the N images (``Workers.cuts``)."""
        return [(self._slices[i], lo, hi) for i, lo, hi in self.workers.cuts(N)]

    def split(self, fn):
        """fn(i, n) for i in range(n), one call per worker thread (n = ``threads``); returns when
        all are done. For element-wise work on shares of arrays, e.g. ``Adam.update``."""
        self.workers.split(fn)

    # -- forward ----------------------------------------------------------------------------
    def _conv_pool(self, S, x):
        """Conv (bias included) and max pooling, before the ReLU, for the images x of slice S,
        images last: column q = (py, px, n). Keeps for backward: ``S.col`` (K+1, p*p*Q), ``S.c``
        the conv outputs (FN, p*p, Q) and ``S.m`` their window maxima (FN, Q), Q = PH*PW*N.
        Returns S.m."""
        W, b, p = self.conv.W, self.conv.b, self.pool.pool_h
        FN, C, FH, FW = W.shape
        P0, P1 = self.conv.pad
        N, _, H, W_ = x.shape
        Hp, Wp = H + 2 * P0, W_ + 2 * P1
        OH, OW = Hp - FH + 1, Wp - FW + 1
        PH, PW = OH // p, OW // p
        K, Q = C * FH * FW, PH * PW * N                                  # weights per filter, windows
        xT = S.buf("xT", (C, Hp, Wp, N), x.dtype)                        # the images last, padded
        if P0 or P1:
            xT.fill(0)
        np.copyto(xT[:, P0:P0 + H, P1:P1 + W_], x.transpose(1, 2, 3, 0))
        # im2col: column (i, j, py, px, n) of row (c, fy, fx) is input pixel (p*py + i + fy,
        # p*px + j + fx) of channel c of image n; one copy from the windows' view
        win = sliding_window_view(xT, (FH, FW), axis=(1, 2))            # (C, OH, OW, N, FH, FW) view
        win = win.reshape(C, PH, p, PW, p, N, FH, FW)                    # oy = p*py + i, ox = p*px + j
        col = S.buf("col", (K + 1, p * p * PH, PW * N), x.dtype)
        np.copyto(col[:K].reshape(C, FH, FW, p, p, PH, PW, N), win.transpose(0, 6, 7, 2, 4, 1, 3, 5))
        col[K] = 1                                                       # the bias row, as in Convolution
        Wb = np.concatenate([W.reshape(FN, K), b.reshape(FN, 1)], axis=1, dtype=x.dtype)  # (FN, K+1)
        c = S.buf("c", (FN, p * p * PH, PW * N), x.dtype)                # conv outputs, bias included
        # one GEMM per (offset i, j, row py): PW*N columns each, stacked in one matmul call
        np.matmul(Wb, col.transpose(1, 0, 2), out=c.transpose(1, 0, 2))  # (p*p*PH, FN, PW*N)
        c = c.reshape(FN, p * p, Q)
        m = S.buf("m", (FN, Q), x.dtype)
        np.max(c, axis=1, out=m)                                         # over the window offsets k = i*p + j
        S.shape, S.col, S.c, S.m = (N, FN, PH, PW), col, c, m
        return m

    def _head(self, S, m, r=None):
        """ReLU of the pooled maps m (FN, PH*PW*N), then Affine - ReLU - Affine: the scores (N, M).
        Keeps the Affine1 input as ``S.hT`` (D, N): the pooled maps as Affine1 flattens them, but
        images last; writes the Affine2 input into ``r`` (N, hidden) if given."""
        N, FN, PH, PW = S.shape
        D, hidden = self.affine1.W.shape
        hT = S.buf("hT", (D, N), m.dtype)
        if r is None:
            r = S.buf("r", (N, hidden), m.dtype)
        np.maximum(m.reshape(D, N), 0, out=hT)                           # row d = (f, py, px): Affine1's order
        h = hT.T                                                         # (N, D) view, as Affine1 sees it
        if N <= 2:      # OpenBLAS multiplies one or two rows in another order when they come transposed
            h = np.ascontiguousarray(h)
        u = h @ self.affine1.W                                           # (N, hidden)
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
        self.workers.run(self._scores, [(S, x[lo:hi], out[lo:hi]) for S, lo, hi in self._jobs(len(x))])
        return out

    def _scores(self, S, x, out):
        """The scores of the images x of slice S, written into ``out`` (a slice of predict's)."""
        out[...] = self._head(S, self._conv_pool(S, x))

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
        loss, grads = self._gradient_but_W2(x, t)
        self.split(self._dW2_rows)
        return loss, grads

    def step(self, x, t, optimizer):
        """One training step, ``optimizer.update(params, gradient(x, t))``; returns the loss.
        With Adam, each worker computes its rows of the largest gradient, dW2 (``fast.optim.share``),
        and updates those rows of every parameter at once: dW2 is never added up by one thread
        alone, and each worker's rows are still in its cache for the update."""
        loss, grads = self._gradient_but_W2(x, t)
        if type(optimizer) is Adam:
            update(optimizer, self.params, grads, split=self._split_after_dW2)
        else:
            self.split(self._dW2_rows)
            optimizer.update(self.params, grads)
        return loss

    def _split_after_dW2(self, rows):
        """The ``split`` runner ``step`` hands to Adam's update: each worker i of n computes its
        rows of dW2, then ``rows(i, n)`` updates the same rows of every parameter."""
        self.split(functools.partial(self._dW2_then, rows))

    def _dW2_then(self, rows, i, n):
        self._dW2_rows(i, n)
        rows(i, n)

    def _gradient_but_W2(self, x, t):
        """(loss, grads): every gradient but dW2, whose array ``grads["W2"]`` :meth:`_dW2_rows`
        fills in, rows ``share(len(W2), i, n)`` at a time, from the whole batch (as Affine does)."""
        x = self._as_images(x)
        N = x.shape[0]
        t = check_labels(t, N, self.affine2.W.shape[1])
        D, hidden = self.affine1.W.shape
        B = self._batch                                                  # arrays of the whole batch
        du, r = B.buf("du", (N, hidden), x.dtype), B.buf("r", (N, hidden), x.dtype)
        ds = B.buf("ds", (N, self.affine2.W.shape[1]), x.dtype)
        jobs = self._jobs(N)
        parts = self.workers.run(self._slice_gradient, [(S, x[lo:hi], t[lo:hi], N, r[lo:hi],
                                                         ds[lo:hi], du[lo:hi]) for S, lo, hi in jobs])
        loss = float(np.concatenate([nll for nll, _, _ in parts]).mean())   # as SoftmaxWithLoss: a mean
        _, dW1, db1 = parts[0]                                           # fresh arrays of slice 0
        for _, dW, db in parts[1:]:                                      # slices added in a fixed order
            dW1 += dW
            db1 += db
        dW2 = B.buf("W2", (D, hidden), x.dtype)
        self._dW2_from = (jobs, du, dW2)                                 # what _dW2_rows needs
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": du.sum(axis=0), "W3": r.T @ ds, "b3": ds.sum(axis=0)}
        return loss, grads

    def _dW2_rows(self, i, n):
        """Rows ``share(dW2, i, n)`` of dW2 = h.T @ du = the sum over the slices of their hT @ du,
        for the batch of the last :meth:`_gradient_but_W2`. Each slice keeps its hT (D, n) in its
        own array: one batch-wide (D, N) array would have two threads writing into the same
        cache lines, row after row (measured: 3-5% slower)."""
        jobs, du, dW2 = self._dW2_from
        lo, hi = share(dW2, i, n)
        (S, a, b), *others = jobs
        np.matmul(S.hT[lo:hi], du[a:b], out=dW2[lo:hi])                  # (D/n, n) @ (n, hidden)
        part = self._slices[i].buf("dW2 part", (hi - lo, dW2.shape[1]), dW2.dtype)  # reused
        for S, a, b in others:
            dW2[lo:hi] += np.matmul(S.hT[lo:hi], du[a:b], out=part)

    def _slice_gradient(self, S, x, t, N, r, ds, du):
        """-log p of the right class per image, dW1 and db1 for the images x of slice S; ``N``
        is the whole batch, so the slices' gradients add up to the batch's mean. Writes its
        images of the whole batch's r, ds and du (for the Affine gradients)."""
        n = len(x)
        s = self._head(S, self._conv_pool(S, x), r)                      # (n, M)
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
        du *= S.u > 0                                                    # Relu2
        du += 0                                                          # -0.0 -> 0.0, as Relu does
        dhT = S.buf("dhT", (len(self.affine1.W), n), x.dtype)            # (D, n): images last
        np.matmul(self.affine1.W, du.T, out=dhT)
        dW1, db1 = self._conv_pool_backward(S, dhT)
        return nll, dW1, db1

    def _conv_pool_backward(self, S, dhT):
        """dW1, db1 from dhT (D, N), the gradient of the pooled-and-ReLU'd maps of slice S
        (row d = (f, py, px), images last: the layout of S.m). Overwrites dhT."""
        N, FN, PH, PW = S.shape
        W, p = self.conv.W, self.pool.pool_h
        Q = PH * PW * N
        c, m = S.c, S.m
        left = dhT.reshape(FN, Q)                                        # not yet routed to a window offset
        hit = S.buf("hit", (FN, Q), bool)
        dk = S.buf("dk", (FN, Q), left.dtype)                            # gradient of c[:, k]
        np.greater(m, 0, out=hit)                                        # the ReLU after pooling
        np.multiply(left, hit, out=left)
        K1 = S.col.shape[0]                                              # C*FH*FW + 1 (the bias row)
        parts = S.buf("parts", (p * p, PH, FN, K1), left.dtype)          # [dW | db] of each GEMM
        for k in range(p * p):                                           # the first maximum wins
            if k < p * p - 1:
                np.equal(c[:, k], m, out=hit)                            # offset k holds the max
                np.multiply(left, hit, out=dk)
                left -= dk                                               # routed: x - x = 0 exactly
            else:
                dk = left                                                # the rest: the last offset
            # this offset's share of [dW | db] = dk @ col.T while dk is still in the cache: one
            # GEMM per pooled row py (the forward's blocks), stacked in one matmul call
            col_k = S.col[:, k * PH:(k + 1) * PH]                        # (K+1, PH, PW*N)
            np.matmul(dk.reshape(FN, PH, PW * N).transpose(1, 0, 2), col_k.transpose(1, 2, 0), out=parts[k])
        dWb = parts.sum(axis=(0, 1))                                     # (FN, K+1)
        K = K1 - 1
        return dWb[:, :K].reshape(W.shape), dWb[:, K].copy()
