"""Saving files so that nobody ever sees half of a save: not a reader, not a Ctrl-C, not a second
run in the same folder.

* :func:`commit` writes several files together: each one first under a temporary name next to
  its final one, then all are renamed in the order given. ``os.replace`` is atomic, so every
  file is always either the old or the new version, and while the renames run Ctrl-C is held
  back (:func:`sigint_deferred`), so a run never stops between two of them. Put the file that
  describes the others (a history) last: it is the one to trust after a hard crash.
* :func:`sigint_deferred` holds Ctrl-C (SIGINT) back until the block is done, then delivers it
  (once, however often it was pressed) to whatever handler was there before.
* :class:`FolderLock` keeps a second process out of a folder in use (a lock file holding the
  process id; a lock left by a process that no longer exists is taken over).

Temporary names end in ``.tmp``; :func:`remove_temporaries` clears those a killed process left.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading

__all__ = ["commit", "sigint_deferred", "FolderLock", "FolderInUse", "remove_temporaries",
           "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def sigint_deferred():
    """Hold Ctrl-C back while the block runs; deliver it afterwards if it came.

    Only the main thread receives signals, so elsewhere this does nothing. Blocks may nest."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if arrived:
            signal.raise_signal(signal.SIGINT)   # the previous handler sees it now


def commit(files):
    """Write ``files`` -- a list of ``(path, write)`` where ``write(f)`` fills the open binary file
    ``f`` -- under temporary names, then rename them all to their paths in list order, with
    Ctrl-C deferred throughout. If anything fails, no temporary file is left behind and the
    files not yet renamed keep their previous version."""
    with sigint_deferred():
        pending = []
        try:
            for path, write in files:
                path = os.fspath(path)
                tmp = f"{path}.{os.getpid()}{TMP_SUFFIX}"
                pending.append((tmp, path))
                with open(tmp, "wb") as f:
                    write(f)
            while pending:
                tmp, path = pending[0]
                os.replace(tmp, path)
                pending.pop(0)
        finally:
            for tmp, _ in pending:
                with contextlib.suppress(OSError):
                    os.remove(tmp)


def remove_temporaries(folder):
    """Delete the temporary files a killed process left in ``folder`` and its subfolders."""
    for root, _dirs, names in os.walk(folder):
        for name in names:
            if name.endswith(TMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(root, name))


class FolderInUse(RuntimeError):
    """Another live process holds the folder's lock."""


class FolderLock:
    """``with FolderLock(folder):`` -- the folder is ours until the block ends.

    The lock is the file ``folder/.lock`` created exclusively (O_EXCL) with our process id in it.
    Raises :class:`FolderInUse` when a live process holds it, and OSError when the folder is not
    writable (which is how a writable folder is checked: by writing to it)."""

    NAME = ".lock"

    def __init__(self, folder):
        self.path = os.path.join(os.fspath(folder), self.NAME)
        self.held = False

    def acquire(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:                    # being written this instant, or garbage
                    raise FolderInUse(f"{os.path.dirname(self.path)!r} is locked by the lock file "
                                      f"{self.path!r}; delete it if no run uses that folder") from None
                if _alive(owner):
                    raise FolderInUse(f"{os.path.dirname(self.path)!r} is in use by process {owner} "
                                      f"(lock file {self.path!r})") from None
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)         # left by a process that is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise FolderInUse(f"could not take the lock file {self.path!r}")

    def release(self):
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            self.held = False

    def _owner(self):
        try:
            with open(self.path, encoding="ascii") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        with sigint_deferred():
            self.release()


def _alive(pid):
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM            # exists, but belongs to someone else
    return True
