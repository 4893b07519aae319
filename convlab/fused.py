"""SimpleConvNet's training step and prediction in fewer passes: the speed behind ``Trainer``.

The layer-by-layer path (``net.gradient``; ``notebooks/06_training.ipynb``) is what a learner
reads. For the one network that the chapter trains for 20 epochs, :class:`FusedSimpleConvNet`
computes the same numbers with less work, using three facts the layers cannot use one at a time:

1. ReLU and max pooling commute, gradients included: ``relu(maxpool(c)) == maxpool(relu(c))``,
   and a window whose maximum is <= 0 passes no gradient either way. Pooling first makes the
   ReLU four times cheaper (``pool=2``) and removes the ReLU mask over the big conv output.
2. The columns of the im2col matrix can come in any order. Ordering them by window offset first,
   (i, j, n, py, px), puts the conv outputs of one pooling offset side by side: max pooling is
   then ``pool**2 - 1`` ``np.maximum`` calls over contiguous blocks, not a reduction over a
   strided 6-D view, and the pooled result needs no reshuffle.
3. The first layer needs no input gradient (the plain path skips it too).

The conv GEMM is the plain path's own (``[W | b] @ [col; 1]``, see ``layers.Convolution``) with
permuted columns, so the forward pass and the loss are bit for bit the plain path's (a test
checks this). Backward sums the same products in another order: gradients agree to float32
rounding. Ties inside a pooling window go to the FIRST maximum, as in ``Pooling``.

``tests/test_fused.py`` proves all of this against ``net.gradient`` and ``net.predict``; how much
faster it is: ``docs/speed.md``.
"""
from __future__ import annotations

import numpy as np

from .layers import Affine, Convolution, Pooling, Relu, check_labels
from .workspace import Workspace

__all__ = ["FusedSimpleConvNet", "fused_for", "EVAL_BATCH"]

EVAL_BATCH = 100    # images per predict() chunk when evaluating: measured fastest (docs/speed.md)


def fused_for(net):
    """A :class:`FusedSimpleConvNet` sharing ``net``'s parameters, or None when ``net`` does not
    have that shape (see :meth:`FusedSimpleConvNet.why_not`)."""
    return None if FusedSimpleConvNet.why_not(net) else FusedSimpleConvNet(net)


class FusedSimpleConvNet:
    """Conv - ReLU - max pool - Affine - ReLU - Affine - softmax loss, as ``SimpleConvNet``'s
    layers compute it, in fewer passes (module docstring). Shares ``net.params``: an optimiser
    updating them updates both. ``gradient(x, t)`` -> (loss, grads); ``predict``; ``accuracy``.
    Its arrays are reused from call to call: copy a result you want to keep past the next call."""

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

    def __init__(self, net):
        reason = self.why_not(net)
        if reason:
            raise ValueError(f"net cannot use the fused step: {reason}")
        self.conv, _, self.pool, self.affine1, _, self.affine2 = net.layers.values()
        self.input_dim = tuple(net.input_dim)
        self.params = net.params
        self._ws = Workspace()

    def _buf(self, name, shape, dtype=np.float32):
        return self._ws.get(self, name, shape, dtype)

    # -- forward ----------------------------------------------------------------------------
    def _conv_pool(self, x):
        """Conv (bias included) and max pooling, before the ReLU. Keeps for backward:
        ``col`` (K+1, p*p*N*PH*PW), ``c`` the conv outputs (FN, p*p, N*PH*PW) and ``m`` their
        window maxima (FN, N*PH*PW). Returns m."""
        W, b, p = self.conv.W, self.conv.b, self.pool.pool_h
        FN, C, FH, FW = W.shape
        P0, P1 = self.conv.pad
        if P0 or P1:
            x = np.pad(x, ((0, 0), (0, 0), (P0, P0), (P1, P1)))          # (N, C, H', W')
        N, _, Hp, Wp = x.shape
        OH, OW = Hp - FH + 1, Wp - FW + 1
        PH, PW = OH // p, OW // p
        K, Q = C * FH * FW, N * PH * PW                                  # weights per filter, windows
        col = self._buf("col", (K + 1, p, p, N, PH, PW), x.dtype)        # columns in (i, j, n, py, px) order

        for r in range(K):                                               # row r = (c, fy, fx)
            c, fy, fx = r // (FH * FW), r // FW % FH, r % FW
            patch = x[:, c, fy:fy + OH, fx:fx + OW]                      # (N, OH, OW) view
            # output pixel (p*py + i, p*px + j) of image n goes to column (i, j, n, py, px)
            np.copyto(col[r], patch.reshape(N, PH, p, PW, p).transpose(2, 4, 0, 1, 3))
        col[K] = 1                                                       # the bias row, as in Convolution
        col = col.reshape(K + 1, p * p * Q)
        Wb = np.concatenate([W.reshape(FN, K), b.reshape(FN, 1)], axis=1, dtype=x.dtype)  # (FN, K+1)
        c = np.matmul(Wb, col, out=self._buf("c", (FN, p * p * Q), x.dtype)).reshape(FN, p * p, Q)
        m = self._buf("m", (FN, Q), x.dtype)

        np.copyto(m, c[:, 0])
        for k in range(1, p * p):                                        # window offset k = i*p + j
            np.maximum(m, c[:, k], out=m)
        self._shape = (N, FN, PH, PW)
        self._col, self._c, self._m = col, c, m
        return m

    def _head(self, m):
        """ReLU of the pooled maps m (FN, N*PH*PW), then Affine - ReLU - Affine: the scores (N, M)."""
        N, FN, PH, PW = self._shape
        h = self._buf("h", (N, FN, PH * PW), m.dtype)                    # the pooled maps, (C, H, W) order
        np.maximum(m.reshape(FN, N, PH * PW).transpose(1, 0, 2), 0, out=h)
        h = h.reshape(N, FN * PH * PW)                                   # (N, D) as Affine1 flattens
        u = h @ self.affine1.W + self.affine1.b                          # (N, hidden)
        r = np.maximum(u, 0)
        s = r @ self.affine2.W + self.affine2.b                          # (N, M) scores
        self._h, self._u, self._r = h, u, r
        return s

    def predict(self, x):
        """Class scores (N, M) before the softmax, equal to ``net.predict(x)``."""
        x = np.asarray(x, dtype=self.conv.W.dtype).reshape((-1,) + self.input_dim)
        return self._head(self._conv_pool(x)).copy()

    def accuracy(self, x, t, batch_size=EVAL_BATCH):
        """Fraction of x classified as t, like ``net.accuracy`` (every sample counts)."""
        t = check_labels(t, len(x), self.affine2.W.shape[1])
        correct = 0
        for i in range(0, len(x), batch_size):
            correct += int(np.sum(self.predict(x[i:i + batch_size]).argmax(axis=1) == t[i:i + batch_size]))
        return correct / max(len(x), 1)

    # -- the training step --------------------------------------------------------------------
    def gradient(self, x, t):
        """(loss, grads): the mean cross-entropy of the batch and the gradients keyed like
        ``params`` (W1, b1, W2, b2, W3, b3), the numbers of ``net.gradient(x, t)``."""
        x = np.asarray(x, dtype=self.conv.W.dtype).reshape((-1,) + self.input_dim)
        N = x.shape[0]
        t = check_labels(t, N, self.affine2.W.shape[1])
        s = self._head(self._conv_pool(x))                               # (N, M)
        # softmax with loss, as SoftmaxWithLoss computes it
        z = s - s.max(axis=1, keepdims=True)
        log_y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-log_y[np.arange(N), t].mean())
        ds = np.exp(log_y)                                               # (N, M): y, then y - onehot
        ds[np.arange(N), t] -= 1
        ds *= 1.0 / N
        grads = {"W3": self._r.T @ ds, "b3": ds.sum(axis=0)}
        du = ds @ self.affine2.W.T                                       # (N, hidden)
        du *= self._u > 0                                                # Relu2
        du += 0                                                          # -0.0 -> 0.0, as Relu does
        grads["W2"], grads["b2"] = self._h.T @ du, du.sum(axis=0)
        dh = du @ self.affine1.W.T                                       # (N, FN*PH*PW)
        grads["W1"], grads["b1"] = self._conv_pool_backward(dh)
        return loss, grads

    def _conv_pool_backward(self, dh):
        """dW1, db1 from dh (N, FN*PH*PW), the gradient of the pooled-and-ReLU'd maps."""
        N, FN, PH, PW = self._shape
        W, p = self.conv.W, self.pool.pool_h
        Q = N * PH * PW
        c, m, col = self._c, self._m, self._col
        dh = dh.reshape(N, FN, PH * PW)
        d = self._buf("d", (FN, p * p, Q), dh.dtype)                     # gradient of c
        left = self._buf("left", (FN, Q), dh.dtype)                      # not yet routed to a window offset
        hit = self._buf("hit", (FN, Q), bool)

        np.copyto(left.reshape(FN, N, PH * PW), dh.transpose(1, 0, 2))
        np.greater(m, 0, out=hit)                                        # the ReLU after pooling
        np.multiply(left, hit, out=left)
        left += 0                                                        # -0.0 -> 0.0, as Relu does
        for k in range(p * p - 1):                                       # the first maximum wins
            np.equal(c[:, k], m, out=hit)                                # offset k holds the max
            np.multiply(left, hit, out=d[:, k])
            left -= d[:, k]                                              # routed: x - x = 0 exactly
        np.copyto(d[:, p * p - 1], left)                                 # the rest: the last offset
        FNK = W.shape[1] * W.shape[2] * W.shape[3]
        dWb = d.reshape(FN, p * p * Q) @ col.T                           # (FN, K+1) = [dW | db]
        return dWb[:, :FNK].reshape(W.shape), dWb[:, FNK].copy()
