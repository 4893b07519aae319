"""The textbook baseline: a plain im2col CNN written the way chapter 7 of the book writes it.

This is NOT part of convlab. It exists so ``bench/run.py`` can report how much faster convlab is
than the straightforward version learners first meet. It deliberately keeps the textbook's
habits, because those habits are what we measure against:

- ``im2col`` fills a ``np.zeros`` buffer (float64, whatever the input dtype) with one strided
  copy per kernel offset (FH*FW Python iterations), then transposes to (N*OH*OW, C*FH*FW);
  ``col2im`` adds back with the same loop;
- Convolution is one GEMM ``col @ W.T`` in the (N*OH*OW, FN) layout, then a transpose to NCHW;
  backward always computes the input gradient, even for the first layer;
- max pooling goes through im2col as well, then ``argmax``/``max`` over each window row;
  backward scatters into a zero matrix and calls col2im;
- Relu masks with ``x <= 0`` (backward zeroes the incoming gradient in place, as the book does);
- Affine flattens 4-D input, SoftmaxWithLoss uses the book's ``1e-7`` inside the log,
  and Adam folds the bias correction into the learning rate.

Parameters are float64 (``weight_init_std * randn``), so every product runs in float64 even when
the images are float32 -- the textbook's float32 path.
"""
from collections import OrderedDict

import numpy as np


# ---------------------------------------------------------------------------- im2col / col2im --

def out_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def im2col(images, FH, FW, stride=1, pad=0):
    """(N, C, H, W) -> (N*OH*OW, C*FH*FW), float64, by one copy per kernel offset."""
    N, C, H, W = images.shape
    OH, OW = out_size(H, FH, stride, pad), out_size(W, FW, stride, pad)
    padded = np.pad(images, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, FH, FW, OH, OW))                      # float64, as np.zeros defaults
    for dy in range(FH):
        for dx in range(FW):
            col[:, :, dy, dx, :, :] = padded[:, :, dy:dy + stride * OH:stride,
                                             dx:dx + stride * OW:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, -1)   # (N*OH*OW, C*FH*FW)


def col2im(col, input_shape, FH, FW, stride=1, pad=0):
    """Adjoint of ``im2col``: add every row back onto its window of an (N, C, H, W) image."""
    N, C, H, W = input_shape
    OH, OW = out_size(H, FH, stride, pad), out_size(W, FW, stride, pad)
    col = col.reshape(N, OH, OW, C, FH, FW).transpose(0, 3, 4, 5, 1, 2)  # (N, C, FH, FW, OH, OW)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for dy in range(FH):
        for dx in range(FW):
            img[:, :, dy:dy + stride * OH:stride, dx:dx + stride * OW:stride] += col[:, :, dy, dx, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


# ------------------------------------------------------------------------------------ layers --

class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.x = self.col = self.col_W = self.dW = self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        OH, OW = out_size(H, FH, self.stride, self.pad), out_size(W, FW, self.stride, self.pad)
        col = im2col(x, FH, FW, self.stride, self.pad)          # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T                        # (C*FH*FW, FN)
        out = col @ col_W + self.b                              # (N*OH*OW, FN)
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, OH, OW, -1).transpose(0, 3, 1, 2)  # (N, FN, OH, OW) view

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)       # (N*OH*OW, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T                              # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad
        self.x = self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        OH = out_size(H, self.pool_h, self.stride, self.pad)
        OW = out_size(W, self.pool_w, self.stride, self.pad)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)        # (N*OH*OW*C, PH*PW)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)  # (N, C, OH, OW) view

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)                       # (N, OH, OW, C)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0                                     # in place, as in the book
        return dout


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)                      # (N, D)
        return self.x @ self.W + self.b

    def backward(self, dout):
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


def softmax(x):
    x = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t):
        self.t, self.y = t, softmax(x)
        N = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(N), t] + 1e-7)) / N

    def backward(self, dout=1):
        N = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(N), self.t] -= 1
        return dx / N


# --------------------------------------------------------------------------------- the net --

class SimpleConvNet:
    """conv - relu - pool - affine - relu - affine - softmax, textbook style.

    ``params`` (optional) supplies initial W1, b1, W2, b2, W3, b3 (cast to float64), so the
    benchmark's correctness check can start textbook and convlab from the same weights.
    """

    def __init__(self, input_dim=(1, 28, 28), filter_num=30, filter_size=5, pad=0, stride=1,
                 hidden_size=100, output_size=10, weight_init_std=0.01, seed=0, params=None):
        C, H, W = input_dim
        OH = out_size(H, filter_size, stride, pad)
        OW = out_size(W, filter_size, stride, pad)
        pool_out = filter_num * (OH // 2) * (OW // 2)
        rng = np.random.default_rng(seed)
        if params is None:
            params = {"W1": weight_init_std * rng.standard_normal((filter_num, C, filter_size, filter_size)),
                      "b1": np.zeros(filter_num),
                      "W2": weight_init_std * rng.standard_normal((pool_out, hidden_size)),
                      "b2": np.zeros(hidden_size),
                      "W3": weight_init_std * rng.standard_normal((hidden_size, output_size)),
                      "b3": np.zeros(output_size)}
        self.params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        p = self.params
        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(p["W1"], p["b1"], stride, pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(2, 2, stride=2)
        self.layers["Affine1"] = Affine(p["W2"], p["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(p["W3"], p["b3"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        L = self.layers
        return {"W1": L["Conv1"].dW, "b1": L["Conv1"].db, "W2": L["Affine1"].dW,
                "b2": L["Affine1"].db, "W3": L["Affine2"].dW, "b3": L["Affine2"].db}


class Adam:
    """The book's Adam: bias correction folded into lr_t, updates with temporaries."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
