"""A training run's folder on disk: its name, whether it holds a run, and the folder while a run
uses it (created if missing and removed again if nothing was kept, locked against a second
process, and brought back to its last complete save after a killed process: a save it had
begun is finished or dropped, see ``convlab.atomic``). ``python -m convlab train`` uses it; the
files of each epoch are written together, atomically as a whole, by ``convlab.atomic.commit``.
"""
from __future__ import annotations

import contextlib
import os
import time

__all__ = ["RUN_FILES", "RunFolderError", "RunFolder", "new_run_name", "holds_run"]

RUN_FILES = ("params.npz", "history.json", "accuracy.png", "checkpoints/last.npz",
             "checkpoints/best.npz", "checkpoints/state.npz", "checkpoints/history.json")


class RunFolderError(Exception):
    """The run folder cannot be used (in use by another process, or not writable)."""


def new_run_name(net):
    """A run folder that does not exist yet: runs/<net>-<date>-<time>[-<n>]."""
    base = os.path.join("runs", f"{net}-{time.strftime('%Y%m%d-%H%M%S')}")
    name, n = base, 1
    while os.path.exists(name):
        n += 1
        name = f"{base}-{n}"
    return name


def holds_run(out):
    """Whether the folder ``out`` holds any file of a run (or a save a killed run began)."""
    from .atomic import JOURNAL
    return any(os.path.exists(os.path.join(out, f)) for f in RUN_FILES + (JOURNAL,))


class RunFolder:
    """The run folder while a run uses it: created if missing (and removed again if nothing was
    kept), locked against a second process, brought back to its last complete save after a
    killed one (``convlab.atomic.recover``)."""

    def __init__(self, out):
        from .atomic import FolderLock
        self.out, self.created = out, False
        self.lock = FolderLock(out)

    def open(self):
        from .atomic import recover, sigint_deferred
        with sigint_deferred():                     # so that close() knows what to undo
            self._open()
            try:
                recover(self.out)                   # finish or drop a killed process's save
            except (OSError, ValueError) as e:
                self.close()
                raise RunFolderError(f"--out {self.out!r}: {getattr(e, 'strerror', None) or e}") from None

    @classmethod
    def recovered(cls, out):
        """Bring the run folder ``out`` back to its last complete save now (taking its lock for
        the while), so that it can be read; does nothing to a folder that does not exist."""
        if os.path.isdir(out):
            folder = cls(out)
            folder.open()
            folder.close()

    def _open(self):
        from .atomic import FolderInUse
        try:
            if not os.path.isdir(self.out):
                try:
                    os.makedirs(self.out)
                    self.created = True
                except FileExistsError:             # another process made it just now: the
                    if not os.path.isdir(self.out):  # lock below decides who gets it
                        raise
            self.lock.acquire()                     # also proves the folder is writable
        except FolderInUse as e:
            raise RunFolderError(f"--out {e}") from None
        except OSError as e:
            self.close()
            raise RunFolderError(f"--out {self.out!r} is not a writable folder: "
                                 f"{e.strerror or e}") from None

    def close(self):
        self.lock.release()
        if self.created and not holds_run(self.out):
            for d in (os.path.join(self.out, "checkpoints"), self.out):
                with contextlib.suppress(OSError):
                    os.rmdir(d)                     # only if empty

    def kept(self):
        """What the folder holds now, in words."""
        from .train import load_history
        try:
            h = load_history(os.path.join(self.out, "history.json"))
            done, total = len(h["test_acc"]), h["config"]["epochs"]
        except (OSError, ValueError, KeyError, TypeError):
            return "nothing was kept" + (f"; {self.out} removed" if self.created else "")
        return (f"{self.out} keeps epoch {done} of {total} (params.npz, history.json, accuracy.png, "
                f"checkpoints/); continue with --resume --out {self.out}")
