"""convlab.atomic: saving several files together, holding Ctrl-C back during a save, the folder
lock. Real SIGINTs are sent to this very process (the main thread), as a terminal would."""
import json
import os
import signal
import subprocess
import sys

import pytest

import convlab.atomic as atomic
from convlab.atomic import FolderInUse, FolderLock, commit, recover, remove_temporaries, sigint_deferred


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


def test_ctrl_c_during_a_commit_waits_until_every_file_is_renamed(tmp_path, request):
    # Python's Ctrl-C handler, even when pytest was started with SIGINT ignored (nohup, `cmd &`)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

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


# ------------------------------------- a save is atomic as a whole, even under a hard kill --

def snapshots_of_a_commit(tmp_path, monkeypatch, files):
    """Run commit(files) in tmp_path/"work" and copy the folder just before every step it takes:
    each copy is exactly what a process killed (SIGKILL) at that instant would leave."""
    import shutil
    work, shots = tmp_path / "work", []

    def hook(number, step):
        shots.append(tmp_path / f"shot{step:02d}")
        shutil.copytree(work, shots[-1])
    monkeypatch.setattr(atomic, "step_hook", hook)
    commit([(work / name, writer(data)) for name, data in files])
    return shots


def contents(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_kill_at_any_step_of_a_commit_leaves_all_old_or_all_new_files(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    old = {"sub/a": b"old a", "sub/b": b"old b", "history": b"old h"}
    for name, data in old.items():
        (work / name).write_bytes(data)
    new = {"sub/a": b"new a", "sub/b": b"new b", "sub/c": b"new c", "history": b"new h"}
    shots = snapshots_of_a_commit(tmp_path, monkeypatch, list(new.items()))
    assert len(shots) == 2 * len(new) + 4          # writes, journal written, in place, renames, removed, end
    kept = []
    for shot in shots:
        recover(shot)
        kept.append("new" if contents(shot) == new else "old" if contents(shot) == old else contents(shot))
    # up to the journal's rename the old files stay; from then on the new ones are complete
    assert kept == ["old"] * (len(new) + 2) + ["new"] * (len(new) + 2), kept
    assert contents(work) == new


def test_a_reader_who_never_recovers_sees_the_last_file_renamed_last(tmp_path, monkeypatch):
    """The files are renamed in list order, so the last one (a history) never describes files
    that are not there yet."""
    work = tmp_path / "work"
    work.mkdir()
    names = ["a", "b", "history"]
    for name in names:
        (work / name).write_bytes(b"1")
    for shot in snapshots_of_a_commit(tmp_path, monkeypatch, [(n, b"2") for n in names]):
        now = [(shot / n).read_bytes() for n in names]
        assert now == sorted(now, reverse=True), now   # the new ones are a prefix of the list


def test_recover_finishes_a_half_renamed_commit_and_refuses_a_strange_journal(tmp_path):
    (tmp_path / "a").write_bytes(b"new a")                       # renamed already
    (tmp_path / "b.1.tmp").write_bytes(b"new b")                 # not yet
    (tmp_path / "b").write_bytes(b"old b")
    (tmp_path / "stray.2.tmp").write_bytes(b"half")              # a write cut short: garbage
    (tmp_path / atomic.JOURNAL).write_text(json.dumps({"renames": [["a.1.tmp", "a"], ["b.1.tmp", "b"]]}))
    recover(tmp_path)
    assert contents(tmp_path) == {"a": b"new a", "b": b"new b"}
    recover(tmp_path)                                           # nothing to do: nothing changes
    assert contents(tmp_path) == {"a": b"new a", "b": b"new b"}
    for bad in ("{", json.dumps({"renames": [["../x.tmp", "a"]]}), json.dumps({"renames": [["b", "a"]]}),
                "[" * 100000 + "]" * 100000):
        (tmp_path / atomic.JOURNAL).write_text(bad)
        with pytest.raises(ValueError, match="journal|outside|not a temporary"):
            recover(tmp_path)
    assert (tmp_path / "a").read_bytes() == b"new a"


def test_a_failing_write_after_others_leaves_no_journal(tmp_path):
    def broken(f):
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        commit([(tmp_path / "a", writer(b"1")), (tmp_path / "b", writer(b"2")), (tmp_path / "c", broken)])
    assert os.listdir(tmp_path) == []


def test_two_files_are_one_save_too(tmp_path, monkeypatch):
    """The smallest save that needs the journal: two files, killed at any step."""
    work = tmp_path / "work"
    work.mkdir()
    old, new = {"a": b"old a", "b": b"old b"}, {"a": b"new a", "b": b"new b"}
    for name, data in old.items():
        (work / name).write_bytes(data)
    kept = []
    for shot in snapshots_of_a_commit(tmp_path, monkeypatch, list(new.items())):
        recover(shot)
        kept.append("new" if contents(shot) == new else "old" if contents(shot) == old else contents(shot))
    assert kept == ["old"] * 4 + ["new"] * 4, kept


def test_recover_refuses_a_journal_naming_a_sibling_folder(tmp_path):
    """'run2' starts with 'run' but is not inside it."""
    run, sibling = tmp_path / "run", tmp_path / "run2"
    run.mkdir()
    sibling.mkdir()
    (sibling / "x.1.tmp").write_bytes(b"theirs")
    (run / atomic.JOURNAL).write_text(json.dumps({"renames": [["../run2/x.1.tmp", "x"]]}))
    with pytest.raises(ValueError, match="outside"):
        recover(run)
    assert contents(sibling) == {"x.1.tmp": b"theirs"} and not (run / "x").exists()


@pytest.mark.parametrize("pid", ["0", "-1"])
def test_a_lock_naming_no_possible_process_is_taken_over(tmp_path, pid):
    (tmp_path / ".lock").write_text(pid)                      # os.kill(0 or -1, 0) would succeed
    with FolderLock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())


def test_sigterm_is_deferred_like_ctrl_c(tmp_path):
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: seen.append("SIGTERM handled"))
    try:
        def terminate(f):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            seen.append("written")
            f.write(b"x")
        commit([(tmp_path / "a", terminate), (tmp_path / "b", writer(b"y"))])
        seen.append("committed")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["written", "SIGTERM handled", "committed"]
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_lock_works_without_fcntl_and_without_os_kill(tmp_path, monkeypatch):
    """Windows has no fcntl, Pyodide no other processes (and no os.kill): the lock file needs
    neither; without os.kill a lock of another process id is a leftover and is taken over."""
    monkeypatch.setitem(sys.modules, "fcntl", None)             # `import fcntl` fails
    with FolderLock(tmp_path):
        with pytest.raises(FolderInUse):
            FolderLock(tmp_path).acquire()
    monkeypatch.delattr(os, "kill")
    (tmp_path / ".lock").write_text(str(os.getpid() + 1))
    with FolderLock(tmp_path) as lock:
        assert lock.held and (tmp_path / ".lock").read_text() == str(os.getpid())
