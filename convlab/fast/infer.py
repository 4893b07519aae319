"""Forward-only evaluation of a plannable net: ``net.predict``'s scores with none of training's
state, the layout kept from layer to layer, every array in the cache.

``LayerPlan.predict`` and ``LayerPlan.accuracy`` (so ``Trainer.evaluate``) run through
:class:`Inference` when :func:`inference_for` can build one. What it does that the training
twins cannot (they keep argmax, masks and column matrices for a backward pass):

* **Images last, from layer to layer.** Every map is (C, H, W, n) -- channels, rows, columns,
  then the n images of the chunk -- and a flat activation (D, n). A convolution's GEMM
  ``[W | b] @ [col; 1]`` then gives (FN, OH, OW, n) straight away, the next layer's input with no
  transposed copy, and the im2col copies move runs of OW * n numbers (``_Conv``). The first
  affine layer reads the maps as (C*H*W, n), which is the order ``Affine`` flattens them in.
* **Epilogues in the cache.** A convolution multiplies a few output rows at a time
  (``CHUNK_BYTES`` of columns) and runs the column-wise layers that follow it (ReLU, sigmoid,
  LRN: each output pixel's channel vector on its own) on those rows right away.
* **Max pooling before a monotone activation.** ``relu(maxpool(x)) == maxpool(relu(x))``, and
  likewise for the sigmoid: an activation followed by max pooling runs after the pooling, on a
  quarter of the numbers (2x2 windows). Dropout at evaluation is the identity: left out.
* **Pooling inside the convolution** where it has no padding: the convolution computes only the
  rows the next few pooled rows need, into a buffer of those rows (the rows two windows share
  carried over), and pools them while still in the cache, window rows first (runs of W' * n
  numbers), then columns. The convolution's full map never exists.
* **Both threads** (``LayerPlan._scores``): the images in chunks of :attr:`Inference.images`
  (``EVAL_BYTES`` of the net's largest map: 550 images for lenet, 100 for alexnet), each
  thread taking the next chunk left (``convlab.fast.threads.Workers``), each thread with its
  own reused arrays; no backward state, so nothing to wait for between chunks. Big chunks
  matter most on two threads: every NumPy call takes the GIL, and small nets make many.

The same numbers as ``net.predict`` to float rounding (sums in another order, the sigmoid as
``1 / (1 + exp(-x))``, LRN's window as shifted slices): ``tests/test_fast_infer.py``. NaN and
inf go through as the layers let them (a NaN in a pooling window wins; ReLU keeps NaN).
Measured (one thread, CPU time, 10,000 MNIST test images in batches of 50): 0.55-0.73x the
time of evaluating through the training twins.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import layers as plain

__all__ = ["Inference", "inference_for", "CHUNK_BYTES", "EVAL_BYTES"]

CHUNK_BYTES = 1 << 20
"""Bytes of column matrix a convolution builds and multiplies at a time (then its epilogue)."""

EVAL_BYTES = 10 << 20
"""Bytes of the net's largest map per chunk of images (:attr:`Inference.images`). Measured (10,000
images as 6,000 random ones, one thread / two threads, against chunks of 100): lenet and
lenet-modern (18 KB a map per image) took 0.79 / 0.42-0.45x the time in chunks of 500-1,000, deep
(50 KB) 0.96 / 0.52x in chunks of 200 and worse in bigger ones, alexnet (100 KB) best in 100-150:
fewer NumPy calls per image (on two threads each one also a handover of the GIL) until the maps
outgrow the cache."""

MONOTONE = (plain.Relu, plain.Sigmoid)
"""Element-wise, non-decreasing: they commute with max pooling."""


def inference_for(net):
    """An :class:`Inference` of ``net`` (a net ``convlab.fast.why_not`` accepts), or None where
    it cannot take the net (then evaluate through the training twins)."""
    try:
        return Inference(net)
    except _CannotTake:
        return None


class _CannotTake(Exception):
    pass


class Inference:
    """``net``'s forward pass at evaluation (module docstring): ``scores(x, out, arrays,
    weights)`` writes the scores of images x (n, C, H, W) into out (n, M)."""

    def __init__(self, net):
        self.dtype = net.dtype
        largest = max(int(np.prod(shape)) for _, shape in net.shapes) * np.dtype(net.dtype).itemsize
        self.images = max(50, min(1000, EVAL_BYTES // largest // 50 * 50))
        """Images per chunk: ``EVAL_BYTES`` of the largest map, in fifties, 50 to 1,000."""
        self.steps = _steps([layer for layer in net.layers.values()
                             if type(layer) is not plain.Dropout])

    def weights(self):
        """What each step needs of the parameters, in the net's dtype, once per call (they
        train between calls): a convolution's [W | b], an affine layer's W.T and b."""
        return [s.weights(self.dtype) for s in self.steps]

    def scores(self, x, out, arrays, weights):
        """Scores of x (n, C, H, W) into out (n, M), through reused ``arrays`` (a dict, one per
        thread) and ``weights`` (from :meth:`weights`)."""
        a = x.transpose(1, 2, 3, 0)                        # (C, H, W, n) view: images last
        mine = False                                       # may a step overwrite a in place?
        for i, (step, w) in enumerate(zip(self.steps, weights)):
            a, mine = step.run(a, mine, w, _Arrays(arrays, i))
        np.copyto(out, a.T)                                # (M, n) -> (n, M)


class _Arrays:
    """Step i's share of a thread's reused arrays (``arrays``: a dict): ``get(name, shape, dtype,
    fill)`` is a contiguous array of that shape in the buffer ``name`` had last time, which only
    grows (so a smaller last chunk and the next full one reuse the same memory); ``fill`` (a
    number or None) is written whenever the shape changed, e.g. a padded border."""

    def __init__(self, arrays, i):
        self.arrays, self.i = arrays, i

    def get(self, name, shape, dtype, fill=None):
        key, shape = (self.i, name), tuple(shape)
        size = int(np.prod(shape))
        buf, last = self.arrays.get(key, (None, None))
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf, last = np.empty(size, dtype), None
        a = buf[:size].reshape(shape)
        if fill is not None and last != shape:
            a[...] = fill
        self.arrays[key] = (buf, shape)
        return a


# -- building the steps --------------------------------------------------------------------------

def _steps(layers):
    """The net's layers (no Dropout) as steps: each Convolution with the column-wise layers after
    it as its epilogue, max pooling moved before the monotone activations in front of it."""
    layers = list(layers)
    moved = True
    while moved:                                           # bubble max pooling forward
        moved = False
        for i in range(len(layers) - 1):
            a, b = layers[i], layers[i + 1]
            if type(a) in MONOTONE and type(b) is plain.Pooling and b.mode == "max":
                layers[i], layers[i + 1] = b, a
                moved = True
    steps, flat = [], False
    for layer in layers:
        kind = type(layer)
        if kind is plain.Affine:
            steps.append(_Affine(layer))
            flat = True
        elif kind is plain.Convolution and not flat:
            steps.append(_Conv(layer))
        elif kind is plain.Pooling and not flat:
            steps.append(_Pool(layer))
        elif kind in (plain.Relu, plain.Sigmoid) or (kind is plain.LRN and not flat):
            op = _Columnwise(layer)
            if steps and isinstance(steps[-1], (_Conv, _Pool, _Affine)):
                steps[-1].epilogue.append(op)              # on each block, still in the cache
            else:
                steps.append(op)
        else:
            raise _CannotTake(f"{kind.__name__} here")
    if not flat:
        raise _CannotTake("the scores do not come from an affine layer")
    for step in steps:                                     # a sigmoid right after: see _negated
        if isinstance(step, (_Conv, _Affine)) and step.epilogue:
            step.epilogue[0].negated = step.epilogue[0].kind is plain.Sigmoid
    fused = []
    for step in steps:                                     # pooling without padding: in the conv
        if (isinstance(step, _Pool) and fused and isinstance(fused[-1], _Conv)
                and fused[-1].pool is None and step.layer.pad == (0, 0)):
            fused[-1].pool = step
        else:
            fused.append(step)
    return fused


def _negated(step):
    """Does the first layer of a convolution's or affine layer's epilogue take its output
    negated? (A sigmoid does, ``_steps``.) Then the step multiplies by -W and adds -b, which
    gives exactly -(W x + b) (a sign is exact), and the sigmoid saves its pass negating."""
    return bool(step.epilogue) and step.epilogue[0].negated


# -- the column-wise layers: one output pixel's channels (or one image's features) at a time ----

class _Columnwise:
    """ReLU, sigmoid or LRN on a (C, L) block: L columns of C channels (LRN's window runs
    along C). Runs in place."""

    def __init__(self, layer):
        self.layer = layer
        self.kind = type(layer)
        self.negated = False        # a sigmoid whose input comes negated (see ``_negated``)

    def weights(self, dtype):
        return None

    def run(self, a, mine, w, arrays):
        if not mine:                                       # the caller's images: copy them
            own = arrays.get("a", a.shape, a.dtype)
            np.copyto(own, a)
            a = own
        self.apply(a.reshape(a.shape[0], -1), arrays)
        return a, True

    def apply(self, a, arrays):
        """In place on a (C, L) view (rows may be strided)."""
        if self.kind is plain.Relu:
            np.maximum(a, 0, out=a)                        # NaN stays NaN, as Relu
        elif self.kind is plain.Sigmoid:
            _sigmoid(a, arrays, self.negated)
        else:
            _lrn(self.layer, a, arrays)


def _sigmoid(a, arrays, negated=False):
    """a = 1 / (1 + exp(-a)) in place: four passes, no extra array (three if a comes
    ``negated``, as -a). Where exp(-a) overflows (a below -88 in float32) the result is 0
    instead of a number under 1e-38 (``Sigmoid``'s): the same to float rounding of anything it
    is added to. NaN stays NaN."""
    if not negated:
        np.negative(a, out=a)
    with np.errstate(over="ignore"):
        np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def _lrn(layer, a, arrays):
    """LRN in place on a (C, L): a / (k + alpha/n * sum of a^2 over the channel window) ** beta,
    the window sum as shifted slices (``kernels.channel_window_sum``'s way)."""
    C = a.shape[0]
    lo, hi = layer.n // 2, (layer.n - 1) // 2
    sq = arrays.get("square", a.shape, a.dtype)
    np.multiply(a, a, out=sq)
    s = arrays.get("scale", a.shape, a.dtype)
    if lo >= 1 and C > 1:
        np.copyto(s[:1], sq[:1])
        np.add(sq[1:], sq[:C - 1], out=s[1:])
    else:
        np.copyto(s, sq)
    for k in range(2, min(lo, C - 1) + 1):
        s[k:] += sq[:C - k]                                # the channel k below
    for k in range(1, min(hi, C - 1) + 1):
        s[:C - k] += sq[k:]                                # the channel k above
    s *= layer.alpha / layer.n
    s += layer.k
    if layer.beta == 0.75:                                 # s^-0.75 = 1 / (sqrt(s) sqrt(sqrt(s)))
        np.sqrt(s, out=sq)
        np.sqrt(sq, out=s)
        np.multiply(sq, s, out=s)
        np.divide(a, s, out=a)
    else:
        np.power(s, -layer.beta, out=s)
        np.multiply(a, s, out=a)


# -- convolution ----------------------------------------------------------------------------------

class _Conv:
    """Convolution, images last: (C, H, W, n) -> (FN, OH, OW, n), a few output rows at a time
    (columns of ``CHUNK_BYTES``), each block then through the epilogue (ReLU, sigmoid, LRN).
    With its pooling (``pool``): only the rows the next pooled rows need, in a buffer of a few
    rows (the rows two windows share carried over), pooled right away: the full map never
    exists, and what each thread touches stays in its cache."""

    def __init__(self, layer):
        self.layer = layer
        self.epilogue = []
        self.pool = None            # a _Pool without padding: pools each block's finished rows

    def weights(self, dtype):
        W, b = self.layer.W, self.layer.b
        FN = W.shape[0]
        Wb = np.concatenate([W.reshape(FN, -1), b.reshape(FN, 1)], axis=1, dtype=dtype)
        return np.negative(Wb, out=Wb) if _negated(self) else Wb

    def run(self, a, mine, Wb, arrays):
        L = self.layer
        C, H, W, n = a.shape
        FN, _, FH, FW = L.W.shape
        (S0, S1), (P0, P1), (D0, D1) = L.stride, L.pad, L.dilation
        _, OH, OW = L.output_shape((C, H, W))
        K = C * FH * FW
        if P0 or P1:                                       # the border stays 0 for good
            xt = arrays.get("padded", (C, H + 2 * P0, W + 2 * P1, n), a.dtype, fill=0)
            np.copyto(xt[:, P0:P0 + H, P1:P1 + W], a)
        else:
            xt = a
        win = sliding_window_view(xt, (D0 * (FH - 1) + 1, D1 * (FW - 1) + 1), axis=(1, 2))
        win = win[:, :, :S1 * (OW - 1) + 1:S1, :, ::D0, ::D1]   # (C, H', OW, n, FH, FW) view
        r = max(1, min(OH, CHUNK_BYTES // ((K + 1) * OW * n * a.itemsize)))   # rows per block
        if self.pool is None:
            col = self._col(arrays, K, r * OW * n, a.dtype)
            out = arrays.get("out", (FN, OH, OW, n), a.dtype)
            for y0 in range(0, OH, r):
                self._rows(win, col, Wb, out, y0, min(OH, y0 + r), y0, arrays)
            return out, True
        pool = self.pool.layer
        PH, PS = pool.pool_h, pool.stride[0]
        POH, POW = pool.output_shape((FN, OH, OW))[1:]
        q = max(1, (r - PH) // PS + 1)                     # pooled rows per block
        R = (q - 1) * PS + PH                              # the conv rows they need
        col = self._col(arrays, K, R * OW * n, a.dtype)
        rows = arrays.get("rows", (FN, R, OW, n), a.dtype)
        pooled = arrays.get("pooled", (FN, POH, POW, n), a.dtype)
        pool_arrays = _Arrays(arrays.arrays, (arrays.i, "pool"))
        lo = hi = 0                                        # rows[:, :hi - lo]: conv rows lo..hi-1
        for p0 in range(0, POH, q):
            p1 = min(POH, p0 + q)
            need_lo, need_hi = p0 * PS, (p1 - 1) * PS + PH
            keep = max(0, hi - need_lo)                    # rows the last windows share with these
            if keep:
                rows[:, :keep] = rows[:, hi - lo - keep:hi - lo]   # (overlap: NumPy copies first)
            start = max(hi, need_lo)
            self._rows(win, col, Wb, rows, start, need_hi, start - need_lo, arrays)
            lo, hi = need_lo, need_hi
            self.pool.rows(rows, pooled, p0, p1, pool_arrays, base=lo)
        return pooled, True

    @staticmethod
    def _col(arrays, K, m, dtype):
        """The column matrix of m columns: K rows of im2col, then a row of ones (the bias's)."""
        col = arrays.get("col", (K + 1, m), dtype)
        col[K] = 1
        return col

    def _rows(self, win, col, Wb, dst, y0, y1, j, arrays):
        """Output rows y0..y1-1 into rows j.. of dst (FN, rows, OW, n), then the epilogue."""
        C, _, OW, n, FH, FW = win.shape
        S0 = self.layer.stride[0]
        K, m = C * FH * FW, (y1 - y0) * OW * n
        # im2col of these rows, one copy: row (c, i, j), column (oy, ox, n)
        np.copyto(col[:K, :m].reshape(C, FH, FW, y1 - y0, OW, n),
                  win[:, S0 * y0:S0 * (y1 - 1) + 1:S0].transpose(0, 4, 5, 1, 2, 3))
        block = dst.reshape(dst.shape[0], -1)[:, j * OW * n:j * OW * n + m]
        np.matmul(Wb, col[:, :m], out=block)
        for op in self.epilogue:
            op.apply(block, arrays)


# -- pooling ---------------------------------------------------------------------------------------

class _Pool:
    """Max or average pooling, images last: a running maximum (or sum) over the window rows, then
    the window columns (:meth:`rows`), of the (padded) input; then its epilogue."""

    def __init__(self, layer):
        self.layer = layer
        self.epilogue = []

    def weights(self, dtype):
        return None

    def run(self, a, mine, w, arrays):
        L = self.layer
        C, H, W, n = a.shape
        (P0, P1) = L.pad
        if P0 or P1:                                       # the border stays as filled
            fill = -np.inf if L.mode == "max" else 0
            xp = arrays.get("padded", (C, H + 2 * P0, W + 2 * P1, n), a.dtype, fill=fill)
            np.copyto(xp[:, P0:P0 + H, P1:P1 + W], a)
        else:
            xp = a
        out = arrays.get("out", (C,) + L.output_shape((C, H, W))[1:] + (n,), a.dtype)
        self.rows(xp, out, 0, out.shape[1], arrays)
        return out, True

    def rows(self, xp, out, y0, y1, arrays, base=0):
        """Output rows y0..y1-1 of ``out`` (C, OH, OW, n) from the padded input ``xp`` (its row 0:
        input row ``base``), then the epilogue on them. Window rows first: the PH input rows of
        each output row combined whole (runs of W' * n numbers), then the PW columns of each
        window (runs of n): PH + PW - 2 passes instead of PH * PW - 1 over strided views."""
        L = self.layer
        PH, PW = L.pool_h, L.pool_w
        (S0, S1) = L.stride
        C, _, OW, n = out.shape
        combine = np.maximum if L.mode == "max" else np.add   # maximum: a NaN wins, as in Pooling
        o = out[:, y0:y1]                                  # (C, rows, OW, n)
        y0_in, y1_in = S0 * y0 - base, S0 * (y1 - 1) + 1 - base        # xp's row 0: row base
        r = [xp[:, i + y0_in:i + y1_in:S0] for i in range(PH)]           # (C, rows, W', n)
        if PH > 1:
            r = [combine(r[0], r[1], out=arrays.get("window rows", r[0].shape, xp.dtype))] + r[2:]
            for v in r[1:]:
                combine(r[0], v, out=r[0])
        c = [r[0][:, :, j:j + S1 * (OW - 1) + 1:S1] for j in range(PW)]       # (C, rows, OW, n)
        if PW > 1:
            combine(c[0], c[1], out=o)
            for v in c[2:]:
                combine(o, v, out=o)
        else:
            np.copyto(o, c[0])
        if L.mode == "avg":
            o /= PH * PW
        for op in self.epilogue:
            op.apply(o.reshape(C, (y1 - y0) * OW * n, copy=False), arrays)


# -- affine ----------------------------------------------------------------------------------------

class _Affine:
    """Affine on images-last input: (D, n) -> W.T @ a + b, (M, n); the maps (C, H, W, n) read as
    (C*H*W, n), Affine's flattening order. Then its epilogue (ReLU, sigmoid)."""

    def __init__(self, layer):
        self.layer = layer
        self.epilogue = []

    def weights(self, dtype):
        WT = self.layer.W.astype(dtype, copy=False).T
        b = self.layer.b.astype(dtype, copy=False).reshape(-1, 1)
        return (-WT, -b) if _negated(self) else (WT, b)

    def run(self, a, mine, w, arrays):
        WT, b = w
        n = a.shape[-1]
        a = a.reshape(-1, n)                               # (D, n)
        out = arrays.get("out", (WT.shape[0], n), a.dtype)
        np.matmul(WT, a, out=out)
        out += b
        for op in self.epilogue:
            op.apply(out, arrays)
        return out, True
