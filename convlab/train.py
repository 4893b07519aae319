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
  per epoch (training plus evaluation), ``params_sha256`` per epoch, plus ``config``,
  ``best_epoch``, ``best_test_acc``, ``interrupted``, ``stopped_by_time_limit``, ``diverged``;
* seeded: the same seed, data and freshly built net (with the same net seed) give the same
  history bit for bit (timings aside);
* a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal), off with
  ``verbose=False``;
* ``callback(history)`` after each epoch (draw live curves in a notebook);
* checkpoints in ``checkpoint_dir``: ``last.npz`` (end of the latest epoch), ``best.npz`` (the
  epoch with the highest test accuracy -- the chapter has no validation set, so "best" is chosen
  on the test set; report the last epoch as your result), ``state.npz`` (what ``resume()``
  needs besides the params) and ``history.json``;
* ``lr_decay``: the learning rate of epoch e is ``lr * lr_decay ** (e - 1)`` (1.0: constant, as
  in the chapter; e.g. 0.8 lets the last epochs settle instead of wandering around the minimum);
* ``shift``: data augmentation -- each training image is moved by its own random offset of up to
  ``shift`` pixels in each direction (zeros fill in), so the net sees a slightly different digit
  every epoch and overfits less; 0 (the chapter's setting) turns it off;
* ``fused`` (default True): the net trains and is evaluated through its fast plan
  (:func:`convlab.fast.compile_net`): a SimpleConvNet-shaped net through the fused step on every
  core (``CONVLAB_THREADS`` sets how many), a LeNet-shaped net through conv - activation -
  pooling blocks in the fused step's layout, any other convlab net through fast twins of its
  layers (evaluation: forward only, ``convlab.fast.infer``); the numbers are the layers' (gradients to float rounding; a given thread count repeats
  its run bit for bit). ``fused=False``, and a net the fast path cannot plan (it says why), go
  layer by layer through ``net.gradient``;
* ``max_seconds``: stop after the epoch when another one would not fit in this wall-clock
  budget (``stopped_by_time_limit=True``);
* checkpoints are saved together (``convlab.atomic.commit``): the files of an epoch are saved
  atomically as a whole, even if the process is killed meanwhile (``resume()`` finishes or drops
  a save cut short), Ctrl-C and SIGTERM wait until they are written, and ``history.json``
  (renamed last) keeps the SHA-256 of each epoch's params, so anyone can tell which epoch a
  params file holds (``convlab.nets.params_digest``);
* bad input is refused in the constructor, before any training: non-finite images (naming
  them), a ``shift`` beyond half the image, a ``checkpoint_dir`` that is a file; a first step
  that moves a parameter by more than ``STEP_WARNING_RATIO`` times its size warns that the
  learning rate is far too large;
* Ctrl-C (KeyboardInterrupt) stops cleanly: ``train()`` puts the net, the optimiser and every
  random stream back to the end of the last complete epoch and returns the history of the
  complete epochs with ``interrupted=True``; calling ``train()`` again continues exactly as if
  nothing had happened (the same params, bit for bit, as an uninterrupted run);
* ``resume()`` continues a run from ``checkpoint_dir`` (``last.npz``, ``state.npz``: Adam's m, v
  and step count, every random stream; ``history.json``) after checking that the stored
  configuration matches this trainer's (only ``epochs`` and ``max_seconds`` may differ);
* a loss that is not finite (the run diverged: the learning rate is too large) stops training:
  the net is put back to the last complete epoch, ``history['diverged']`` says where, and
  :class:`TrainingDiverged` is raised.
"""
from __future__ import annotations

import copy
import json
import numbers
import os
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from .arith import check_int
from .atomic import commit, recover, sigint_deferred
from .fast import compile_net
from .layers import check_labels
from .nets import params_digest
from .npz import read_npz
from .optim import make_optimizer

__all__ = ["Trainer", "TrainingDiverged", "random_shift", "save_history", "load_history",
           "check_history"]

# Configuration entries that may change when a run is resumed.
RESUMABLE_CHANGES = ("epochs", "max_seconds")
# A first step that moves some parameter by more than this many times its own size (in norm) gets
# a warning: the learning rate is far too large (Adam's first step at lr=0.001 moves weights of
# size 0.01 by about 0.1 times their size).
STEP_WARNING_RATIO = 10.0
# evaluate() gathers the fixed training subset this many images at a time into one reused array
EVAL_GATHER = 2000


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) stopped being a finite number."""


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
                 max_seconds=None, lr_decay=1.0, shift=0, fused=True):
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
        if self.checkpoint_dir is not None and os.path.exists(self.checkpoint_dir) \
                and not os.path.isdir(self.checkpoint_dir):
            raise ValueError(f"checkpoint_dir must be a folder (created if missing), got "
                             f"{self.checkpoint_dir!r}, which is a file")
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
        if self.shift > max_shift(self.input_dim):
            raise ValueError(f"shift must be at most {max_shift(self.input_dim)} (half of the "
                             f"{self.input_dim[1]}x{self.input_dim[2]} image: a larger shift "
                             f"moves it out of view), got {self.shift}")

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
        self._gather = None                                                   # see _gathered
        # the net's fast plan, same numbers (convlab.fast); None: layer by layer
        self.fast = compile_net(network) if fused else None

        config = getattr(network, "config", None)
        self.history = {
            "loss": [], "train_acc": [], "test_acc": [], "epoch_seconds": [], "lr": [],
            "params_sha256": [], "best_epoch": None, "best_test_acc": None, "interrupted": False,
            "stopped_by_time_limit": False, "diverged": None,
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
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"{xname} must hold real numbers (pixel values), got dtype {x.dtype}")
        if np.issubdtype(x.dtype, np.floating):
            finite = np.isfinite(x).reshape(len(x), -1).all(axis=1)           # (N,) per image
            if not finite.all():
                bad = np.flatnonzero(~finite)
                raise ValueError(f"{xname} must hold finite pixel values; {len(bad)} image(s) hold "
                                 f"NaN or infinity, e.g. {xname}[{bad[0]}]"
                                 + (f" and {xname}[{bad[1]}]" if len(bad) > 1 else ""))
        t = check_labels(t, len(x), n_out if n_out is not None else int(np.max(t)) + 1, tname)
        return x, t

    # ----------------------------------------------------------------------------------------
    def train_step(self, x_batch, t_batch):
        """One gradient step on one mini-batch; returns its loss (a float)."""
        net = self.network
        if self.fast is not None:                       # gradient and update, fast
            return self.fast.step(x_batch, t_batch, self.optimizer)
        grads = net.gradient(x_batch, t_batch)
        self.optimizer.update(net.params, grads)
        # The loss of this batch, as the forward pass gradient() just ran computed it (the
        # book's SoftmaxWithLoss keeps it): exact from log-softmax, even where y underflowed.
        return float(net.last_layer.loss)

    def evaluate(self):
        """(train accuracy on the fixed subset, test accuracy on the full test set)."""
        net, bs = self.network, self.eval_batch_size
        if self.fast is not None:               # same predictions, fast
            net, bs = self.fast, min(bs, self.fast.eval_batch or bs)
        correct = 0                             # the training subset, EVAL_GATHER images at a time
        for i in range(0, self.train_eval_size, EVAL_GATHER):
            idx = self.train_eval_idx[i:i + EVAL_GATHER]
            x = np.take(self.x_train, idx, axis=0, out=self._gathered(len(idx)), mode="clip")
            correct += round(net.accuracy(x, self.t_train[idx], batch_size=bs) * len(idx))
        test_acc = net.accuracy(self.x_test, self.t_test, batch_size=bs)
        return correct / self.train_eval_size, test_acc

    def _gathered(self, n):
        """An array for n training images (n <= EVAL_GATHER), the same one every evaluation: a
        fresh copy of the whole subset (31 MB for 10,000 MNIST images) cost up to 70 ms of page
        faults per epoch here."""
        if self._gather is None:
            self._gather = np.empty((min(EVAL_GATHER, self.train_eval_size),) + self.x_train.shape[1:],
                                    self.x_train.dtype)
        return self._gather[:n]

    say_interrupted = True      # print a line on Ctrl-C (when verbose); the CLI says its own

    def train(self):
        """Run the epochs still to do (or until Ctrl-C) and return the history dict."""
        h, N, bs = self.history, len(self.x_train), self.batch_size
        h["interrupted"] = h["stopped_by_time_limit"] = False
        h["diverged"] = None
        done = len(h["train_acc"])                      # train() may be called again to continue
        self._end_of_epoch = self._capture()            # what Ctrl-C returns to
        bar = tqdm(total=max(self.epochs - done, 0) * self.steps_per_epoch, disable=not self.verbose,
                   unit="step", mininterval=1.0, dynamic_ncols=True)
        t0 = time.perf_counter()
        first = {k: p.copy() for k, p in self.network.params.items()} if done == 0 else None
        try:
            for epoch in range(done + 1, self.epochs + 1):
                bar.set_description(f"epoch {epoch}/{self.epochs}")
                start = time.perf_counter()
                if self.base_lr is not None:             # lr * lr_decay ** (epoch - 1)
                    self.optimizer.lr = self.base_lr * self.lr_decay ** (epoch - 1)
                perm = self.rng.permutation(N)          # (N,) a fresh order every epoch
                for step, i in enumerate(range(0, N, bs), start=1):
                    batch = perm[i:i + bs]              # the last one may be shorter
                    x_batch = self.x_train[batch]
                    if self.shift:
                        x_batch = random_shift(x_batch.reshape((-1,) + self.input_dim), self.shift,
                                               self.shift_rng)
                    with np.errstate(over="ignore", invalid="ignore"):   # divergence is caught here:
                        loss = self.train_step(x_batch, self.t_train[batch])
                    if not np.isfinite(loss):
                        raise _Diverged(epoch, step, f"the loss is {loss}")
                    h["loss"].append(loss)
                    if first is not None:           # the very first step of the run
                        self._warn_if_the_step_is_huge(first)
                        first = None
                    bar.update(1)
                    if len(h["loss"]) % 10 == 0:
                        bar.set_postfix(loss=f"{h['loss'][-1]:.4f}", refresh=False)
                bad = [k for k, p in self.network.params.items() if not np.all(np.isfinite(p))]
                if bad:
                    raise _Diverged(epoch, step, f"parameter(s) {bad} hold NaN or infinite values")
                train_acc, test_acc = self.evaluate()
                h["train_acc"].append(train_acc)
                h["test_acc"].append(test_acc)
                h["epoch_seconds"].append(time.perf_counter() - start)
                h["lr"].append(getattr(self.optimizer, "lr", None))
                h["params_sha256"].append(params_digest(self.network.params))
                best = h["best_test_acc"] is None or test_acc > h["best_test_acc"]
                if best:
                    h["best_test_acc"], h["best_epoch"] = test_acc, epoch
                self._end_of_epoch = self._capture()
                self._save(best=best)
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
            with sigint_deferred():                     # a second Ctrl-C waits for this
                self._restore(self._end_of_epoch)
                h["interrupted"] = True
                if h["train_acc"]:
                    self._save(history_only=True)
            if self.verbose and self.say_interrupted:
                bar.write(f"Interrupted: kept {len(h['train_acc'])} complete epoch(s)"
                          + (f" in {self.checkpoint_dir}" if self.checkpoint_dir and h["train_acc"] else "")
                          + "; train() continues from there")
        except _Diverged as e:
            with sigint_deferred():
                self._restore(self._end_of_epoch)
                h["diverged"] = {"epoch": e.epoch, "step": e.step, "what": e.what}
                if h["train_acc"]:
                    self._save(history_only=True)
            kept = len(h["train_acc"])
            raise TrainingDiverged(
                f"training diverged in epoch {e.epoch}, step {e.step}: {e.what}; the learning rate "
                f"({getattr(self.optimizer, 'lr', '?')}) is probably too large. "
                + (f"The net is back at the end of epoch {kept}" if kept else "No epoch was completed")
                + (f" (saved in {self.checkpoint_dir})." if kept and self.checkpoint_dir else ".")) from None
        finally:
            bar.close()
        return h

    def _warn_if_the_step_is_huge(self, before):
        """Warn when one step moved a parameter far more than its own size: the learning rate is
        out of range, even if the loss has not become infinite yet."""
        ratios = {}
        for k, p in self.network.params.items():
            size = float(np.linalg.norm(before[k]))
            if size > 0:
                with np.errstate(over="ignore", invalid="ignore"):
                    ratios[k] = float(np.linalg.norm(p.astype(np.float64) - before[k])) / size
        if not ratios or not all(np.isfinite(list(ratios.values()))):
            return                      # not finite: training stops as diverged, which says it
        worst = max(ratios, key=ratios.get)
        if ratios[worst] > STEP_WARNING_RATIO:
            warnings.warn(f"the first step changed {worst} by {ratios[worst]:.3g} times its own size; "
                          f"the learning rate ({getattr(self.optimizer, 'lr', '?')}) is probably far "
                          f"too large", RuntimeWarning, stacklevel=3)

    # -- the state of a run: captured in memory after every epoch, saved for resume() ----------
    def _streams(self):
        """Every random stream training draws from: shuffling, shifts and each Dropout layer."""
        streams = {"shuffle": self.rng, "shift": self.shift_rng}
        for name, layer in getattr(self.network, "layers", {}).items():
            if isinstance(getattr(layer, "rng", None), np.random.Generator):
                streams[name] = layer.rng
        return streams

    def _optimizer_state(self):
        if hasattr(self.optimizer, "state"):
            return self.optimizer.state()
        return None, copy.deepcopy(vars(self.optimizer))          # an optimiser of your own

    def _capture(self):
        h = self.history
        return {"params": {k: p.copy() for k, p in self.network.params.items()},
                "optimizer": self._optimizer_state(),
                "streams": {k: g.bit_generator.state for k, g in self._streams().items()},
                "history": {k: list(v) if isinstance(v, list) else copy.deepcopy(v) for k, v in h.items()}}

    def _restore(self, state):
        for k, p in self.network.params.items():
            p[...] = state["params"][k]
        arrays, values = state["optimizer"]
        if arrays is None:
            vars(self.optimizer).update(copy.deepcopy(values))
        else:
            self.optimizer.load_state(arrays, values, self.network.params)
        for k, g in self._streams().items():
            g.bit_generator.state = state["streams"][k]
        self.history.clear()
        self.history.update({k: list(v) if isinstance(v, list) else copy.deepcopy(v)
                             for k, v in state["history"].items()})

    def _write_state(self, f):
        """state.npz: the optimiser's arrays ('optimizer/m/W1', ...) and, as JSON text in
        '__state__', its counters, every random stream and the epoch they belong to."""
        arrays, values = self._end_of_epoch["optimizer"]
        meta = {"epoch": len(self.history["train_acc"]), "optimizer": type(self.optimizer).__name__,
                "optimizer_values": values, "streams": self._end_of_epoch["streams"]}
        np.savez(f, __state__=np.array(json.dumps(meta)),
                 **{f"optimizer/{k}": a for k, a in arrays.items()})

    def _outputs(self, best=False, history_only=False):
        """The files one save writes, as (path, write) pairs in the order they are renamed:
        the history last, as it describes the others."""
        d = self.checkpoint_dir
        files = []
        if not history_only:
            files.append((os.path.join(d, "last.npz"), self.network.write_params))
            if best:
                files.append((os.path.join(d, "best.npz"), self.network.write_params))
            if hasattr(self.optimizer, "state"):
                files.append((os.path.join(d, "state.npz"), self._write_state))
        files.append((os.path.join(d, "history.json"), lambda f: write_json(f, self.history)))
        return files

    def _save(self, best=False, history_only=False):
        if self.checkpoint_dir is None:
            return
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        commit(self._outputs(best=best, history_only=history_only))

    def resume(self):
        """Continue the run saved in ``checkpoint_dir``: load its params, optimiser state, random
        streams and history (all or nothing), after checking that its configuration matches this
        trainer's. ``train()`` then runs the epochs still to do, giving the same params, bit for
        bit, as one uninterrupted run. Returns self."""
        d = self.checkpoint_dir
        if d is None:
            raise ValueError("resume() needs the checkpoint_dir of the run to continue, got None")
        if not hasattr(self.optimizer, "load_state"):
            raise ValueError(f"resume() needs an optimizer with state() and load_state(), got "
                             f"{type(self.optimizer).__name__}")
        where = f"checkpoint_dir {d!r}"
        if os.path.isdir(d):
            recover(d)                  # finish or drop a save a killed process began
        try:
            stored = load_history(os.path.join(d, "history.json"))
        except FileNotFoundError:
            raise ValueError(f"{where} holds no run to resume (no history.json)") from None
        except ValueError as e:
            raise ValueError(f"{where}: history.json is not valid JSON ({e})") from None
        check_history(stored, f"{where}: history.json")
        differ = sorted(k for k in set(stored["config"]) | set(self.history["config"])
                        if k not in RESUMABLE_CHANGES
                        and stored["config"].get(k) != _json_copy(self.history["config"]).get(k))
        if differ:
            raise ValueError(f"{where} holds a run with another configuration: "
                             + "; ".join(f"{k} is {stored['config'].get(k)!r} there, "
                                         f"{_json_copy(self.history['config']).get(k)!r} here"
                                         for k in differ))
        done = len(stored.get("train_acc", []))
        digests = stored.get("params_sha256", [])
        if done < 1 or len(digests) != done or len(stored.get("loss", [])) != done * self.steps_per_epoch \
                or any(len(stored.get(k, [])) != done for k in ("test_acc", "epoch_seconds")):
            raise ValueError(f"{where}: history.json holds no complete epoch with its params digest")
        for name in ("last.npz", "state.npz"):
            if not os.path.isfile(os.path.join(d, name)):
                raise ValueError(f"{where} has history.json but no {name}: the run cannot be "
                                 f"continued from there (the file was deleted or moved?)")
        last = read_npz(os.path.join(d, "last.npz"))
        last.pop("__config__", None)
        last.pop("__dataset__", None)
        if params_digest(last) != digests[-1]:
            raise ValueError(f"{where}: last.npz does not hold the params of epoch {done} that "
                             f"history.json describes (a save cut short by a crash?)")
        state = read_npz(os.path.join(d, "state.npz"))
        bad_state = ValueError(f"{where}: state.npz does not hold the optimiser state and random "
                               f"streams of epoch {done} for a {type(self.optimizer).__name__}")
        try:
            meta = json.loads(str(state.pop("__state__")))
            arrays = {k[len("optimizer/"):]: a for k, a in state.items() if k.startswith("optimizer/")}
            resumed = {"params": last, "optimizer": (arrays, meta["optimizer_values"]),
                       "streams": meta["streams"],
                       "history": dict(stored, config=self.history["config"], interrupted=False)}
        except (KeyError, TypeError, ValueError, RecursionError):
            raise bad_state from None
        if (meta.get("epoch") != done or meta.get("optimizer") != type(self.optimizer).__name__
                or not isinstance(resumed["streams"], dict)
                or set(resumed["streams"]) != set(self._streams()) or len(arrays) != len(state)):
            raise bad_state
        before = self._capture()
        self.network.load_params(os.path.join(d, "last.npz"))   # all or nothing by itself
        try:
            self._restore(resumed)
        except (KeyError, TypeError, ValueError) as e:
            self._restore(before)                                  # all or nothing
            raise ValueError(f"{where}: state.npz cannot be restored: {e}") from None
        return self


class _Diverged(Exception):
    def __init__(self, epoch, step, what):
        super().__init__(what)
        self.epoch, self.step, self.what = epoch, step, what


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
    """Write a history dict to JSON atomically (a crash never leaves half a file)."""
    commit([(path, lambda f: write_json(f, history))])


def write_json(f, obj):
    """JSON text of ``obj`` (NumPy numbers allowed) into the open binary file ``f``."""
    f.write(json.dumps(obj, indent=1, default=_json_default, allow_nan=False).encode("utf-8"))


def _json_copy(obj):
    return json.loads(json.dumps(obj, default=_json_default))


def load_history(path):
    """Read a history written by :func:`save_history` (ValueError if it is not JSON)."""
    with open(os.fspath(path), encoding="utf-8") as f:
        try:
            return json.load(f)
        except RecursionError:
            raise ValueError(f"{os.fspath(path)!r} holds JSON nested too deeply to be a history") from None


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _list_of(ok):
    return lambda v: isinstance(v, list) and all(ok(x) for x in v)


# what each entry of a history must be (missing entries are left to the code that needs them)
HISTORY_ENTRIES = {
    "loss": (_list_of(_is_number), "a list of numbers"),
    "train_acc": (_list_of(_is_number), "a list of numbers"),
    "test_acc": (_list_of(_is_number), "a list of numbers"),
    "epoch_seconds": (_list_of(_is_number), "a list of numbers"),
    "lr": (_list_of(lambda x: x is None or _is_number(x)), "a list of numbers (or nulls)"),
    "params_sha256": (_list_of(lambda x: isinstance(x, str)), "a list of strings"),
    "best_epoch": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
                   "an integer or null"),
    "best_test_acc": (lambda v: v is None or _is_number(v), "a number or null"),
    "interrupted": (lambda v: isinstance(v, bool), "true or false"),
    "stopped_by_time_limit": (lambda v: isinstance(v, bool), "true or false"),
    "diverged": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "config": (lambda v: isinstance(v, dict), "an object"),
}


def check_history(history, where, entries=HISTORY_ENTRIES):
    """Raise ValueError (naming ``where`` and the entry) when ``history`` is not a dict whose
    entries have the types :class:`Trainer` writes -- e.g. a hand-edited history.json."""
    if not isinstance(history, dict) or not isinstance(history.get("config"), dict):
        raise ValueError(f"{where} is not a training history (a JSON object with a config)")
    for key, (ok, what) in entries.items():
        if key in history and not ok(history[key]):
            got = repr(history[key])
            raise ValueError(f"{where}: {key!r} must be {what}, got "
                             f"{got if len(got) <= 40 else got[:37] + '...'}")


def max_shift(input_dim):
    """The largest ``shift`` that keeps part of an image of ``input_dim`` (C, H, W) in view: half
    its smaller side."""
    return min(input_dim[-2:]) // 2 if len(input_dim) == 3 else 0


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"history holds {type(o).__name__}, which JSON cannot store")
