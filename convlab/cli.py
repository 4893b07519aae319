"""Command line: ``python -m convlab train ...`` and ``python -m convlab evaluate PARAMS``.

Taught in ``notebooks/06_training.ipynb``. ``train`` writes, into ``--out``:

* ``params.npz``   -- the final parameters (float32 unless ``--dtype float64``), loadable with
  ``convlab.load_net``;
* ``history.json`` -- loss per step, train/test accuracy and seconds per epoch, the config;
* ``accuracy.png`` -- the chapter's figure: train ('o') and test ('s') accuracy per epoch;
* ``checkpoints/last.npz`` and ``checkpoints/best.npz`` -- written after every epoch.

Ctrl-C stops training cleanly: the outputs above are still written for the completed epochs and
the exit code is 130. Bad arguments exit with code 2 and a message naming the option.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .nets import NETS
from .optim import OPTIMIZERS

__all__ = ["main", "build_parser"]

NET_NAMES = tuple(NETS)                 # simple, lenet, lenet-modern, alexnet, deep
OPTIMIZER_NAMES = tuple(OPTIMIZERS)     # sgd, momentum, adagrad, adam


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _decay(text):
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m convlab",
        description="Train and evaluate convlab's CNNs on MNIST (chapter 7 of Deep Learning "
                    "from Scratch).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    tr = sub.add_parser(
        "train", help="train a net on MNIST and save params, history and an accuracy plot",
        description="Train a net on MNIST with mini-batches. Writes params.npz, history.json, "
                    "accuracy.png and checkpoints/{last,best}.npz into --out. Ctrl-C stops cleanly "
                    "after writing what was trained so far (exit code 130).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--net", choices=NET_NAMES, default="simple",
                    help="which net: simple = SimpleConvNet (the chapter's), lenet = LeNet-5 as in "
                         "1998 (sigmoid, average pooling), lenet-modern (ReLU, max pooling), "
                         "alexnet = AlexNet-style (ReLU, LRN, overlapping pooling, dropout), "
                         "deep = stacked 3x3 convolutions")
    tr.add_argument("--width", type=_positive_float, default=1.0,
                    help="channel multiplier for --net alexnet (e.g. 0.5 for a faster, narrower net)")
    tr.add_argument("--epochs", type=_int_at_least(1), default=20,
                    help="passes over the training set")
    tr.add_argument("--batch-size", type=_int_at_least(1), default=100,
                    help="mini-batch size (the last batch of an epoch may be smaller)")
    tr.add_argument("--lr", type=_positive_float, default=0.001, help="learning rate")
    tr.add_argument("--lr-decay", type=_decay, default=1.0,
                    help="multiply the learning rate by this after every epoch (1 = constant, as in "
                         "the chapter; 0.8 lets the last epochs settle)")
    tr.add_argument("--shift", type=_int_at_least(0), default=0,
                    help="data augmentation: move each training image by a random offset of up to "
                         "this many pixels every time it is used (0 = off, as in the chapter)")
    tr.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="adam", help="optimiser")
    tr.add_argument("--seed", type=_int_at_least(0), default=0,
                    help="seeds the weight initialisation, dropout, shuffling and the train "
                         "evaluation subset: the same seed gives the same run")
    tr.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                    help="floating-point type of the net (float32 is about twice as fast)")
    tr.add_argument("--data-dir", default=None,
                    help="directory with the four MNIST .gz files (default: $CONVLAB_MNIST_DIR, "
                         "then data/mnist in the project, then download)")
    tr.add_argument("--out", default=None,
                    help="output directory (default: runs/<net>); created if missing")
    tr.add_argument("--train-size", type=_int_at_least(1), default=None,
                    help="use only the first N training images (quick runs); default all 60,000")
    tr.add_argument("--test-size", type=_int_at_least(1), default=None,
                    help="use only the first N test images; default all 10,000")
    tr.add_argument("--train-eval-size", type=_int_at_least(1), default=10000,
                    help="size of the fixed random training subset whose accuracy is reported "
                         "each epoch")
    tr.add_argument("--max-minutes", type=_positive_float, default=None,
                    help="wall-clock budget: stop after the epoch when another would not fit")
    tr.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    tr.set_defaults(func=_train)

    ev = sub.add_parser(
        "evaluate", help="print the test accuracy and confusion matrix of a params file",
        description="Load a params .npz written by `train` (or a shipped one in convlab/weights) "
                    "and print its accuracy on the MNIST test set and a 10x10 confusion matrix "
                    "(rows: true digit, columns: predicted digit).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("params", metavar="PARAMS", help="params .npz file (from `train` or save_params)")
    ev.add_argument("--data-dir", default=None,
                    help="directory with the four MNIST .gz files (default: $CONVLAB_MNIST_DIR, "
                         "then data/mnist in the project, then download)")
    ev.add_argument("--test-size", type=_int_at_least(1), default=None,
                    help="use only the first N test images; default all 10,000")
    ev.add_argument("--batch-size", type=_int_at_least(1), default=1000,
                    help="images per forward pass")
    ev.set_defaults(func=_evaluate)
    return parser


def main(argv=None):
    """Entry point of ``python -m convlab`` and the ``convlab`` script; returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)          # exits with code 2 on bad arguments
    args.argv = argv
    try:
        return args.func(args, parser)
    except _DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


class _DataError(Exception):
    pass


def _load_data(data_dir, train_size, test_size, parser):
    from .data import load_mnist
    if data_dir is not None and os.path.exists(data_dir) and not os.path.isdir(data_dir):
        parser.error(f"--data-dir {data_dir!r} is a file, not a directory")
    try:
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False,
                                                          data_dir=data_dir)
    except (RuntimeError, ValueError, OSError) as e:
        raise _DataError(str(e)) from None
    for opt, size, n in (("--train-size", train_size, len(x_train)), ("--test-size", test_size, len(x_test))):
        if size is not None and size > n:
            parser.error(f"{opt} {size} is more than the {n} images available")
    if train_size is not None:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    return (x_train, t_train), (x_test, t_test)


def _train(args, parser):
    from .nets import build_net
    from .train import Trainer, save_history

    if args.width != 1.0 and args.net != "alexnet":
        parser.error(f"--width applies only to --net alexnet, got --net {args.net}")
    out = args.out if args.out is not None else os.path.join("runs", args.net)
    if os.path.exists(out) and not os.path.isdir(out):
        parser.error(f"--out {out!r} exists and is not a directory")
    (x_train, t_train), (x_test, t_test) = _load_data(args.data_dir, args.train_size,
                                                      args.test_size, parser)
    kwargs = {"width": args.width} if args.net == "alexnet" else {}
    net = build_net(args.net, seed=args.seed, dtype=np.dtype(args.dtype), **kwargs)
    os.makedirs(out, exist_ok=True)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                      mini_batch_size=args.batch_size, optimizer=args.optimizer,
                      optimizer_param={"lr": args.lr}, train_eval_size=args.train_eval_size,
                      seed=args.seed, verbose=not args.quiet, lr_decay=args.lr_decay,
                      shift=args.shift,
                      checkpoint_dir=os.path.join(out, "checkpoints"),
                      max_seconds=None if args.max_minutes is None else 60 * args.max_minutes)
    start = time.perf_counter()
    history = trainer.train()
    history["wall_seconds"] = time.perf_counter() - start
    history["command"] = "python -m convlab " + " ".join(args.argv)
    history["cli_args"] = {k: v for k, v in vars(args).items() if k not in ("func", "argv")}

    done = len(history["test_acc"])
    params_path = os.path.join(out, "params.npz")
    if done:
        # the last completed epoch (after Ctrl-C the net may hold a half-finished epoch)
        last = os.path.join(out, "checkpoints", "last.npz")
        net.load_params(last)
        net.save_params(params_path)
    save_history(history, os.path.join(out, "history.json"))
    if done:
        _save_plot(history, os.path.join(out, "accuracy.png"),
                   f"{args.net}: test accuracy {history['test_acc'][-1]:.4f} after {done} epoch(s)")
    status = "interrupted" if history["interrupted"] else "done"
    if done:
        print(f"{status}: {done} epoch(s) in {history['wall_seconds']:.0f} s, final test accuracy "
              f"{history['test_acc'][-1]:.4f}\nwrote params.npz, history.json, accuracy.png in {out}")
    else:
        print(f"{status}: no epoch completed; wrote history.json in {out}")
    return 130 if history["interrupted"] else 0


def _save_plot(history, path, title):
    from matplotlib.figure import Figure
    from .plots import plot_history
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    plot_history(history, ax=fig.subplots(), title=title)
    fig.savefig(path, dpi=90)


def format_confusion(m):
    """The confusion matrix as text, with row/column labels and per-class recall."""
    k = m.shape[0]
    width = max(5, len(str(m.max())) + 1)
    lines = ["rows: true digit, columns: predicted digit",
             "true\\pred" + "".join(f"{j:>{width}d}" for j in range(k)) + "   recall"]
    for i in range(k):
        recall = m[i, i] / max(m[i].sum(), 1)
        lines.append(f"{i:>9d}" + "".join(f"{v:>{width}d}" for v in m[i]) + f"   {recall:.4f}")
    return "\n".join(lines)


def _evaluate(args, parser):
    from .nets import load_net
    if not os.path.isfile(args.params):
        parser.error(f"PARAMS {args.params!r} is not a file")
    try:
        net = load_net(args.params)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        parser.error(f"PARAMS {args.params!r} cannot be loaded: {e}")
    _, (x_test, t_test) = _load_data(args.data_dir, None, args.test_size, parser)
    pred = np.concatenate([net.predict(x_test[i:i + args.batch_size]).argmax(axis=1)
                           for i in range(0, len(x_test), args.batch_size)])   # (N,)
    from .plots import confusion_matrix
    m = confusion_matrix(t_test, pred, net.output_size)                       # (10, 10) counts
    correct = int(np.trace(m))
    print(f"test accuracy: {correct / len(t_test):.4f} ({correct}/{len(t_test)} correct)")
    print(format_confusion(m))
    return 0
