"""Plain-loop reference implementations used by the tests.

Deliberately slow and obvious: one Python loop per (n, c or filter, oh, ow) and no use of
convlab.im2col, so a bug in the vectorised code cannot hide in the reference too.
Stride, pad and dilation are (h, w) pairs; padding is explicit zero (or -inf for max pooling).
Conventions at kinks (PyTorch's): ReLU'(0) = 0; max pooling's gradient goes to the first
maximum of a window (row by row, left to right) when several values tie.
"""
import math

import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def out_size(size, k, s, p, d):
    """floor((size + 2p - d(k-1) - 1) / s) + 1, written out without convlab.arith."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _padded(x, ph, pw, value):
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=np.float64)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def conv_forward(x, Wt, b, stride=1, pad=0, dilation=1):
    """out[n, f, i, j] = b[f] + sum_{c, u, v} xpad[n, c, i*sh + u*dh, j*sw + v*dw] * W[f, c, u, v]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    N, C, H, W = x.shape
    FN, _, FH, FW = Wt.shape
    OH, OW = out_size(H, FH, sh, ph, dh), out_size(W, FW, sw, pw, dw)
    xp = _padded(x, ph, pw, 0.0)
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    acc = b[f]
                    for c in range(C):
                        for u in range(FH):
                            for v in range(FW):
                                acc += xp[n, c, i * sh + u * dh, j * sw + v * dw] * Wt[f, c, u, v]
                    out[n, f, i, j] = acc
    return out


def conv_backward(dout, x, Wt, stride=1, pad=0, dilation=1):
    """(dx, dW, db) of L = sum(out * dout), by the chain rule written element by element."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    N, C, H, W = x.shape
    FN, _, FH, FW = Wt.shape
    _, _, OH, OW = dout.shape
    xp = _padded(x, ph, pw, 0.0)
    dxp = np.zeros_like(xp)
    dW = np.zeros(Wt.shape)
    db = np.zeros(FN)
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    g = dout[n, f, i, j]
                    db[f] += g
                    for c in range(C):
                        for u in range(FH):
                            for v in range(FW):
                                r, q = i * sh + u * dh, j * sw + v * dw
                                dW[f, c, u, v] += g * xp[n, c, r, q]
                                dxp[n, c, r, q] += g * Wt[f, c, u, v]
    return dxp[:, :, ph:ph + H, pw:pw + W], dW, db


def pool_forward(x, ph_, pw_, stride=None, pad=0, mode="max"):
    """Max (padding = -inf) or average (padding = 0, counted in the mean) pooling."""
    (sh, sw) = _pair(stride if stride is not None else (ph_, pw_))
    (ph, pw) = _pair(pad)
    N, C, H, W = x.shape
    OH, OW = out_size(H, ph_, sh, ph, 1), out_size(W, pw_, sw, pw, 1)
    xp = _padded(x, ph, pw, -np.inf if mode == "max" else 0.0)
    out = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    vals = [xp[n, c, i * sh + u, j * sw + v] for u in range(ph_) for v in range(pw_)]
                    out[n, c, i, j] = np.max(vals) if mode == "max" else sum(vals) / (ph_ * pw_)
    return out


def pool_backward(dout, x, ph_, pw_, stride=None, pad=0, mode="max"):
    """dx of L = sum(out * dout): max sends each gradient to its window's winner as PyTorch's
    loop picks it (the real cells in order, starting from the first at -inf; a cell wins if
    greater, or if NaN); average spreads it evenly over the window (padding swallows its share)."""
    (sh, sw) = _pair(stride if stride is not None else (ph_, pw_))
    (ph, pw) = _pair(pad)
    N, C, H, W = x.shape
    _, _, OH, OW = dout.shape
    xp = _padded(x, ph, pw, -np.inf if mode == "max" else 0.0)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    g = dout[n, c, i, j]
                    if mode == "max":
                        best, bu, bv = -np.inf, None, None
                        for u in range(ph_):
                            for v in range(pw_):
                                y, z = i * sh + u, j * sw + v
                                if not (ph <= y < ph + H and pw <= z < pw + W):
                                    continue                        # padding never wins
                                val = xp[n, c, y, z]
                                if bu is None:                      # the first real cell
                                    bu, bv = u, v
                                if val > best or np.isnan(val):
                                    best, bu, bv = val, u, v
                        dxp[n, c, i * sh + bu, j * sw + bv] += g
                    else:
                        for u in range(ph_):
                            for v in range(pw_):
                                dxp[n, c, i * sh + u, j * sw + v] += g / (ph_ * pw_)
    return dxp[:, :, ph:ph + H, pw:pw + W]


def lrn_forward(x, n, k, alpha, beta):
    """y[c] = x[c] / (k + alpha/n * sum_{c' = c - n//2}^{c + (n-1)//2} x[c']^2)^beta, clipped to [0, C)."""
    N, C, H, W = x.shape
    out = np.zeros(x.shape)
    for c in range(C):
        lo, hi = max(0, c - n // 2), min(C - 1, c + (n - 1) // 2)
        s = k + alpha / n * np.sum(x[:, lo:hi + 1] ** 2, axis=1)
        out[:, c] = x[:, c] / s ** beta
    return out


def relu_forward(x):
    """max(0, x), element by element."""
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        out[i] = x[i] if x[i] > 0 else 0.0
    return out


def relu_backward(dout, x):
    """dout where x > 0, else 0: the convention ReLU'(0) = 0 (PyTorch's)."""
    dx = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        dx[i] = dout[i] if x[i] > 0 else 0.0
    return dx


def affine_forward(x, Wt, b):
    """out[n, m] = b[m] + sum_d x[n, d] W[d, m], x flattened to (N, D)."""
    x2 = x.reshape(x.shape[0], -1)
    N, D = x2.shape
    M = Wt.shape[1]
    out = np.zeros((N, M))
    for n in range(N):
        for m in range(M):
            acc = b[m]
            for d in range(D):
                acc += x2[n, d] * Wt[d, m]
            out[n, m] = acc
    return out


def affine_backward(dout, x, Wt):
    """(dx shaped like x, dW, db) of L = sum(out * dout)."""
    x2 = x.reshape(x.shape[0], -1)
    N, D = x2.shape
    M = Wt.shape[1]
    dx, dW, db = np.zeros((N, D)), np.zeros((D, M)), np.zeros(M)
    for n in range(N):
        for m in range(M):
            db[m] += dout[n, m]
            for d in range(D):
                dW[d, m] += x2[n, d] * dout[n, m]
                dx[n, d] += dout[n, m] * Wt[d, m]
    return dx.reshape(x.shape), dW, db


def softmax_loss(x, t):
    """(mean cross-entropy, dx) of scores x (N, K) against integer labels t, row by row with
    math.exp / math.log: loss_n = log(sum_k exp(x[n, k])) - x[n, t[n]], dx = (y - onehot) / N."""
    N, K = x.shape
    loss, dx = 0.0, np.zeros((N, K))
    for n in range(N):
        m = max(x[n])
        s = sum(math.exp(x[n, k] - m) for k in range(K))
        loss += (m + math.log(s) - x[n, t[n]]) / N
        for k in range(K):
            dx[n, k] = (math.exp(x[n, k] - m) / s - (1.0 if k == t[n] else 0.0)) / N
    return loss, dx
