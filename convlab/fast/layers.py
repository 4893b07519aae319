"""Fast twins of ``convlab.layers``' Convolution, Pooling, Relu, Sigmoid and LRN: the same
contract and the same numbers (to float rounding), with the tricks a learner need not read. A
twin shares its layer's parameter arrays (``twin_of``), so an optimiser updating the net updates
both.

* big arrays come from :func:`convlab.fast.workspace.empty`: reused step after step while a
  training loop has a :class:`~convlab.fast.workspace.Workspace` attached;
* Convolution: the transposed im2col with a row of ones, so ``[W | b] @ col`` is the whole layer
  in one GEMM and ``[dW | db]`` comes from one GEMM too; the column matrix built and multiplied
  a chunk at a time in the cache where that measured faster: small output maps (at most
  ``Convolution.images_last_max`` pixels) with their columns in (oy, ox, n) order, a few
  output rows at a time (``kernels.conv_forward_images_last``); stride-1 layers with big
  column matrices (the deep net's 28x28 layer) a few images at a time, from long shifted
  copies of the padded images laid end to end (``kernels.conv_forward_flat``); the rest
  whole, dx through ``kernels.conv_backward_dx`` (for stride 1: one long add per kernel
  offset over the whole batch, ``kernels.fold_flat``);
* Pooling: max and argmax as a running maximum (``kernels.window_max``), the gradient written
  straight into strided views (``kernels.window_max_backward``);
* Pooling (average): a running sum over the window offsets (``kernels.window_mean``), the
  gradient written straight into strided views (``kernels.window_mean_backward``);
* Relu: the mask and the output written into reused arrays;
* Sigmoid: ``exp`` of -|x| instead of ``logaddexp`` (``kernels.sigmoid``), reused arrays;
* LRN: the channel-window sum as a few shifted slices added (``kernels.channel_window_sum``),
  ``s ** -0.75`` through square roots (``kernels.inverse_power``), reused arrays.
"""
from __future__ import annotations

import numpy as np

from .. import layers
from ..im2col import im2col_transposed, windows
from ..layers import checked
from .kernels import (channel_window_sum, conv_backward_dx, conv_backward_flat,
                      conv_backward_images_last, conv_forward_flat, conv_forward_images_last,
                      inverse_power, sigmoid, window_max, window_max_backward, window_mean,
                      window_mean_backward)
from .workspace import empty

__all__ = ["Convolution", "Pooling", "Relu", "Sigmoid", "LRN", "twin_of", "TWINS"]


class Convolution(layers.Convolution):
    """``layers.Convolution`` as GEMMs with the bias row (see the module docstring), one of
    three ways, picked by the layer's shape in ``forward`` (``self.way``):

    * "images last": output maps of at most ``images_last_max`` pixels (OH*OW) put the images
      last in the column order, (oy, ox, n) instead of (n, oy, ox), so the copies move runs of
      OW*N numbers instead of OW, and build the column matrix a few output rows at a time, in
      the cache (``kernels.conv_forward_images_last``);
    * "flat": stride-1 layers whose column matrix has at least ``flat_min_numbers`` numbers per
      image, a few images at a time (``kernels.conv_forward_flat``); checked first;
    * "images first": the rest (the first layers on 28x28 images; stride > 1 on big maps):
      the whole transposed im2col, one GEMM, dx through ``kernels.conv_backward_dx``.

    Measured here (one thread, batch 100, forward+backward of each registry convolution,
    against the twin before the chunks): images last took 6x6 to 14x14 maps 10-20% under
    images first; its chunks then took the deep net's 14x14 and 7x7 layers to 0.85-0.90x
    (the 5.7 MB one, built whole, 1.04x) and AlexNet's to 0.93-0.99x. Flat took the deep net's
    16->16 28x28 layer (113,680 numbers an image) to 0.73-0.77x of images first; every other
    registry convolution (at most 56,644) 1.05-1.6x.
    """

    images_last_max = 256
    flat_min_numbers = 80_000

    def forward(self, x):
        x = checked(self, "x", x, 4)
        self._check_channels(x)
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        _, OH, OW = self.output_shape(x.shape[1:])
        K = C * FH * FW                                                 # weights per filter
        # [W | b]: the bias is the weight of an input that is always 1 (a row of ones in col)
        Wb = np.concatenate([self.W.reshape(FN, K), self.b.reshape(FN, 1)], axis=1,
                            dtype=x.dtype)                              # (FN, C*FH*FW + 1)
        S, P, D = self.stride, self.pad, self.dilation
        if S == (1, 1) and (K + 1) * OH * OW >= self.flat_min_numbers:
            self.way = "flat"
            out, self.kept = conv_forward_flat(x, Wb, FH, FW, P, D, owner=self)
            self.col = self.kept[1]                                     # (a chunk of) the columns
        elif OH * OW <= self.images_last_max:
            self.way = "images last"
            out, self.kept = conv_forward_images_last(x, Wb, FH, FW, S, P, D, owner=self)
            self.col = self.kept[1]
        else:
            self.way = "images first"
            # The book's im2col, transposed: one column per output pixel, and a row of ones
            col = empty(self, "col", (K + 1, N * OH * OW), x.dtype)     # (C*FH*FW + 1, N*OH*OW)
            im2col_transposed(x, FH, FW, S, P, D, out=col[:K])          # columns (n, oy, ox)
            col[K] = 1
            prod = np.matmul(Wb, col, out=empty(self, "filters_first", (FN, N * OH * OW), x.dtype))
            out = empty(self, "out", (N, FN, OH, OW), x.dtype)
            np.copyto(out, prod.reshape(FN, N, OH, OW).transpose(1, 0, 2, 3))  # (N, FN, OH, OW)
            self.col = col
        self.x_shape, self.out_shape, self.out_dtype = x.shape, out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = checked(self, "dout", dout)                              # (N, FN, OH, OW)
        FN, C, FH, FW = self.W.shape
        N, _, OH, OW = dout.shape
        K = C * FH * FW
        S, P, D = self.stride, self.pad, self.dilation
        if self.way == "flat":
            dWbT, dx = conv_backward_flat(dout, self.kept, self.W, self.x_shape, P, D,
                                          self.need_dx, owner=self)
        elif self.way == "images last":
            dWbT, dx = conv_backward_images_last(dout, self.kept, self.W, self.x_shape, S, P,
                                                 D, self.need_dx, owner=self)
        else:
            # dout with filters first, columns in col's order, in the array that held
            # forward's GEMM result (no longer used)
            d = empty(self, "filters_first", (FN, N * OH * OW), dout.dtype)  # (FN, N*OH*OW)
            np.copyto(d.reshape(FN, N, OH, OW), dout.transpose(1, 0, 2, 3))
            dWbT = np.matmul(self.col, d.T)   # (C*FH*FW + 1, FN): faster than d @ col.T
            dx = None
            if self.need_dx:
                dx = conv_backward_dx(d, self.W.astype(d.dtype, copy=False), self.x_shape, S, P,
                                      D, owner=self)                    # (N, C, H, W)
        self.dW = np.ascontiguousarray(dWbT[:K].T.reshape(FN, C, FH, FW), dtype=self.W.dtype)
        self.db = dWbT[K].astype(self.b.dtype)                 # (FN,): the ones row's weight
        return dx                                                       # (N, C, H, W) or None


class Pooling(layers.Pooling):
    """``layers.Pooling`` with a running maximum (or sum) instead of the im2col copy (module
    docstring)."""

    def forward(self, x):
        x = checked(self, "x", x, 4)
        PH, PW = self.pool_h, self.pool_w
        fill = -np.inf if self.mode == "max" else 0.0                   # what padding holds
        win = windows(x, PH, PW, self.stride, self.pad, pad_value=fill)  # (N, C, OH, OW, PH, PW) view
        if self.mode == "avg":
            out = window_mean(win, owner=self)                          # (N, C, OH, OW)
        else:
            # max and argmax of each window: arg_max = i*PW + j of the winner (layers.first_max)
            out, self.arg_max = window_max(win, x.shape, self.stride, self.pad, owner=self)
        self.x_shape = x.shape
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = checked(self, "dout", dout)                              # (N, C, OH, OW)
        PH, PW = self.pool_h, self.pool_w
        if self.mode == "avg":                          # every cell of a window gets an equal share
            return window_mean_backward(dout, self.x_shape, (PH, PW), self.stride, self.pad,
                                        owner=self)                     # (N, C, H, W)
        return window_max_backward(dout, self.arg_max, self.x_shape, (PH, PW), self.stride,
                                   self.pad, owner=self)                # (N, C, H, W)


class Relu(layers.Relu):
    """``layers.Relu`` writing into reused arrays."""

    def forward(self, x):
        x = checked(self, "x", x)
        mask = np.less_equal(x, 0, out=empty(self, "mask", x.shape, bool))
        self.mask = np.logical_not(mask, out=mask)       # True where not x <= 0 (NaN passes, as torch)
        out = np.maximum(x, 0, out=empty(self, "out", x.shape, x.dtype))        # x is untouched
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = checked(self, "dout", dout)
        dx = np.multiply(dout, self.mask, out=empty(self, "dx", dout.shape, dout.dtype))
        dx += 0                                 # turns -0.0 (negative dout times False) into 0.0
        return dx


class Sigmoid(layers.Sigmoid):
    """``layers.Sigmoid`` through ``kernels.sigmoid`` (exp, not logaddexp), in reused arrays."""

    def forward(self, x):
        x = checked(self, "x", x)
        self.out = sigmoid(x, owner=self)                               # x's shape and dtype
        self.out_shape, self.out_dtype = self.out.shape, self.out.dtype
        return self.out

    def backward(self, dout):
        dout = checked(self, "dout", dout)
        dx = np.subtract(1.0, self.out, out=empty(self, "dx", dout.shape, dout.dtype))  # 1 - y
        np.multiply(dout, dx, out=dx)                                   # dout * (1 - y) ...
        dx *= self.out                                                  # ... * y, the layer's order
        return dx


class LRN(layers.LRN):
    """``layers.LRN`` with the window sum as shifted slices and reused arrays (module docstring)."""

    def forward(self, x):
        x = checked(self, "x", x, 4)
        lo, hi = self.n // 2, (self.n - 1) // 2
        sq = np.multiply(x, x, out=empty(self, "square", x.shape, x.dtype))       # (N, C, H, W)
        s = channel_window_sum(sq, lo, hi, out=empty(self, "scale", x.shape, x.dtype))
        s *= self.alpha / self.n
        s += self.k                                                     # k + alpha/n * sum x^2
        p = inverse_power(s, self.beta, owner=self)                     # s ** -beta
        out = np.multiply(x, p, out=empty(self, "out", x.shape, x.dtype))
        self.x, self.scale, self.power = x, s, p
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out

    def backward(self, dout):
        dout = checked(self, "dout", dout)
        x, s, p, b = self.x, self.scale, self.power, self.beta
        lo, hi = self.n // 2, (self.n - 1) // 2
        g = np.multiply(dout, x, out=empty(self, "square", x.shape, x.dtype))  # x^2's array
        g *= p
        g /= s                                                          # dout x s^(-b-1)
        # the transpose of "sum over window(c)": the window mirrored, [c - hi, c + lo]
        back = channel_window_sum(g, hi, lo, out=empty(self, "back", x.shape, x.dtype))
        back *= x
        back *= 2 * b * self.alpha / self.n
        dx = np.multiply(dout, p, out=empty(self, "dx", x.shape, x.dtype))
        dx -= back
        return dx


TWINS = {layers.Convolution: Convolution, layers.Pooling: Pooling, layers.Relu: Relu,
         layers.Sigmoid: Sigmoid, layers.LRN: LRN}
"""Plain layer class -> its fast twin. The others (Affine, Dropout, the loss) cost under 2% of
any registry net's step (``bench/profile_step.py --net``) and run as they are."""


def twin_of(layer):
    """The fast twin of ``layer``: a new object of the twin class holding the same parameter
    arrays and settings (no state of a forward pass); ``layer`` itself if it has no twin."""
    cls = TWINS.get(type(layer))
    if cls is None:
        return layer
    twin = cls.__new__(cls)
    twin.__dict__.update(layer.__dict__)             # W and b: the very same arrays
    return twin
