"""convlab.atomic: saving several files together, holding Ctrl-C back during a save, the folder
lock. Real SIGINTs are sent to this very process (the main thread), as a terminal would."""
import os
import signal
import subprocess
import sys

import pytest

from convlab.atomic import FolderInUse, FolderLock, commit, remove_temporaries, sigint_deferred


def writer(data):
    return lambda f: f.write(data)


def test_commit_writes_every_file_and_leaves_no_temporary(tmp_path):
    commit([(tmp_path / "a", writer(b"1")), (tmp_path / "b", writer(b"2"))])
    assert (tmp_path / "a").read_bytes() == b"1" and (tmp_path / "b").read_bytes() == b"2"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_failing_writer_changes_no_file_and_leaves_no_temporary(tmp_path):
    for name in "ab":
        (tmp_path / name).write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError, match="No space"):
        commit([(tmp_path / "a", writer(b"new")), (tmp_path / "b", broken)])
    assert (tmp_path / "a").read_bytes() == b"old" and (tmp_path / "b").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_ctrl_c_during_a_commit_waits_until_every_file_is_renamed(tmp_path):
    def press_ctrl_c(f):
        os.kill(os.getpid(), signal.SIGINT)       # delivered now, to this (main) thread
        os.kill(os.getpid(), signal.SIGINT)       # twice: still one KeyboardInterrupt, after
        f.write(b"x")
    with pytest.raises(KeyboardInterrupt):
        commit([(tmp_path / "a", press_ctrl_c), (tmp_path / "b", writer(b"y"))])
    assert (tmp_path / "a").read_bytes() == b"x" and (tmp_path / "b").read_bytes() == b"y"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_deferred_nests_and_goes_to_the_previous_handler():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda s, f: seen.append("handler"))
    try:
        with sigint_deferred():
            with sigint_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                seen.append("inner block finished")
            seen.append("outer block finished")
        seen.append("after")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["inner block finished", "outer block finished", "handler", "after"]
    with sigint_deferred():                       # no signal: nothing happens afterwards
        pass


def test_remove_temporaries(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("params.npz.123.tmp", "sub/x.tmp", "keep.npz", "sub/keep.json"):
        (tmp_path / name).write_text("")
    remove_temporaries(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == \
        ["keep.npz", os.path.join("sub", "keep.json")]


def test_folder_lock(tmp_path):
    with FolderLock(tmp_path) as lock:
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
        with pytest.raises(FolderInUse, match=f"in use by process {os.getpid()}"):
            FolderLock(tmp_path).acquire()
        assert lock.held
    assert not (tmp_path / ".lock").exists()
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / ".lock").write_text(done.stdout.strip())      # a process that is gone
    with FolderLock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    (tmp_path / ".lock").write_text("")                       # unreadable: someone's, refuse
    with pytest.raises(FolderInUse, match="delete it if no run uses that folder"):
        FolderLock(tmp_path).acquire()
    with pytest.raises(OSError):
        FolderLock(tmp_path / "missing").acquire()            # not writable: OSError, not FolderInUse
