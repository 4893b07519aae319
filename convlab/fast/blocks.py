"""The training step of LeNet-shaped nets in few passes: conv - activation - pooling blocks, then
affine layers with activations between, then the softmax loss (``lenet``, ``lenet-modern``, and
any net of that shape).

``BlockPlan`` is a :class:`~convlab.fast.plan.LayerPlan` (evaluation runs through its twins as
before) whose training step runs each slice of the batch through the blocks in the fused
SimpleConvNet's layout (``convlab.fast.fused``), generalised to several blocks:

1. **Images last, columns in window-offset order.** A block's im2col columns are ordered
   (py, i, j, px, n) for the pooled row py, the pooling window offset (i, j), the pooled
   column px and the image n: the pooling is one reduction over p*p blocks of PW*n numbers,
   and its result (C, PH, PW, n) is already the next block's input, images last, and in the
   end the first affine layer's input transposed (D, n). No layout copies between the layers.
2. **One copy per im2col**, from a ``sliding_window_view`` of the padded images-last input, and
   one stacked ``np.matmul`` of one GEMM per (py, i, j) for the forward pass and for the weight
   gradient (the fused step's small-matrix trick; 4x faster than one long GEMM for the weight
   gradient of LeNet's first layer, whose 25 weights per filter make a long, thin product).
3. **ReLU after max pooling** where a block has that pair (the two commute, gradients
   included); other pairs run the activation first, then the pooling.
4. **The sigmoid in three passes** (``kernels.sigmoid_in_place``), in the conv output's own
   array: the GEMM with negated weights gives it -x exactly.
5. **The input gradient in three calls**: dc put in (oy, ox, n) order on rows as wide as the
   padded input (a copy of the small conv-output gradient), one GEMM per kernel offset written
   shifted into its own row of a zero-bordered array, one sum of those rows (not 25 adds);
   where those rows would not fit the cache (``FOLD_BYTES``), one add per kernel offset.
6. **Few NumPy calls per slice**: each one hands Python's GIL back and forth between the two
   threads.

The slices' gradients are added and Adam updates them as ``LayerPlan.step`` does, but in the
same job as the slice: each thread computes its slice, waits at a barrier, adds up its rows of
every gradient and updates them (``BlockPlan.step``), so the workers are woken once per step.
Same numbers as the layers to float rounding (the sums run in another order):
``tests/test_fast_blocks.py``.
"""
from __future__ import annotations

import functools
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .. import layers as plain
from ..layers import check_labels, cross_entropy_rows, log_softmax
from ..optim import Adam
from .kernels import sigmoid_in_place
from .optim import update
from .plan import LayerPlan

__all__ = ["BlockPlan", "blocks_for", "FOLD_BYTES"]

FOLD_BYTES = 8 << 20
"""The input gradient is folded in three calls (module docstring, 5.) where its shifted rows take
at most this many bytes, else in one add per kernel offset. LeNet's second block, one thread,
float32: 0.51 against 0.66 ms for a slice of 50 images (6 MB of rows), but 2.0 against 1.1 ms
for 100 images (12 MB: the rows no longer stay in the cache)."""

ACTS = (plain.Relu, plain.Sigmoid)


def blocks_for(net, threads=None):
    """A :class:`BlockPlan` for ``net``, or None when ``net`` does not have its shape
    (:meth:`BlockPlan.why_not`)."""
    return None if BlockPlan.why_not(net) else BlockPlan(net, threads)


class _Bufs:
    """One thread's scratch arrays by name, reused step after step (a new one where the shape or
    dtype changed): ``B(name, shape, dtype)``."""

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, shape, dtype):
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype)
        return a

    def zeros(self, name, shape, dtype):
        """As calling it, but a new array is filled with zeros (cells a step never writes stay
        0 from step to step)."""
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.zeros(shape, dtype)
        return a


class BlockPlan(LayerPlan):
    """The training step of a net made of blocks Convolution (stride 1, no dilation) - Relu or
    Sigmoid - Pooling (p x p windows, stride p, no padding, tiling the conv output), then
    Affine (- Relu or Sigmoid - Affine)*, in few passes (module docstring). Evaluation, and
    everything else, as :class:`LayerPlan`."""

    @staticmethod
    def why_not(net):
        """None if ``net`` fits, else a sentence saying what does not."""
        layers = list(getattr(net, "layers", {}).values())
        kinds = [type(layer) for layer in layers]
        i = 0
        while i + 3 <= len(kinds) and kinds[i] is plain.Convolution:
            conv, act, pool = layers[i:i + 3]
            if type(act) not in ACTS or type(pool) is not plain.Pooling:
                return "a convolution is not followed by Relu or Sigmoid and Pooling"
            if conv.stride != (1, 1) or conv.dilation != (1, 1):
                return "the convolutions' stride and dilation must be 1"
            p = pool.pool_h
            if pool.pool_w != p or pool.stride != (p, p) or pool.pad != (0, 0):
                return "the pooling must be over p x p windows with stride p and no padding"
            i += 3
        if i == 0:
            return "the net does not start with Convolution, activation, Pooling"
        head = kinds[i:]                      # Affine, then (activation, Affine) pairs
        if not head or head[-1] is not plain.Affine or not all(
                k is plain.Affine if j % 2 == 0 else k in ACTS for j, k in enumerate(head)):
            return "the blocks must be followed by Affine layers with Relu or Sigmoid between"
        shape = net.input_dim
        for j in range(0, i, 3):
            conv, _, pool = layers[j:j + 3]
            _, OH, OW = shape = conv.output_shape(shape)
            if OH % pool.pool_h or OW % pool.pool_h:
                return f"a conv output {OH}x{OW} does not split into whole pooling windows"
            shape = pool.output_shape(shape)
        return None

    def __init__(self, net, threads=None):
        reason = self.why_not(net)
        if reason:
            raise ValueError(f"net cannot use the block plan: {reason}")
        super().__init__(net, threads)
        layers = list(net.layers.values())
        n_blocks = 0
        while isinstance(layers[3 * n_blocks], plain.Convolution):
            n_blocks += 1
        self.blocks = [tuple(layers[3 * b:3 * b + 3]) for b in range(n_blocks)]
        rest = layers[3 * n_blocks:]
        self.head = [(rest[j], rest[j + 1] if j + 1 < len(rest) else None)
                     for j in range(0, len(rest), 2)]           # (Affine, activation or None)
        key = {(id(layer), attr): k for k, (layer, attr) in net._owner.items()}   # -> "W1", ...
        owners = [conv for conv, _, _ in self.blocks] + [affine for affine, _ in self.head]
        self._names = [(key[id(o), "W"], key[id(o), "b"]) for o in owners]    # params' names
        self._bufs = [_Bufs() for _ in range(self.threads)]
        self._updating = False          # step: set once its jobs start updating parameters

    # -- the training step --------------------------------------------------------------------
    def _gradient(self, x, t):
        """[the gradients of each slice], the first slice's arrays to receive the sum; sets
        ``self.loss`` (as ``LayerPlan._gradient``)."""
        x = self.net._check_x(x)
        N = x.shape[0]
        t = check_labels(t, N, self.net.output_size)
        jobs = self.workers.cuts(N)
        parts = self.workers.run(self._slice_gradient, [(self._bufs[i], x[lo:hi], t[lo:hi], N)
                                                        for i, lo, hi in jobs])
        self.loss = float(np.concatenate([nll for nll, _ in parts]).mean())   # as SoftmaxWithLoss
        return [grads for _, grads in parts]

    def step(self, x, t, optimizer):
        """One training step, as :meth:`LayerPlan.step`. With Adam on two or more slices, ONE job
        per thread: its slice's gradients, a barrier, then its rows of every gradient added up
        over the slices (in slice order) and Adam's update of those rows; the workers are woken
        once per step, not twice. The same numbers as ``LayerPlan.step``."""
        x = self.net._check_x(x)
        N = x.shape[0]
        t = check_labels(t, N, self.net.output_size)
        jobs = self.workers.cuts(N)
        if type(optimizer) is not Adam or len(jobs) == 1:
            return super().step(x, t, optimizer)
        B0 = self._bufs[0]                           # slice 0's gradients receive the sum
        grads = {k: B0(f"grad {k}", p.shape, x.dtype) for k, p in self.params.items()}
        iters, self._updating = optimizer.iter, False
        try:
            update(optimizer, self.params, grads,
                   split=functools.partial(self._one_job_each, x, t, jobs))
        except BaseException:
            if not self._updating:
                optimizer.iter = iters               # no row was updated: the step did not count
            raise
        return self.loss

    def _one_job_each(self, x, t, jobs, rows):
        """The ``split`` runner :meth:`step` hands to Adam's update: job i of n computes slice
        i's gradients, waits for every slice, adds up its rows ``share(g, i, n)`` of every
        gradient g, then ``rows(i, n)`` updates the same rows of every parameter. Sets
        ``self.loss``. A job that fails breaks the barrier: no job updates anything."""
        n, N = len(jobs), len(x)
        parts, barrier = [None] * n, threading.Barrier(n)
        self.workers.run(self._job, [(i, n, self._bufs[i], x[lo:hi], t[lo:hi], N, parts, barrier,
                                      rows) for i, lo, hi in jobs])
        self.loss = float(np.concatenate([nll for nll, _ in parts]).mean())   # as SoftmaxWithLoss

    def _job(self, i, n, B, x, t, N, parts, barrier, rows):
        try:
            parts[i] = self._slice_gradient(B, x, t, N)
            barrier.wait()
        except threading.BrokenBarrierError:
            return                                   # another job failed: it raises
        except BaseException:
            barrier.abort()                          # the others stop waiting
            raise
        self._updating = True                        # every slice is done: rows get updated
        self._add_rows([grads for _, grads in parts], i, n)
        rows(i, n)

    def _slice_gradient(self, B, x, t, N):
        """(-log p of the right class per image, the gradients) of the n images x, scaled by
        n / N (the slices' gradients add up to the batch's), in thread scratch B."""
        n = len(x)
        a = x.transpose(1, 2, 3, 0)                                       # (C, H, W, n) view
        kept = []
        for b, block in enumerate(self.blocks):
            a, keep = self._block_forward(B, b, block, a)
            kept.append(keep)
        hT = a.reshape(-1, n)                                 # (D, n): Affine1's input, transposed
        h = hT.T if n > 2 else np.ascontiguousarray(hT.T)  # OpenBLAS: 1-2 rows differ transposed
        ins, outs = [], []
        for j, (affine, act) in enumerate(self.head):
            ins.append(h)
            u = np.matmul(h, affine.W, out=B(f"u{j}", (n, affine.W.shape[1]), h.dtype))
            u += affine.b
            if act is not None:
                u = _act_forward(act, u)
            outs.append(u)
            h = u
        # softmax with loss, by SoftmaxWithLoss's own functions; the gradient of the batch's
        # mean loss, (y - onehot) / N
        log_y = log_softmax(h)                                           # (n, M)
        nll = cross_entropy_rows(log_y, t)
        d = np.exp(log_y)
        d[np.arange(n), t] -= 1
        d *= 1.0 / N
        grads = {}
        for j in reversed(range(len(self.head))):
            affine, act = self.head[j]
            if act is not None:
                d = _act_backward(act, d, outs[j], out=d)
            kW, kb = self._names[len(self.blocks) + j]
            if j == 0:
                grads[kW] = np.matmul(hT, d, out=B(f"grad {kW}", affine.W.shape, d.dtype))
            else:
                grads[kW] = np.matmul(ins[j].T, d, out=B(f"grad {kW}", affine.W.shape, d.dtype))
            grads[kb] = np.sum(d, axis=0, out=B(f"grad {kb}", affine.b.shape, d.dtype))
            if j > 0:
                d = d @ affine.W.T                                       # (n, D)
            else:
                d = np.matmul(affine.W, d.T, out=B("dhT", hT.shape, d.dtype))  # (D, n)
        for b in reversed(range(len(self.blocks))):
            d = self._block_backward(B, b, self.blocks[b], d, kept[b], grads, need_dx=b > 0)
        return nll, grads

    def _block_forward(self, B, b, block, a):
        """Block b (conv, act, pool) on ``a`` (C, H, W, n) images last -> (its output (FN,
        PH, PW, n), what the backward pass needs)."""
        conv, act, pool = block
        W = conv.W
        FN, C, FH, FW = W.shape
        P0, P1 = conv.pad
        _, H, W_, n = a.shape
        Hp, Wp = H + 2 * P0, W_ + 2 * P1
        OH, OW = Hp - FH + 1, Wp - FW + 1
        p = pool.pool_h
        PH, PW = OH // p, OW // p
        K = C * FH * FW
        dt = a.dtype
        if P0 or P1 or b == 0:                 # the images, padded, last (the first: always copied)
            xT = B(f"xT{b}", (C, Hp, Wp, n), dt)
            if P0 or P1:
                xT.fill(0)
            np.copyto(xT[:, P0:P0 + H, P1:P1 + W_], a)
        else:
            xT = a
        # column (py, i, j, px, n) of row (c, fy, fx): pixel (p*py + i + fy, p*px + j + fx) of c
        win = sliding_window_view(xT, (FH, FW), axis=(1, 2))            # (C, OH, OW, n, FH, FW)
        win = win.reshape(C, PH, p, PW, p, n, FH, FW).transpose(0, 6, 7, 1, 2, 4, 3, 5)
        col = B(f"col{b}", (K + 1, PH * p * p, PW * n), dt)
        rows = col[:K].reshape(C, FH, FW, PH, p, p, PW, n)
        col[K] = 1                                                       # the bias's input
        Wb = np.concatenate([W.reshape(FN, K), conv.b.reshape(FN, 1)], axis=1, dtype=dt)
        negated = type(act) is plain.Sigmoid                # c = -(W x + b): the sigmoid's input
        if negated:
            np.negative(Wb, out=Wb)
        c = B(f"c{b}", (FN, PH * p * p, PW * n), dt)
        np.copyto(rows, win)                                             # im2col: one copy
        # one GEMM per (py, i, j) of PW*n columns, stacked in one matmul call
        np.matmul(Wb, col.transpose(1, 0, 2), out=c.transpose(1, 0, 2))
        c = c.reshape(FN, PH, p * p, PW * n)
        out = B(f"a{b}", (FN, PH, PW * n), dt)
        if type(act) is plain.Relu and pool.mode == "max":               # pool, then the ReLU
            m = np.max(c, axis=2, out=B(f"m{b}", out.shape, dt))
            np.maximum(m, 0, out=out)
            keep = (xT, col, c, m)
        else:
            y = sigmoid_in_place(c, negated=True) if negated else _act_forward(act, c)  # in c
            if pool.mode == "max":
                np.max(y, axis=2, out=out)
            else:
                np.sum(y, axis=2, out=out)
                out /= p * p                                             # the mean, as Pooling
            keep = (xT, col, y, out)
        return out.reshape(FN, PH, PW, n), keep

    def _block_backward(self, B, b, block, da, keep, grads, need_dx):
        """dW, db of block b into ``grads`` from da, the gradient of its output (FN, PH*PW*n
        numbers, images last); returns the gradient of its input (C, H, W, n) if ``need_dx``."""
        conv, act, pool = block
        xT, col, c, m = keep
        FN, C, FH, FW = conv.W.shape
        P0, P1 = conv.pad
        K1, pp = col.shape[0], pool.pool_h * pool.pool_w
        _, PH, _, L = c.shape                                            # L = PW*n
        dt = da.dtype
        da = da.reshape(FN, PH, L)
        dc = B(f"dc{b}", c.shape, dt)                                    # conv outputs' gradient
        left = B(f"left{b}", m.shape, dt)
        if type(act) is plain.Relu and pool.mode == "max":               # the ReLU after pooling
            hit = np.greater(m, 0, out=B(f"hit{b}", m.shape, bool))
            _to_first_max(c, m, np.multiply(da, hit, out=left), hit, dc)
        elif pool.mode == "max":
            np.copyto(left, da)
            _to_first_max(c, m, left, B(f"hit{b}", m.shape, bool), dc)
            _act_backward(act, dc, c, out=dc)
        else:           # every cell of a window gets an equal share, times the activation's slope
            share = np.divide(da, pp, out=left)
            _act_backward(act, share[:, :, None, :], c, out=dc)
        # [dW | db].T = col @ dc.T as one GEMM per (pooled row, window offset), as the forward
        # pass: 4x faster than one GEMM for LeNet's first layer (K = 25: a long, thin product)
        G = col.shape[1]                                                 # PH*p*p
        parts = np.matmul(col.transpose(1, 0, 2), dc.reshape(FN, G, L).transpose(1, 2, 0),
                          out=B(f"parts{b}", (G, K1, FN), dt))           # (G, K+1, FN)
        dWbT = np.sum(parts, axis=0, out=B(f"dWbT{b}", (K1, FN), dt))
        kW, kb = self._names[b]
        grads[kW], grads[kb] = B(f"grad {kW}", conv.W.shape, dt), B(f"grad {kb}", conv.b.shape, dt)
        np.copyto(grads[kW], dWbT[:K1 - 1].T.reshape(conv.W.shape))
        np.copyto(grads[kb], dWbT[K1 - 1])
        if not need_dx:
            return None
        # dx: dc put in (oy, ox, n) order (one small copy), dcol = W.T @ that, folded back onto
        # the padded input, in three calls where the shifted rows fit FOLD_BYTES, else one add
        # per kernel offset (fy, fx) of runs of OW*n numbers
        _, Hp, Wp, n = xT.shape
        p = pool.pool_h
        OH, OW = Hp - FH + 1, Wp - FW + 1
        R = Hp * Wp * n + (FW - 1) * n                                   # the last shift's reach
        shifts = FH * FW * C * R * np.dtype(dt).itemsize <= FOLD_BYTES
        # rows as wide as the padded input for the shifted rows (the columns past OW stay 0)
        d = B.zeros(f"d_rows{b}", (FN, OH, Wp if shifts else OW, n), dt)
        np.copyto(d[:, :, :OW].reshape(FN, PH, p, OW // p, p, n),
                  dc.reshape(FN, PH, p, p, OW // p, n).transpose(0, 1, 2, 4, 3, 5))
        if shifts:
            # one GEMM per kernel offset, written into its own row of E shifted by
            # (fy*Wp + fx)*n, onto the input pixels it feeds; then the sum of E's rows
            E = B.zeros(f"E{b}", (FH, FW, C, R), dt)                     # unwritten cells stay 0
            isz = E.itemsize
            strides = (E.strides[0] + Wp * n * isz, E.strides[1] + n * isz, R * isz, isz)
            shifted = as_strided(E, (FH, FW, C, OH * Wp * n), strides)
            Wt = conv.W.transpose(2, 3, 1, 0).astype(dt)                  # (FH, FW, C, FN)
            np.matmul(Wt, d.reshape(FN, -1), out=shifted)                # (FH, FW, C, OH*Wp*n)
            dx = np.sum(E, axis=(0, 1), out=B(f"dx{b}", (C, R), dt))     # in (fy, fx) order
            dxT = dx[:, :Hp * Wp * n].reshape(C, Hp, Wp, n)
            return dxT[:, P0:Hp - P0, P1:Wp - P1]                        # (C, H, W, n)
        Wmat = conv.W.reshape(FN, K1 - 1).astype(dt, copy=False)
        dcol = np.matmul(Wmat.T, d.reshape(FN, -1), out=B(f"dcol{b}", (K1 - 1, OH * OW * n), dt))
        dcol = dcol.reshape(C, FH, FW, OH, OW, n)
        dxT = B(f"dxT{b}", (C, Hp, Wp, n), dt)
        dxT.fill(0)
        for fy in range(FH):
            for fx in range(FW):
                dxT[:, fy:fy + OH, fx:fx + OW] += dcol[:, fy, fx]
        return dxT[:, P0:Hp - P0, P1:Wp - P1]                            # (C, H, W, n)


def _act_forward(act, u):
    """The activation of ``u``, in u's own array (returned)."""
    if type(act) is plain.Relu:
        return np.maximum(u, 0, out=u)
    return sigmoid_in_place(u)


def _act_backward(act, d, y, out):
    """The activation's input gradient from its output gradient d (which may broadcast) and its
    output y, written into ``out`` (d itself or an array of y's shape that d does not use)."""
    if type(act) is plain.Relu:
        return np.multiply(d, y > 0, out=out)
    if out is d:
        np.multiply(d, np.subtract(1.0, y), out=out)                 # d * (1 - y) ...
    else:
        np.subtract(1.0, y, out=out)
        np.multiply(d, out, out=out)
    return np.multiply(out, y, out=out)                              # ... * y, the layer's order


def _to_first_max(c, m, left, hit, dc):
    """Max pooling's gradient: dc[:, :, k] (FN, PH, p*p, PW*n) = ``left`` (FN, PH, PW*n) where
    window offset k of c holds the window's maximum m and no earlier offset does (the first
    maximum wins, as Pooling), else 0. Overwrites left and hit."""
    pp = c.shape[2]
    for k in range(pp - 1):
        np.equal(c[:, :, k], m, out=hit)
        np.multiply(left, hit, out=dc[:, :, k])
        left -= dc[:, :, k]                                          # routed: x - x = 0
    np.copyto(dc[:, :, pp - 1], left)
