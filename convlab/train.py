"""Mini-batch training with a history you can plot: ``Trainer(net, x_train, t_train, x_test,
t_test).train()``.

Taught in ``notebooks/06_training.ipynb``. What one run does:

* every epoch is one pass over a fresh random permutation of the training set (sampling without
  replacement, so each image is used exactly once per epoch). When the batch size does not divide
  the number of images, the last batch of the epoch is simply smaller (the loss is a mean, so a
  smaller batch is still a fair step); no image is dropped and none is repeated;
* after each epoch, accuracy on the FULL test set and on a FIXED subset of the training set
  (``train_eval_size`` images, chosen once from ``seed``, so the curve is not noisy from a
  changing sample), evaluated in batches of ``eval_batch_size`` for speed;
* a history dict (JSON-friendly): ``loss`` per step, ``train_acc``/``test_acc``/``epoch_seconds``
  per epoch (training plus evaluation), plus ``config``, ``best_epoch``, ``best_test_acc``,
  ``interrupted``, ``stopped_by_time_limit``;
* seeded: the same seed, data and freshly built net (with the same net seed) give the same
  history bit for bit (timings aside);
* a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal), off with
  ``verbose=False``;
* ``callback(history)`` after each epoch (draw live curves in a notebook);
* checkpoints in ``checkpoint_dir``: ``last.npz`` (end of the latest epoch), ``best.npz`` (the
  epoch with the highest test accuracy -- the chapter has no validation set, so "best" is chosen
  on the test set; report the last epoch as your result) and ``history.json``;
* ``lr_decay``: the learning rate of epoch e is ``lr * lr_decay ** (e - 1)`` (1.0: constant, as
  in the chapter; e.g. 0.8 lets the last epochs settle instead of wandering around the minimum);
* ``shift``: data augmentation -- each training image is moved by its own random offset of up to
  ``shift`` pixels in each direction (zeros fill in), so the net sees a slightly different digit
  every epoch and overfits less; 0 (the chapter's setting) turns it off;
* ``max_seconds``: stop after the epoch when another one would not fit in this wall-clock
  budget (``stopped_by_time_limit=True``);
* Ctrl-C (KeyboardInterrupt) stops cleanly: ``train()`` returns the history so far with
  ``interrupted=True``; ``last.npz`` holds the params of the last completed epoch.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from tqdm.auto import tqdm

from .arith import check_int
from .layers import check_labels
from .optim import make_optimizer
from .workspace import Workspace

__all__ = ["Trainer", "random_shift", "save_history", "load_history"]


class Trainer:
    """Train ``network`` on (x_train, t_train), evaluating on (x_test, t_test) after each epoch.

    ``optimizer`` is a name for :func:`convlab.optim.make_optimizer` ('sgd', 'momentum',
    'adagrad', 'adam') built with ``optimizer_param`` (default ``{'lr': 0.001}``), or an object with
    ``update(params, grads)``. Labels may be integers or one-hot. Images may be flattened (N, 784)
    or (N, C, H, W). See the module docstring for what a run records.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="adam", optimizer_param=None, train_eval_size=10000, seed=0,
                 verbose=True, callback=None, checkpoint_dir=None, eval_batch_size=1000,
                 max_seconds=None, lr_decay=1.0, shift=0):
        self.network = network
        n_out = getattr(network, "output_size", None)
        self.x_train, self.t_train = self._check_data("x_train", x_train, "t_train", t_train, n_out)
        self.x_test, self.t_test = self._check_data("x_test", x_test, "t_test", t_test, n_out)
        self.epochs = check_int("epochs", epochs, 0)
        self.batch_size = check_int("mini_batch_size", mini_batch_size, 1)
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.train_eval_size = min(check_int("train_eval_size", train_eval_size, 1), len(self.x_train))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable (called with the history), got {callback!r}")
        self.callback, self.verbose = callback, bool(verbose)
        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        if max_seconds is not None and (isinstance(max_seconds, bool) or not max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number of seconds or None, "
                             f"got {max_seconds!r}")
        self.max_seconds = max_seconds
        if isinstance(lr_decay, bool) or not isinstance(lr_decay, (int, float)) or not 0 < lr_decay <= 1:
            raise ValueError(f"lr_decay must be a number in (0, 1] (the learning rate is multiplied "
                             f"by it after every epoch), got {lr_decay!r}")
        self.lr_decay = float(lr_decay)
        self.shift = check_int("shift", shift, 0)
        self.input_dim = tuple(getattr(network, "input_dim", self.x_train.shape[1:]))
        if self.shift and len(self.input_dim) != 3:
            raise ValueError(f"shift needs images (C, H, W); the network's input is {self.input_dim}")

        optimizer_param = {"lr": 0.001} if optimizer_param is None else dict(optimizer_param)
        if isinstance(optimizer, str):
            self.optimizer = make_optimizer(optimizer, **optimizer_param)
            opt_name = optimizer.lower()
        elif hasattr(optimizer, "update"):
            self.optimizer, opt_name = optimizer, type(optimizer).__name__
        else:
            raise TypeError(f"optimizer must be a name such as 'adam' or an object with "
                            f"update(params, grads), got {optimizer!r}")

        self.base_lr = getattr(self.optimizer, "lr", None)
        if self.lr_decay != 1.0 and self.base_lr is None:
            raise ValueError("lr_decay needs an optimizer with an lr attribute")

        # Two independent streams from one seed: the fixed evaluation subset and the shuffles.
        eval_ss, shuffle_ss, shift_ss = np.random.SeedSequence(self.seed).spawn(3)
        N = len(self.x_train)
        self.train_eval_idx = np.sort(np.random.default_rng(eval_ss).choice(
            N, size=self.train_eval_size, replace=False))                     # (train_eval_size,)
        self.rng = np.random.default_rng(shuffle_ss)
        self.shift_rng = np.random.default_rng(shift_ss)
        self.steps_per_epoch = -(-N // self.batch_size)                       # ceil: last batch smaller
        self.workspace = Workspace()    # layers reuse their big arrays from step to step (convlab.workspace)

        config = getattr(network, "config", None)
        self.history = {
            "loss": [], "train_acc": [], "test_acc": [], "epoch_seconds": [], "lr": [],
            "best_epoch": None, "best_test_acc": None, "interrupted": False,
            "stopped_by_time_limit": False,
            "config": {"net": config, "dtype": str(getattr(network, "dtype", "")),
                       "epochs": self.epochs, "mini_batch_size": self.batch_size,
                       "optimizer": opt_name, "optimizer_param": optimizer_param,
                       "seed": self.seed, "train_size": N, "test_size": len(self.x_test),
                       "train_eval_size": self.train_eval_size,
                       "steps_per_epoch": self.steps_per_epoch, "max_seconds": max_seconds,
                       "lr_decay": self.lr_decay, "shift": self.shift},
        }

    @staticmethod
    def _check_data(xname, x, tname, t, n_out):
        x = np.asarray(x)
        if x.ndim not in (2, 4) or len(x) == 0:
            raise ValueError(f"{xname} must be a non-empty array of images (N, C, H, W) or "
                             f"flattened (N, D), got shape {x.shape}")
        t = check_labels(t, len(x), n_out if n_out is not None else int(np.max(t)) + 1, tname)
        return x, t

    # ----------------------------------------------------------------------------------------
    def train_step(self, x_batch, t_batch):
        """One gradient step on one mini-batch; returns its loss (a float)."""
        net = self.network
        with self.workspace.attached(net):      # what the layers make here lives until the next step
            grads = net.gradient(x_batch, t_batch)
        self.optimizer.update(net.params, grads)
        # The loss of this batch, read from the forward pass gradient() just ran (the book's
        # SoftmaxWithLoss keeps y and t); a probability that underflowed counts as the tiniest
        # positive float instead of giving an infinite loss.
        y, t = net.last_layer.y, net.last_layer.t                       # (B, K), (B,)
        p = np.maximum(y[np.arange(len(t)), t], np.finfo(y.dtype).tiny)
        return float(-np.mean(np.log(p)))

    def evaluate(self):
        """(train accuracy on the fixed subset, test accuracy on the full test set)."""
        net, bs = self.network, self.eval_batch_size
        idx = self.train_eval_idx
        train_acc = net.accuracy(self.x_train[idx], self.t_train[idx], batch_size=bs)
        test_acc = net.accuracy(self.x_test, self.t_test, batch_size=bs)
        return train_acc, test_acc

    def train(self):
        """Run all epochs (or until Ctrl-C) and return the history dict."""
        h, N, bs = self.history, len(self.x_train), self.batch_size
        done = len(h["train_acc"])                      # train() may be called again to continue
        bar = tqdm(total=(self.epochs - done) * self.steps_per_epoch, disable=not self.verbose,
                   unit="step", mininterval=1.0, dynamic_ncols=True)
        t0 = time.perf_counter()
        try:
            for epoch in range(done + 1, self.epochs + 1):
                bar.set_description(f"epoch {epoch}/{self.epochs}")
                start = time.perf_counter()
                if self.base_lr is not None:             # lr * lr_decay ** (epoch - 1)
                    self.optimizer.lr = self.base_lr * self.lr_decay ** (epoch - 1)
                perm = self.rng.permutation(N)          # (N,) a fresh order every epoch
                for i in range(0, N, bs):
                    batch = perm[i:i + bs]              # the last one may be shorter
                    x_batch = self.x_train[batch]
                    if self.shift:
                        x_batch = random_shift(x_batch.reshape((-1,) + self.input_dim), self.shift,
                                               self.shift_rng)
                    h["loss"].append(self.train_step(x_batch, self.t_train[batch]))
                    bar.update(1)
                    if len(h["loss"]) % 10 == 0:
                        bar.set_postfix(loss=f"{h['loss'][-1]:.4f}", refresh=False)
                train_acc, test_acc = self.evaluate()
                h["train_acc"].append(train_acc)
                h["test_acc"].append(test_acc)
                h["epoch_seconds"].append(time.perf_counter() - start)
                h["lr"].append(getattr(self.optimizer, "lr", None))
                if h["best_test_acc"] is None or test_acc > h["best_test_acc"]:
                    h["best_test_acc"], h["best_epoch"] = test_acc, epoch
                    self._save("best.npz")
                self._save("last.npz")
                if self.verbose:
                    bar.write(f"epoch {epoch:3d}/{self.epochs}: train acc {train_acc:.4f}, "
                              f"test acc {test_acc:.4f}, {h['epoch_seconds'][-1]:.1f} s")
                if self.callback is not None:
                    self.callback(h)
                elapsed = time.perf_counter() - t0
                if (self.max_seconds is not None and epoch < self.epochs
                        and elapsed + h["epoch_seconds"][-1] > self.max_seconds):
                    h["stopped_by_time_limit"] = True   # another epoch would not fit
                    if self.verbose:
                        bar.write(f"Stopping after epoch {epoch}: another epoch would exceed "
                                  f"max_seconds={self.max_seconds}")
                    break
        except KeyboardInterrupt:
            h["interrupted"] = True
            if self.verbose:
                bar.write(f"Interrupted after {len(h['train_acc'])} complete epoch(s); history kept"
                          + (f", last.npz in {self.checkpoint_dir}" if self.checkpoint_dir else ""))
        finally:
            bar.close()
            if self.checkpoint_dir is not None:
                os.makedirs(self.checkpoint_dir, exist_ok=True)
                save_history(h, os.path.join(self.checkpoint_dir, "history.json"))
        return h

    def _save(self, name):
        if self.checkpoint_dir is None:
            return
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self.network.save_params(os.path.join(self.checkpoint_dir, name))
        save_history(self.history, os.path.join(self.checkpoint_dir, "history.json"))


def random_shift(x, max_shift, rng):
    """Move each image of x (N, C, H, W) by its own random (dy, dx), each in [-max_shift,
    max_shift], filling the uncovered border with zeros. Taught in notebooks/06_training.ipynb."""
    N, C, H, W = x.shape
    p = check_int("max_shift", max_shift, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))                 # (N, C, H+2p, W+2p)
    dy = rng.integers(0, 2 * p + 1, N)                                     # (N,) window offsets
    dx = rng.integers(0, 2 * p + 1, N)
    rows = (dy[:, None] + np.arange(H))[:, None, :, None]                  # (N, 1, H, 1)
    cols = (dx[:, None] + np.arange(W))[:, None, None, :]                  # (N, 1, 1, W)
    n = np.arange(N)[:, None, None, None]                                  # (N, 1, 1, 1)
    c = np.arange(C)[None, :, None, None]                                  # (1, C, 1, 1)
    return padded[n, c, rows, cols]                                        # (N, C, H, W)


def save_history(history, path):
    """Write a history dict to JSON (via a temporary file, so a crash never leaves half a file)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(history, f, indent=1, default=_json_default)
    os.replace(tmp, path)


def load_history(path):
    """Read a history written by :func:`save_history`."""
    with open(os.fspath(path), encoding="utf-8") as f:
        return json.load(f)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"history holds {type(o).__name__}, which JSON cannot store")
