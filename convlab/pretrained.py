"""Nets trained on MNIST that ship with convlab, so lessons can use them instantly.

Taught in ``notebooks/06_training.ipynb`` (simple) and ``notebooks/08_classic_cnns.ipynb``
(lenet, lenet-modern, alexnet, deep). The names are those of ``convlab.nets.NETS`` (the CLI's
``--net``). Each has ``weights/<name>.npz`` (float32 params with the net's configuration),
``weights/<name>_history.json`` (the training run that made them; its ``command`` entry is the
exact command line) and ``weights/<name>_accuracy.png``. The README's training section lists them.
"""
from __future__ import annotations

import os

from . import train as _train
from .nets import NETS, load_net

__all__ = ["load_pretrained", "load_history", "available", "weights_path", "WEIGHTS_DIR"]

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


def available():
    """Names (from NETS, in its order) of the nets shipped with a params file."""
    return [n for n in NETS if os.path.isfile(os.path.join(WEIGHTS_DIR, n + ".npz"))]


def weights_path(name, kind="params"):
    """Path of a shipped file: kind 'params' (.npz), 'history' (.json) or 'curve' (.png)."""
    suffix = {"params": ".npz", "history": "_history.json", "curve": "_accuracy.png"}
    if kind not in suffix:
        raise ValueError(f"kind must be one of {sorted(suffix)}, got {kind!r}")
    names = available()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"name must be one of the shipped nets {names}, got {name!r}")
    return os.path.join(WEIGHTS_DIR, name + suffix[kind])


def load_pretrained(name="simple"):
    """The shipped net ``name`` with its trained parameters (float32), ready for ``predict``."""
    return load_net(weights_path(name, "params"))


def load_history(name="simple"):
    """The training history of the shipped net ``name``: ``loss`` per step, ``train_acc``,
    ``test_acc`` and ``epoch_seconds`` per epoch, the ``config`` and the ``command`` used."""
    return _train.load_history(weights_path(name, "history"))
