"""Command line: ``python -m convlab train ...`` and ``python -m convlab evaluate PARAMS``.

Taught in ``notebooks/06_training.ipynb``. ``train`` writes a run folder (``--out``; by default
a fresh ``runs/<net>-<date>-<time>``) and updates it after every epoch:

* ``params.npz``   -- the parameters (float32 unless ``--dtype float64``), loadable with
  ``convlab.load_net``;
* ``history.json`` -- loss per step, train/test accuracy, seconds and params digest per epoch,
  the config and the command;
* ``accuracy.png`` -- the chapter's figure: train ('o') and test ('s') accuracy per epoch;
* ``checkpoints/``  -- ``last.npz``, ``best.npz``, ``state.npz`` (optimiser state and random
  streams) and ``history.json``: what ``--resume`` continues from.

The files of an epoch are written under temporary names and renamed together, with Ctrl-C held
back meanwhile; a journal makes the save atomic as a whole, so even a process killed at any
instant (SIGKILL, out of memory, power loss) leaves a folder that describes one complete epoch
(the next run in it finishes or drops the save that was cut short). Ctrl-C stops training: the
folder keeps the last complete epoch, one line says so, and the exit code is 130 (pressing it
again changes nothing). SIGTERM (``kill``, a job scheduler, a service manager) does the same
with exit code 143. A folder that already holds a run is refused unless ``--resume``
(continue it up to ``--epochs``; options not given are taken from the run) or ``--overwrite``
(replace it); a lock file keeps a second process out while a run uses the folder.

Exit codes: 0 done, 1 runtime failure (data unavailable, training diverged, a disk error),
2 bad options or input files, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are one line on stderr, never a traceback.

``--dataset`` (mnist, the default, or fashion-mnist: ``convlab.data.DATASETS``) chooses the data;
the params files keep it (``__dataset__``) and so does the history (``dataset``): ``evaluate``
refuses params trained on another dataset (exit 2) unless ``--any-dataset``, ``--resume``
refuses another dataset than the run's, and files without it count as MNIST's.

For tests only: ``CONVLAB_SYNTHETIC_DATA=1`` replaces the dataset by a small random stand-in (1,000
training and 500 test images of the same shape, seeded) so that runs take a second.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np

from .data import DATASETS
from .nets import NETS
from .optim import OPTIMIZERS
from .runfolder import RUN_FILES, RunFolder, RunFolderError, holds_run, new_run_name

__all__ = ["main", "run", "build_parser"]

NET_NAMES = tuple(NETS)                 # simple, lenet, lenet-modern, alexnet, deep
OPTIMIZER_NAMES = tuple(OPTIMIZERS)     # sgd, momentum, adagrad, adam
DATASET_NAMES = tuple(DATASETS)         # mnist, fashion-mnist
INPUT_DIM, N_CLASSES = (1, 28, 28), 10  # the images and classes of every dataset in DATASETS
OLD_DATASET = "mnist"                   # what params and histories without a dataset were trained on
# options --resume takes from the stored run unless given again (the rest describe this session)
NOT_RESUMED = ("out", "resume", "overwrite", "quiet", "data_dir", "command")
MAX_WIDTH = 8.0                         # --width: AlexNet-style at 8x has 2,048-unit layers already
# what the run folder's history.json holds besides the Trainer's history, checked on --resume
RUN_ENTRIES = {
    "command": (lambda v: isinstance(v, str), "a string"),
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "resumed_by": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
                   "a list of strings (commands)"),
    "wall_seconds": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
                     "a number of seconds"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line on stderr and exit code 2 (argparse would print the whole usage first)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _width(text):
    value = _positive_float(text)
    if value > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"expected a channel multiplier in (0, {MAX_WIDTH:g}], got {text!r}")
    return value


def _decay(text):
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def build_parser():
    parser = _Parser(
        prog="python -m convlab",
        description="Train and evaluate convlab's CNNs on MNIST or Fashion-MNIST (chapter 7 of "
                    "Deep Learning from Scratch).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    tr = sub.add_parser(
        "train", help="train a net on MNIST (or Fashion-MNIST) and save params, history and an "
                      "accuracy plot",
        description="Train a net on MNIST or Fashion-MNIST (--dataset) with mini-batches. After every epoch, writes params.npz, "
                    "history.json, accuracy.png and checkpoints/ into the run folder --out, all "
                    "together. Ctrl-C stops cleanly, keeping the last complete epoch (exit code "
                    "130); --resume continues from there.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--dataset", choices=DATASET_NAMES, default="mnist",
                    help="the images to learn: mnist = handwritten digits, fashion-mnist = Zalando's "
                         "clothes (same size and format, harder); stored with the params")
    tr.add_argument("--net", choices=NET_NAMES, default="simple",
                    help="which net: simple = SimpleConvNet (the chapter's), lenet = LeNet-5 as in "
                         "1998 (sigmoid, average pooling), lenet-modern (ReLU, max pooling), "
                         "alexnet = AlexNet-style (ReLU, LRN, overlapping pooling, dropout), "
                         "deep = stacked 3x3 convolutions")
    tr.add_argument("--width", type=_width, default=1.0,
                    help=f"channel multiplier for --net alexnet (e.g. 0.5 for a faster, narrower net; "
                         f"at most {MAX_WIDTH:g})")
    tr.add_argument("--epochs", type=_int_at_least(1), default=20,
                    help="passes over the training set (with --resume: in total)")
    tr.add_argument("--batch-size", type=_int_at_least(1), default=100,
                    help="mini-batch size (the last batch of an epoch may be smaller)")
    tr.add_argument("--lr", type=_positive_float, default=0.001, help="learning rate")
    tr.add_argument("--lr-decay", type=_decay, default=1.0,
                    help="multiply the learning rate by this after every epoch (1 = constant, as in "
                         "the chapter; 0.8 lets the last epochs settle)")
    tr.add_argument("--shift", type=_int_at_least(0), default=0,
                    help="data augmentation: move each training image by a random offset of up to "
                         "this many pixels every time it is used (0 = off, as in the chapter; at "
                         "most half the image, 14)")
    tr.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="adam", help="optimiser")
    tr.add_argument("--seed", type=_int_at_least(0), default=0,
                    help="seeds the weight initialisation, dropout, shuffling and the train "
                         "evaluation subset: the same seed gives the same run")
    tr.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                    help="floating-point type of the net (float32 is about twice as fast)")
    tr.add_argument("--data-dir", default=None,
                    help="directory with the four files of --dataset (default: $CONVLAB_MNIST_DIR "
                         "or $CONVLAB_FASHION_MNIST_DIR, then data/<dataset> in the project or "
                         "a system folder, then download)")
    tr.add_argument("--out", default=None,
                    help="run folder (default: a new runs/<net>-<date>-<time>); created if missing; "
                         "one that already holds a run needs --resume or --overwrite")
    again = tr.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out up to --epochs in total, from its last "
                            "complete epoch; options not given are taken from that run, options "
                            "given must match it, --dataset too (except --epochs, --max-minutes, --quiet, --data-dir)")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (its files are deleted when training starts)")
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
                    "and print its accuracy on the test set of --dataset and a 10x10 confusion "
                    "matrix (rows: true class, columns: predicted class). Params trained on "
                    "another dataset are refused unless --any-dataset.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("params", metavar="PARAMS", help="params .npz file (from `train` or save_params)")
    ev.add_argument("--dataset", choices=DATASET_NAMES, default="mnist",
                    help="the test set to use; must be the one the params were trained on (params "
                         "files that do not record it count as mnist)")
    ev.add_argument("--any-dataset", action="store_true",
                    help="evaluate even params trained on another dataset than --dataset")
    ev.add_argument("--data-dir", default=None,
                    help="directory with the four files of --dataset (default: $CONVLAB_MNIST_DIR "
                         "or $CONVLAB_FASHION_MNIST_DIR, then data/<dataset> in the project or "
                         "a system folder, then download)")
    ev.add_argument("--test-size", type=_int_at_least(1), default=None,
                    help="use only the first N test images; default all 10,000")
    ev.add_argument("--batch-size", type=_int_at_least(1), default=1000,
                    help="images per forward pass")
    ev.set_defaults(func=_evaluate)
    return parser


def run():
    """The process entry point (``python -m convlab``, the ``convlab`` script): ``main()``, then exit.

    main() takes Ctrl-C and SIGTERM over while it runs and hands back this "ignore" when it
    returns, so a signal that arrives while the process exits cannot turn a clean stop into a
    traceback."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(main())


def main(argv=None):
    """Entry point of ``python -m convlab`` and the ``convlab`` script; returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    with _first_ctrl_c_only() as stopped_by, _warnings_in_one_line(parser.prog):
        try:
            args = parser.parse_args(argv)          # exits with code 2 on bad arguments
            _import_for(args.command)
            if getattr(args, "resume", False):
                args = _resume_args(parser, argv, args)
            args.argv = argv
            code = args.func(args, parser)
            stopped_by.append(None)                 # from here on a signal changes nothing
        except KeyboardInterrupt:
            print("interrupted: nothing was written", file=sys.stderr)
            code = 130
        except BrokenPipeError:                     # e.g. `python -m convlab evaluate ... | head`
            _stdout_to_devnull()
            return 1
        except (_Failure, OSError) as e:
            print(f"{parser.prog}: error: {e}", file=sys.stderr)
            return getattr(e, "code", 1)
        if code == 130 and stopped_by and stopped_by[0]:   # 128 + the signal: 130 Ctrl-C, 143 SIGTERM
            code = 128 + int(stopped_by[0])
        return code


@contextlib.contextmanager
def _warnings_in_one_line(prog):
    """Warnings (e.g. a learning rate far too large) as one line on stderr, without source lines."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _import_for(command):
    """Import what ``command`` uses now, with Ctrl-C held back: a Ctrl-C inside the
    initialisation of a compiled module (matplotlib's) can crash the interpreter as it exits."""
    from .atomic import sigint_deferred
    with sigint_deferred():
        for module in {"train": (".train", ".data", ".plot", "matplotlib.figure", "matplotlib.backends.backend_agg"),
                       "evaluate": (".data", ".analysis")}[command]:
            importlib.import_module(module, __package__)


class _Failure(Exception):
    """A failure reported in one line, with its exit code (1 runtime, 2 bad input)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


# Ctrl-C, and what kill, job schedulers, service managers and Jupyter send to stop a process
_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM") if hasattr(signal, n))


@contextlib.contextmanager
def _first_ctrl_c_only():
    """The first Ctrl-C or SIGTERM raises KeyboardInterrupt; later ones are ignored, so the way
    out (which only removes a lock file and prints a line) is never cut short. Yields the list
    that receives the signal's number (main() puts None there once nothing is to be stopped)."""
    pressed = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def on_ctrl_c(signum, frame):
        if not pressed:
            pressed.append(signum)
            raise KeyboardInterrupt

    previous = {}
    for sig in _STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, on_ctrl_c)
    try:
        yield pressed
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _stdout_to_devnull():
    """After a broken pipe, point stdout at /dev/null so Python's final flush stays quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# ------------------------------------------------------------------------------------ data --

def _load_data(dataset, data_dir, train_size, test_size, parser):
    """((x_train, t_train), (x_test, t_test)) of ``dataset`` as (N, 1, 28, 28) float32 and int
    labels."""
    if os.environ.get("CONVLAB_SYNTHETIC_DATA") == "1":
        (x_train, t_train), (x_test, t_test) = _synthetic_data()
    else:
        from .data import load_dataset
        if data_dir is not None and os.path.exists(data_dir) and not os.path.isdir(data_dir):
            parser.error(f"--data-dir {data_dir!r} is a file, not a directory")
        try:
            (x_train, t_train), (x_test, t_test) = load_dataset(dataset, normalize=True,
                                                                flatten=False, data_dir=data_dir)
        except (RuntimeError, ValueError, OSError) as e:
            raise _Failure(str(e)) from None
    for opt, size, n in (("--train-size", train_size, len(x_train)), ("--test-size", test_size, len(x_test))):
        if size is not None and size > n:
            parser.error(f"{opt} {size} is more than the {n} images available")
    if train_size is not None:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    return (x_train, t_train), (x_test, t_test)


def _synthetic_data():
    """For tests: digit-shaped noise whose class is which of ten bars is bright (learnable)."""
    rng = np.random.default_rng(12345)
    sets = []
    for n in (1000, 500):
        t = rng.integers(0, N_CLASSES, n)
        x = 0.2 * rng.random((n,) + INPUT_DIM, dtype=np.float32)
        for k in range(N_CLASSES):
            x[t == k, 0, 2 + 2 * k:4 + 2 * k, 4:24] += 0.8
        sets.append((x, t))
    return sets


# ----------------------------------------------------------------------------------- train --

def _resume_args(parser, argv, args):
    """Parse again with the stored run's options in front of argv: what argv does not give is
    resumed, and the stored values pass the same checks as typed ones."""
    from .train import check_history, load_history
    if args.out is None:
        parser.error("--resume needs --out, the run folder to continue")
    try:
        RunFolder.recovered(args.out)               # a save cut short by a kill: finish or drop it
    except RunFolderError as e:
        raise _Failure(str(e), code=2) from None
    path = os.path.join(args.out, "history.json")
    if not os.path.isfile(path):
        parser.error(f"--resume: --out {args.out!r} holds no run to continue (no history.json)")
    try:
        history = load_history(path)
        check_history(history, repr(path))
        check_history(history, repr(path), RUN_ENTRIES)
    except (OSError, ValueError) as e:
        parser.error(f"--resume: {e}")
    stored = history.get("cli_args")
    if not isinstance(stored, dict):
        parser.error(f"--resume: {path!r} is not a history written by `python -m convlab train`")
    train_parser = next(a for a in parser._actions if a.dest == "command").choices["train"]
    before = []
    for action in train_parser._actions:
        value = stored.get(action.dest)
        if not action.option_strings or action.dest in NOT_RESUMED or value is None:
            continue
        if action.nargs == 0:                       # a flag
            before += [action.option_strings[0]] if value is True else []
        else:
            before += [action.option_strings[0], str(value)]
    args = parser.parse_args(["train", *before, *argv[1:]])
    trained_on = history.get("dataset", OLD_DATASET)
    if args.dataset != trained_on:
        parser.error(f"--resume: the run in {args.out!r} trains on {trained_on}; got --dataset "
                     f"{args.dataset}")
    return args


def _train(args, parser):
    from .nets import build_net
    from .train import Trainer, TrainingDiverged, write_json

    from .train import max_shift
    if args.width != 1.0 and args.net != "alexnet":
        parser.error(f"--width applies only to --net alexnet, got --net {args.net}")
    if args.shift > max_shift(INPUT_DIM):
        parser.error(f"--shift must be at most {max_shift(INPUT_DIM)} (half of the 28x28 image: a "
                     f"larger shift moves it out of view), got {args.shift}")
    if args.overwrite and args.out is None:
        parser.error("--overwrite needs --out, the run folder to replace")
    out = args.out if args.out is not None else new_run_name(args.net)
    if os.path.exists(out) and not os.path.isdir(out):
        parser.error(f"--out {out!r} exists and is not a directory")
    if os.path.isdir(out) and holds_run(out) and not (args.resume or args.overwrite):
        parser.error(f"--out {out!r} already holds a run; add --resume to continue it, "
                     f"--overwrite to replace it, or choose another --out")
    if args.resume and not holds_run(out):
        parser.error(f"--resume: --out {out!r} holds no run to continue")

    folder = RunFolder(out)
    try:
        try:
            folder.open()
        except RunFolderError as e:
            raise _Failure(str(e), code=2) from None
        (x_train, t_train), (x_test, t_test) = _load_data(args.dataset, args.data_dir,
                                                          args.train_size, args.test_size, parser)
        kwargs = {"width": args.width} if args.net == "alexnet" else {}
        net = build_net(args.net, seed=args.seed, dtype=np.dtype(args.dtype), **kwargs)
        net.dataset = args.dataset                  # written into every params file as __dataset__
        start = time.perf_counter()
        run = {"command": "python -m convlab " + " ".join(args.argv), "dataset": args.dataset,
               "resumed_by": [],
               "wall_seconds": 0.0,
               "cli_args": {k: v for k, v in vars(args).items() if k not in ("func", "argv")}}

        class RunTrainer(Trainer):
            """The Trainer, saving the run folder's own files with its checkpoints."""
            say_interrupted = False

            def _outputs(self, best=False, history_only=False):
                h = {**self.history, **run, "wall_seconds": run["wall_seconds"] + time.perf_counter() - start}
                mine = [] if history_only else [(os.path.join(out, "params.npz"), self.network.write_params),
                                                (os.path.join(out, "accuracy.png"), self._write_plot)]
                return (super()._outputs(best, history_only) + mine
                        + [(os.path.join(out, "history.json"), lambda f: write_json(f, h))])

            def _write_plot(self, f):
                h = self.history
                _save_plot(h, f, f"{args.net} on {DATASETS[args.dataset].title}: test accuracy {h['test_acc'][-1]:.4f} after "
                                 f"{len(h['test_acc'])} epoch(s)")

        trainer = RunTrainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                             mini_batch_size=args.batch_size, optimizer=args.optimizer,
                             optimizer_param={"lr": args.lr}, train_eval_size=args.train_eval_size,
                             seed=args.seed, verbose=not args.quiet, lr_decay=args.lr_decay,
                             shift=args.shift, checkpoint_dir=os.path.join(out, "checkpoints"),
                             max_seconds=None if args.max_minutes is None else 60 * args.max_minutes)
        if args.resume:
            _resume(trainer, run, args, out, parser)
            net.dataset = args.dataset              # a run from before datasets has none
        elif args.overwrite:
            for f in RUN_FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(out, f))
        try:
            history = trainer.train()
        except TrainingDiverged as e:
            raise _Failure(f"{e} Kept: {folder.kept()}") from None
        if history["interrupted"]:
            print(f"interrupted: {folder.kept()}", file=sys.stderr)
            return 130
        trainer._save(history_only=True)            # the final status and wall time
        done = len(history["test_acc"])
        print(f"done: {done} epoch(s) in {time.perf_counter() - start:.0f} s, final test accuracy "
              f"{history['test_acc'][-1]:.4f}\nwrote params.npz, history.json, accuracy.png in {out}")
        return 0
    except KeyboardInterrupt:
        print(f"interrupted: {folder.kept()}", file=sys.stderr)
        return 130
    finally:
        folder.close()


def _resume(trainer, run, args, out, parser):
    """Load the run in ``out`` into ``trainer`` (exit 2 when it does not fit)."""
    from .train import load_history
    try:
        trainer.resume()
    except ValueError as e:
        parser.error(f"--resume: {e}")
    done = len(trainer.history["test_acc"])
    if args.epochs <= done:
        parser.error(f"--resume: the run in {out!r} already has {done} epoch(s); give --epochs "
                     f"more than {done} to continue it")
    before = load_history(os.path.join(out, "history.json"))
    run["command"] = before.get("command", run["command"])
    run["resumed_by"] = list(before.get("resumed_by", [])) + ["python -m convlab " + " ".join(args.argv)]
    run["wall_seconds"] = float(before.get("wall_seconds", 0.0))


def _save_plot(history, f, title):
    """The chapter's figure as PNG; its Description names the epoch and params digest shown."""
    from .plot import save_accuracy_png
    epoch = len(history["test_acc"])
    save_accuracy_png(history, f, title, description=f"epoch {epoch}, params sha256 "
                                                     f"{history['params_sha256'][epoch - 1]}")


# -------------------------------------------------------------------------------- evaluate --

def format_confusion(m, class_names=None):
    """The confusion matrix as text, with row/column labels and per-class recall. Rows are named
    by their class number and, when ``class_names`` are not just the digits, by name too."""
    k = m.shape[0]
    width = max(5, len(str(m.max())) + 1)
    named = class_names is not None and list(class_names) != [str(i) for i in range(k)]
    labels = [f"{i} {class_names[i]}" if named else str(i) for i in range(k)]
    lw = max(9, *(len(s) for s in labels))
    head = ("rows: true class, columns: predicted class (by number)" if named
            else "rows: true digit, columns: predicted digit")
    align = str.ljust if named else str.rjust          # names read best from the left
    lines = [head, align("true\\pred", lw) + "".join(f"{j:>{width}d}" for j in range(k)) + "   recall"]
    for i in range(k):
        recall = m[i, i] / max(m[i].sum(), 1)
        lines.append(align(labels[i], lw) + "".join(f"{v:>{width}d}" for v in m[i]) + f"   {recall:.4f}")
    return "\n".join(lines)


def _evaluate(args, parser):
    from .nets import load_net
    if not os.path.isfile(args.params):
        parser.error(f"PARAMS {args.params!r} is not a file")
    try:
        net = load_net(args.params, input_dim=INPUT_DIM, output_size=N_CLASSES)
    except (ValueError, OSError) as e:
        parser.error(f"PARAMS {args.params!r} cannot be loaded: {e}")
    trained_on = net.dataset or OLD_DATASET
    if trained_on != args.dataset and not args.any_dataset:
        parser.error(f"PARAMS {args.params!r} were trained on {trained_on}, not {args.dataset}; "
                     f"add --dataset {trained_on} (or --any-dataset to evaluate them on "
                     f"{args.dataset} anyway)")
    _, (x_test, t_test) = _load_data(args.dataset, args.data_dir, None, args.test_size, parser)
    from .fast import compile_net
    fast = compile_net(net, warn=False) or net        # the same predictions, on the fast path
    pred = np.concatenate([fast.predict(x_test[i:i + args.batch_size]).argmax(axis=1)
                           for i in range(0, len(x_test), args.batch_size)])   # (N,)
    from .analysis import confusion_matrix
    m = confusion_matrix(t_test, pred, net.output_size)                       # (10, 10) counts
    correct = int(np.trace(m))
    print(f"test accuracy: {correct / len(t_test):.4f} ({correct}/{len(t_test)} correct)")
    print(format_confusion(m, DATASETS[args.dataset].class_names))
    return 0
