"""Saving files so that nobody ever sees half of a save: not a reader, not a Ctrl-C, not a kill,
not a second run in the same folder.

* :func:`commit` writes several files together, atomically as a whole. Each one is first written
  under a temporary name next to its final one; then a journal (``.commit.json``, next to the
  last file) naming every temporary and its final name is put in place with one ``os.replace``
  -- that rename is the instant the save happens; then the files are renamed in the order given
  and the journal is removed. A process killed at any instant (SIGKILL, out of memory, power
  loss) leaves either no journal (the old files are all there; the temporaries are garbage) or a
  complete journal (every new file is written), and :func:`recover` finishes what it began. While
  a commit runs, Ctrl-C and SIGTERM are held back (:func:`sigint_deferred`). Put the file that
  describes the others (a history) last: readers who never recover still find it renamed last.
* :func:`sigint_deferred` holds Ctrl-C (SIGINT) and SIGTERM back until the block is done, then
  delivers each that came (once, however often) to whatever handler was there before.
* :class:`FolderLock` keeps a second process out of a folder in use (a lock file holding the
  process id, created exclusively: no ``fcntl`` needed, so it works on Windows too; a lock left
  by a process that no longer exists is taken over).

Temporary names end in ``.tmp``. :func:`recover` (run when a folder is opened again) completes an
interrupted commit and clears the temporaries a killed process left.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
import threading

__all__ = ["commit", "recover", "sigint_deferred", "FolderLock", "FolderInUse",
           "remove_temporaries", "TMP_SUFFIX", "JOURNAL"]

TMP_SUFFIX = ".tmp"
JOURNAL = ".commit.json"
# the signals held back during a save: Ctrl-C, and what kill, schedulers and service managers send
DEFERRED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


@contextlib.contextmanager
def sigint_deferred():
    """Hold Ctrl-C (SIGINT) and SIGTERM back while the block runs; deliver each that came
    afterwards, to the handler that was there before.

    Only the main thread receives signals, so elsewhere this does nothing. Blocks may nest."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived, previous = [], {}
    for sig in DEFERRED_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: arrived.append(signum))
        except (OSError, ValueError, RuntimeError):   # a platform without this signal's handlers
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for sig in dict.fromkeys(arrived):            # each once, in the order they came
            signal.raise_signal(sig)                  # the previous handler sees it now


# For tests only: CONVLAB_TEST_KILL_AT="C:S" SIGKILLs this process just before step S of its
# C-th commit (steps are numbered from 1 in the order commit() takes them: every write, the
# journal, every rename, the journal's removal, and the end), so that a test can stop a save at
# every instant that matters. Tests in the same process set step_hook(commit_number, step).
step_hook = None
_commits = 0


def _kill_at_from_env():
    spec = os.environ.get("CONVLAB_TEST_KILL_AT")
    if not spec:
        return None
    at = tuple(int(v) for v in spec.split(":"))

    def kill(commit_number, step):
        if (commit_number, step) == at:
            sys.stderr.flush()
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    return kill


step_hook = _kill_at_from_env()


def commit(files):
    """Write ``files`` -- a list of ``(path, write)`` where ``write(f)`` fills the open binary file
    ``f`` -- as one atomic save: all of them or none, even if the process is killed meanwhile
    (see the module docstring), with Ctrl-C and SIGTERM deferred throughout. If a writer fails,
    no temporary file is left behind and every file keeps its previous version."""
    global _commits
    _commits += 1
    number, steps = _commits, iter(range(1, 1 << 30))

    def step():
        if step_hook is not None:
            step_hook(number, next(steps))

    with sigint_deferred():
        pending, journal, committed = [], None, False
        try:
            for path, write in files:
                path = os.fspath(path)
                tmp = f"{path}.{os.getpid()}{TMP_SUFFIX}"
                pending.append((tmp, path))
                step()
                with open(tmp, "wb") as f:
                    write(f)
                    _sync(f)
            if len(pending) > 1:            # one file needs no journal: its rename is atomic
                base = os.path.dirname(os.path.abspath(pending[-1][1]))
                journal = os.path.join(base, JOURNAL)
                names = [[os.path.relpath(os.path.abspath(t), base), os.path.relpath(os.path.abspath(p), base)]
                         for t, p in pending]
                step()
                with open(journal + f".{os.getpid()}{TMP_SUFFIX}", "wb") as f:
                    f.write(json.dumps({"renames": names}).encode("utf-8"))
                    _sync(f)
                step()
                os.replace(journal + f".{os.getpid()}{TMP_SUFFIX}", journal)   # the save happens here
                committed = True
                _sync_folder(base)
            while pending:
                tmp, path = pending[0]
                step()
                os.replace(tmp, path)
                pending.pop(0)
            if journal is not None:
                step()
                os.remove(journal)
            step()
        finally:
            if not committed:               # no journal: the temporaries are garbage
                for tmp, _ in pending:
                    with contextlib.suppress(OSError):
                        os.remove(tmp)
                if journal is not None:
                    with contextlib.suppress(OSError):
                        os.remove(journal + f".{os.getpid()}{TMP_SUFFIX}")
            # committed but a rename failed: the journal stays, and recover() finishes the save


def _sync(f):
    """Push a file's bytes to the disk (so that a power loss cannot undo a save)."""
    f.flush()
    with contextlib.suppress(OSError, AttributeError, ValueError):
        os.fsync(f.fileno())


def _sync_folder(folder):
    """Push a folder's renames to the disk, where the system allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def recover(folder):
    """Finish the commits a killed process began in ``folder`` (or its subfolders) and delete the
    temporaries it left. Call it only while no other process writes there (hold the folder's
    lock). A journal that cannot be read (written by hand?) raises ValueError."""
    for root, _dirs, names in os.walk(folder):
        if JOURNAL in names:
            _roll_forward(root)
    remove_temporaries(folder)


def _roll_forward(base):
    journal = os.path.join(base, JOURNAL)
    try:
        with open(journal, encoding="utf-8") as f:
            renames = json.load(f)["renames"]
        pairs = [(os.path.join(base, t), os.path.join(base, p)) for t, p in renames]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise ValueError(f"{journal!r} is not a journal written by convlab.atomic.commit ({e}); "
                         f"move it away to keep the files as they are") from None
    inside = os.path.abspath(base)
    for tmp, path in pairs:
        for name in (tmp, path):
            if os.path.commonpath([inside, os.path.abspath(name)]) != inside:
                raise ValueError(f"{journal!r} names {name!r}, outside {base!r}")
        if not tmp.endswith(TMP_SUFFIX):
            raise ValueError(f"{journal!r} names {tmp!r}, which is not a temporary file")
    for tmp, path in pairs:
        if os.path.exists(tmp):
            os.replace(tmp, path)
    _sync_folder(base)
    os.remove(journal)


def remove_temporaries(folder):
    """Delete the temporary files a killed process left in ``folder`` and its subfolders (call
    :func:`recover` first, which finishes an interrupted commit and then calls this)."""
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
    """Whether process ``pid`` exists (without disturbing it)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":                          # os.kill(pid, 0) would send it a Ctrl-C there
        return _alive_on_windows(pid)
    if not hasattr(os, "kill"):                  # one process only (Pyodide, WASI): a leftover
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM            # exists, but belongs to someone else
    return True


def _alive_on_windows(pid):
    import ctypes
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)       # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5                  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
    finally:                                                 # 259: STILL_ACTIVE
        kernel32.CloseHandle(handle)
