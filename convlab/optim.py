"""Optimisers with the book's update rules and ``update(params, grads)``.

Taught in ``notebooks/06_training.ipynb``. Updates are in place (``params[key] -= ...``), so layers
that share the arrays see the new values. ``make_optimizer('adam', lr=0.001)`` builds one by name.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Momentum", "AdaGrad", "Adam", "make_optimizer", "OPTIMIZERS"]


class SGD:
    """W <- W - lr * dW"""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW;  W <- W + v"""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        for key in params:
            v = self.v[key]
            v *= self.momentum
            v -= self.lr * grads[key]
            params[key] += v


class AdaGrad:
    """h <- h + dW*dW;  W <- W - lr * dW / (sqrt(h) + 1e-7)"""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(p) for k, p in params.items()}
        for key in params:
            g = grads[key]
            self.h[key] += g * g
            params[key] -= self.lr * g / (np.sqrt(self.h[key]) + 1e-7)


class Adam:
    """Adam (Kingma and Ba, 2015) in the book's form: the bias correction is folded into lr_t.

    m <- m + (1 - beta1)(g - m);  v <- v + (1 - beta2)(g^2 - v)
    W <- W - lr_t * m / (sqrt(v) + 1e-7),  lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.iter += 1
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter))
        for key in params:
            g, m, v = grads[key], self.m[key], self.v[key]
            # The same arithmetic as the three lines in the docstring, in the same order, but
            # through two scratch arrays (out=...) instead of five fresh temporaries per parameter.
            a, b = np.empty_like(m), np.empty_like(m)
            np.subtract(g, m, out=a)
            a *= 1 - self.beta1
            m += a                                        # m += (1 - beta1) * (g - m)
            np.multiply(g, g, out=a)
            a -= v
            a *= 1 - self.beta2
            v += a                                        # v += (1 - beta2) * (g*g - v)
            np.sqrt(v, out=a)
            a += 1e-7
            np.multiply(m, lr_t, out=b)
            b /= a
            params[key] -= b                              # W -= lr_t * m / (sqrt(v) + 1e-7)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "adam": Adam}


def make_optimizer(name, **kwargs):
    """Build an optimiser by (case-insensitive) name: sgd, momentum, adagrad, adam."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[key](**kwargs)
