"""Optimisers with the book's update rules and ``update(params, grads)``.

Taught in ``notebooks/06_training.ipynb``. Updates are in place (``params[key] -= ...``), so layers
that share the arrays see the new values. ``make_optimizer('adam', lr=0.001)`` builds one by name.
Every rate is checked (a finite number > 0), also when ``lr`` is changed later, and
``state()`` / ``load_state()`` give what changes with the updates (Adam's m, v and step count) as
plain arrays and numbers, so a training run can be saved and resumed without pickle.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "AdaGrad", "Adam", "make_optimizer", "OPTIMIZERS"]


def _check_number(name, value, low, high, high_open=True):
    """value as a float in [low, high) (or [low, high]); ValueError naming it otherwise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and low <= value and (value < high if high_open else value <= high)
    if not ok:
        bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"{name} must be a finite number in {bound}, got {value!r}")
    return float(value)


class Optimizer:
    """What every optimiser shares: a validated ``lr`` and its state for saving.

    ``slots`` names the dicts of per-parameter arrays (created at the first update, keyed like
    ``params``), ``counters`` the numbers that change with every update.
    """

    slots = ()
    counters = ()

    def __init__(self, lr):
        self.lr = lr
        for s in self.slots:
            setattr(self, s, None)

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and np.isfinite(value) and value > 0):
            raise ValueError(f"lr must be a finite number > 0, got {value!r}")
        self._lr = float(value)

    def state(self):
        """({'m/W1': array, ...}, {'iter': 3}): copies of everything the updates change."""
        arrays = {f"{s}/{k}": a.copy() for s in self.slots for k, a in (getattr(self, s) or {}).items()}
        return arrays, {c: getattr(self, c) for c in self.counters}

    def load_state(self, arrays, values, params):
        """Restore what ``state()`` returned, for the parameters ``params``; every name, shape and
        dtype is checked before anything changes (ValueError naming the first misfit)."""
        started = bool(arrays)
        want = {f"{s}/{k}": p for s in self.slots for k, p in params.items()} if started else {}
        if set(arrays) != set(want):
            raise ValueError(f"{type(self).__name__} state must hold arrays {sorted(want)}, "
                             f"got {sorted(arrays)}")
        for name, p in want.items():
            a = arrays[name]
            if a.shape != p.shape or a.dtype != p.dtype or not np.all(np.isfinite(a)):
                raise ValueError(f"{type(self).__name__} state {name} must be finite {p.dtype} of "
                                 f"shape {p.shape}, got {a.dtype} {a.shape}")
        if set(values) != set(self.counters):
            raise ValueError(f"{type(self).__name__} state must hold numbers {list(self.counters)}, "
                             f"got {sorted(values)}")
        for c in self.counters:
            if isinstance(values[c], bool) or not isinstance(values[c], numbers.Integral) or values[c] < 0:
                raise ValueError(f"{type(self).__name__} state {c} must be an integer >= 0, "
                                 f"got {values[c]!r}")
        for s in self.slots:
            setattr(self, s, {k: arrays[f"{s}/{k}"].copy() for k in params} if started else None)
        for c in self.counters:
            setattr(self, c, int(values[c]))


class SGD(Optimizer):
    """W <- W - lr * dW"""

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def update(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    """v <- momentum * v - lr * dW;  W <- W + v"""

    slots = ("v",)

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = _check_number("momentum", momentum, 0, 1)

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        for key in params:
            v = self.v[key]
            v *= self.momentum
            v -= self.lr * grads[key]
            params[key] += v


class AdaGrad(Optimizer):
    """h <- h + dW*dW;  W <- W - lr * dW / (sqrt(h) + 1e-7)"""

    slots = ("h",)

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(p) for k, p in params.items()}
        for key in params:
            g = grads[key]
            self.h[key] += g * g
            params[key] -= self.lr * g / (np.sqrt(self.h[key]) + 1e-7)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) in the book's form: the bias correction is folded into lr_t.

    m <- m + (1 - beta1)(g - m);  v <- v + (1 - beta2)(g^2 - v)
    W <- W - lr_t * m / (sqrt(v) + 1e-7),  lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    """

    slots = ("m", "v")
    counters = ("iter",)

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr)
        self.beta1 = _check_number("beta1", beta1, 0, 1)
        self.beta2 = _check_number("beta2", beta2, 0, 1)
        self.iter = 0

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.iter += 1
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter))
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "adam": Adam}


def make_optimizer(name, **kwargs):
    """Build an optimiser by (case-insensitive) name: sgd, momentum, adagrad, adam."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[key](**kwargs)
