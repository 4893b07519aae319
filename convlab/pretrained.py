"""Trained nets that ship with convlab, so lessons can use them instantly.

Taught in ``notebooks/06_training.ipynb`` (simple), ``notebooks/08_classic_cnns.ipynb`` (lenet,
lenet-modern, alexnet, deep) and ``notebooks/09_fashion_mnist.ipynb`` (Fashion-MNIST). The names
are those of ``convlab.nets.NETS`` (the CLI's ``--net``); the datasets those of
``convlab.data.DATASETS`` (``--dataset``); a recipe is how a net was trained:

* ``recipe=None`` -- the shipped recipe (what ``docs/training.md`` gives for each net: e.g. for
  SimpleConvNet 20 epochs of Adam with ``--shift 2 --lr-decay 0.9``);
* ``recipe="chapter"`` -- the chapter's recipe (20 epochs of Adam, lr 0.001, constant, no
  augmentation).

Files, for net ``name`` (``<stem>`` is ``name`` or, with a recipe, ``name-<recipe>``)::

    weights/<stem>.npz                MNIST params (float32, with the net's configuration)
    weights/<dataset>/<stem>.npz      the same for another dataset (weights/fashion-mnist/...)
    ..._history.json                  the training run (its ``command`` is the exact command line)
    ..._accuracy.png                  its accuracy curve

A history may ship without its params (e.g. MNIST's ``simple-chapter_history.json``, shown in a
lesson next to the shipped net's). The README's training section lists what ships.
"""
from __future__ import annotations

import os

from . import train as _train
from .data import DATASETS
from .nets import NETS, load_net

__all__ = ["load_pretrained", "load_history", "available", "shipped", "weights_path",
           "WEIGHTS_DIR", "RECIPES"]

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
DEFAULT_DATASET = "mnist"             # its files sit directly in weights/
RECIPES = ("chapter",)                # besides None, the shipped recipe
KINDS = {"params": ".npz", "history": "_history.json", "curve": "_accuracy.png"}


def _path(name, kind, dataset, recipe):
    folder = WEIGHTS_DIR if dataset == DEFAULT_DATASET else os.path.join(WEIGHTS_DIR, dataset)
    stem = name if recipe is None else f"{name}-{recipe}"
    return os.path.join(folder, stem + KINDS[kind])


def shipped(kind="params"):
    """Every (name, dataset, recipe) with a shipped file of ``kind`` ('params', 'history' or
    'curve'), in the registries' orders (nets, then datasets, then recipes)."""
    _check_kind(kind)
    return [(n, d, r) for n in NETS for d in DATASETS for r in (None, *RECIPES)
            if os.path.isfile(_path(n, kind, d, r))]


def available(dataset=DEFAULT_DATASET, recipe=None):
    """Names (from NETS, in its order) of the nets shipped with a params file for ``dataset``
    trained with ``recipe`` (None: the shipped recipe). ``shipped()`` lists every combination."""
    _check(dataset, recipe)
    return [n for n, d, r in shipped() if d == dataset and r == recipe]


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")


def _check(dataset, recipe):
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, got {dataset!r}")
    if recipe is not None and recipe not in RECIPES:
        raise ValueError(f"recipe must be None (the shipped recipe) or one of {list(RECIPES)}, "
                         f"got {recipe!r}")


def weights_path(name, kind="params", dataset=DEFAULT_DATASET, recipe=None):
    """Path of a shipped file: kind 'params' (.npz), 'history' (.json) or 'curve' (.png) of net
    ``name`` trained on ``dataset`` with ``recipe``; ValueError listing what ships otherwise."""
    _check_kind(kind)
    _check(dataset, recipe)
    path = _path(name, kind, dataset, recipe) if isinstance(name, str) else None
    if path is None or name not in NETS or not os.path.isfile(path):
        names = [n for n, d, r in shipped(kind) if d == dataset and r == recipe]
        where = f"{dataset}" + ("" if recipe is None else f", recipe {recipe!r}")
        raise ValueError(f"name must be one of the nets shipped with a {kind} file for {where} "
                         f"{names}, got {name!r}")
    return path


def load_pretrained(name="simple", dataset=DEFAULT_DATASET, recipe=None):
    """The shipped net ``name`` trained on ``dataset`` with ``recipe`` (None: the shipped recipe),
    with its parameters (float32), ready for ``predict``."""
    return load_net(weights_path(name, "params", dataset, recipe))


def load_history(name="simple", dataset=DEFAULT_DATASET, recipe=None):
    """The training history of a shipped net (arguments as for ``load_pretrained``): ``loss``
    per step, ``train_acc``, ``test_acc`` and ``epoch_seconds`` per epoch, the ``config`` and the
    ``command`` used."""
    return _train.load_history(weights_path(name, "history", dataset, recipe))
