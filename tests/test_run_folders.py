"""`python -m convlab train` run folders (issue 13): never mixing runs (refused, --overwrite,
fresh default names, the lock), --out checked writable before training, --resume bit-identical
to one straight run, divergence, Ctrl-C while the data loads, broken pipes, errors in one line.

All runs use CONVLAB_SYNTHETIC_DATA=1 (a seeded stand-in for MNIST, see convlab.cli), so they need
no data and take a second or two; the crash-consistency test with real signals is
tests/test_interrupts.py."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import convlab.cli as cli
import convlab.train as train_mod
from convlab.atomic import FolderLock
from convlab.cli import main
from convlab.nets import load_net, params_digest

TINY = ["--net", "lenet-modern", "--train-size", "100", "--test-size", "50", "--batch-size", "50",
        "--train-eval-size", "50", "--quiet"]


@pytest.fixture(autouse=True)
def synthetic(monkeypatch):
    monkeypatch.setenv("CONVLAB_SYNTHETIC_DATA", "1")


def snapshot(folder):
    """Every file's bytes and modification time, by relative path."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def one_line(text):
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def train(out, *extra, epochs=1):
    return main(["train", "--epochs", str(epochs), "--out", str(out), *TINY, *extra])


# ---------------------------------------------------------------- item 2: no mixing of runs --

def test_an_out_holding_a_run_is_refused_and_left_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    before = snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        train(out, "--net", "lenet")
    assert e.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert snapshot(out) == before


def test_new_run_names_count_up_within_one_second(tmp_path, monkeypatch):
    from convlab.runfolder import new_run_name
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda *a: "20260101-120000")
    made = []
    for _ in range(3):
        made.append(new_run_name("lenet"))
        os.makedirs(made[-1])
    assert made == [os.path.join("runs", n) for n in
                    ("lenet-20260101-120000", "lenet-20260101-120000-2", "lenet-20260101-120000-3")]


def test_overwrite_replaces_the_run_completely(tmp_path):
    out = tmp_path / "run"
    assert train(out, epochs=2) == 0
    assert main(["train", "--epochs", "1", "--out", str(out), "--overwrite", *TINY, "--net", "lenet"]) == 0
    h = json.loads((out / "history.json").read_text())
    assert h["config"]["net"]["net"] == "lenet" and len(h["test_acc"]) == 1
    for f in ("params.npz", "checkpoints/last.npz", "checkpoints/best.npz"):
        net = load_net(out / f)
        assert net.config["net"] == "lenet" and params_digest(net.params) == h["params_sha256"][0]
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "checkpoints", "history.json",
                                                    "params.npz"]


def test_without_out_every_run_gets_a_fresh_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["train", "--epochs", "1", *TINY]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(re.fullmatch(r"lenet-modern-\d{8}-\d{6}(-\d+)?", r) for r in runs)
    assert f"in {os.path.join('runs', runs[0])}" in capsys.readouterr().out


def test_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / FolderLock.NAME).write_text(str(sleeper.pid))
        assert train(out) == 2
        err = one_line(capsys.readouterr().err)
        assert f"in use by process {sleeper.pid}" in err
        assert sorted(p.name for p in out.iterdir()) == [FolderLock.NAME]    # untouched
    finally:
        sleeper.kill()
        sleeper.wait()
    assert train(out) == 0                        # the lock of a finished process is taken over
    assert not (out / FolderLock.NAME).exists()


@pytest.mark.slow
def test_two_processes_into_one_folder(tmp_path):
    """Started together: one trains, the other is refused (exit 2) -- never a crash or a mix."""
    out = tmp_path / "run"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "convlab", "train", "--epochs", "2", "--out", str(out), *TINY]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    err = next(e for code, e in results if code == 2)
    assert "in use by process" in err or "already holds a run" in err
    assert "Traceback" not in err
    h = json.loads((out / "history.json").read_text())
    assert len(h["test_acc"]) == 2
    assert params_digest(load_net(out / "params.npz").params) == h["params_sha256"][-1]


# ---------------------------------------------------------------------- item 3: unwritable --

def _no_training(monkeypatch):
    def refuse(self):
        raise AssertionError("training started")
    monkeypatch.setattr(train_mod.Trainer, "train", refuse)


def test_unwritable_out_is_refused_before_training(tmp_path, monkeypatch, capsys):
    """chattr +i makes a folder unwritable even for root (chmod does not)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (see the monkeypatched test below)")
    try:
        _no_training(monkeypatch)
        for out in (locked, locked / "run"):      # the folder itself, or a read-only parent
            assert train(out) == 2
            err = one_line(capsys.readouterr().err)
            assert f"--out '{out}' is not a writable folder" in err
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert list(locked.iterdir()) == []


def test_unwritable_out_is_refused_before_training_monkeypatched(tmp_path, monkeypatch, capsys):
    _no_training(monkeypatch)

    def no_write(self):
        raise PermissionError(13, "Permission denied", self.path)
    monkeypatch.setattr(FolderLock, "acquire", no_write)
    assert train(tmp_path / "run") == 2
    assert "is not a writable folder: Permission denied" in one_line(capsys.readouterr().err)
    monkeypatch.undo()
    assert not (tmp_path / "run").exists()        # the folder it created is removed again


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit) as e:
        train(tmp_path / "f")
    assert e.value.code == 2 and "is not a directory" in one_line(capsys.readouterr().err)


# ------------------------------------------------------------------------------- resume --

@pytest.mark.slow
def test_resume_is_bit_identical_to_one_straight_run(tmp_path, capsys):
    """2 epochs, then --resume --epochs 4 == 4 epochs straight: the same params, bit for bit
    (Adam's m, v and t, the shuffling, shift and dropout streams, the lr schedule all restored)."""
    a, b = tmp_path / "a", tmp_path / "b"
    opts = ["--net", "alexnet", "--width", "0.25", "--shift", "1", "--lr-decay", "0.8", "--seed", "4"]
    assert train(a, *opts, epochs=2) == 0
    assert main(["train", "--resume", "--epochs", "4", "--out", str(a), "--quiet"]) == 0
    assert train(b, *opts, epochs=4) == 0
    ha, hb = (json.loads((d / "history.json").read_text()) for d in (a, b))
    assert ha["params_sha256"] == hb["params_sha256"] and len(ha["params_sha256"]) == 4
    assert ha["loss"] == hb["loss"] and ha["test_acc"] == hb["test_acc"] and ha["lr"] == hb["lr"]
    assert (a / "params.npz").read_bytes() == (b / "params.npz").read_bytes()
    assert (a / "checkpoints" / "state.npz").read_bytes() == (b / "checkpoints" / "state.npz").read_bytes()
    assert ha["resumed_by"] == [f"python -m convlab train --resume --epochs 4 --out {a} --quiet"]
    assert ha["command"].startswith("python -m convlab train --epochs 2")


@pytest.mark.parametrize("extra, words", [
    (["--lr", "0.01"], "optimizer_param"),
    (["--seed", "3"], "seed is 0 there, 3 here"),
    (["--net", "simple"], "net is"),
    (["--epochs", "1"], "already has 1 epoch"),
])
def test_resume_refuses_what_does_not_fit(tmp_path, capsys, extra, words):
    out = tmp_path / "run"
    assert train(out) == 0
    before = snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--out", str(out), "--quiet", *extra])
    assert e.value.code == 2
    assert words in one_line(capsys.readouterr().err)
    assert snapshot(out) == before


def test_resume_needs_a_run(tmp_path, capsys):
    for argv in (["train", "--resume"], ["train", "--resume", "--out", str(tmp_path)],
                 ["train", "--resume", "--overwrite", "--out", str(tmp_path)]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        one_line(capsys.readouterr().err)


# ---------------------------------------------------------------------- item 6: divergence --

def test_a_huge_learning_rate_stops_with_a_clear_message(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--lr", "1e308") == 1
    err = one_line(capsys.readouterr().err)
    assert "diverged in epoch 1" in err and "learning rate" in err and "nothing was kept" in err
    assert not out.exists()


def test_divergence_keeps_the_last_finite_epoch(tmp_path, monkeypatch, capsys):
    real_step = train_mod.Trainer.train_step

    def step(self, x, t):
        if len(self.history["test_acc"]) == 1:
            self.optimizer.lr = 1e308                       # epoch 2 blows up
        return real_step(self, x, t)
    monkeypatch.setattr(train_mod.Trainer, "train_step", step)
    out = tmp_path / "run"
    assert train(out, epochs=3) == 1
    err = one_line(capsys.readouterr().err)
    assert "diverged in epoch 2" in err and f"{out} keeps epoch 1 of 3" in err
    h = json.loads((out / "history.json").read_text())
    assert h["diverged"]["epoch"] == 2 and len(h["test_acc"]) == 1
    net = load_net(out / "params.npz")                      # refused if it were not finite
    assert params_digest(net.params) == h["params_sha256"][0]


# ------------------------------------------------------------- item 10: the CLI's manners --

def test_ctrl_c_while_the_data_loads_is_quiet(tmp_path, monkeypatch, capsys):
    def loading(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_load_data", loading)
    assert train(tmp_path / "run") == 130
    assert one_line(capsys.readouterr().err) == "interrupted: nothing was kept; " \
                                                f"{tmp_path / 'run'} removed\n"
    assert not (tmp_path / "run").exists()
    assert main(["evaluate", str(Path(cli.__file__).parent / "weights" / "simple.npz")]) == 130
    assert one_line(capsys.readouterr().err) == "interrupted: nothing was written\n"


def test_evaluate_into_a_closed_pipe_is_quiet(tmp_path):
    """`python -m convlab evaluate ... | head -1`: no BrokenPipeError traceback."""
    params = Path(cli.__file__).parent / "weights" / "lenet.npz"
    env = dict(os.environ, CONVLAB_SYNTHETIC_DATA="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "convlab", "evaluate", str(params)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()                                       # what `head -1` does
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=120) in (0, 1)
    assert first.startswith(b"test accuracy:") and err == ""


def test_evaluate_refuses_a_net_for_other_images_or_classes(tmp_path, capsys):
    from convlab.nets import SimpleConvNet
    for kw, words in (({"output_size": 5}, "a net for 5 classes; expected 10"),
                      ({"input_dim": (3, 32, 32)}, "(C, H, W) = (3, 32, 32); expected (1, 28, 28)")):
        path = tmp_path / "other.npz"
        SimpleConvNet(seed=0, **kw).save_params(path)
        with pytest.raises(SystemExit) as e:
            main(["evaluate", str(path)])
        assert e.value.code == 2
        assert words in one_line(capsys.readouterr().err)


def test_every_exit_path_leaves_no_lock_or_temporary(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert train(out, epochs=2) == 0
    assert main(["train", "--resume", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == FolderLock.NAME]
    assert leftovers == []
    # a killed process's leftovers are cleared by the next run in the folder
    (out / "params.npz.999.tmp").write_bytes(b"half")
    (out / FolderLock.NAME).write_text("999999999")
    assert main(["train", "--resume", "--epochs", "4", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "checkpoints", "history.json",
                                                    "params.npz"]


@pytest.mark.slow
def test_kept_line_names_epochs(tmp_path):
    out = tmp_path / "x"
    assert train(out, epochs=2) == 0
    folder = cli.RunFolder(str(out))
    assert folder.kept() == (f"{out} keeps epoch 2 of 2 (params.npz, history.json, accuracy.png, "
                             f"checkpoints/); continue with --resume --out {out}")
    shutil.rmtree(out)
    assert folder.kept() == "nothing was kept"


@pytest.mark.parametrize("key, value, words", [("net", ["simple"], "--net: invalid choice"),
                                               ("lr", "fast", "--lr: expected a positive number"),
                                               ("cli_args", None, "is not a history written by")])
def test_resume_checks_the_stored_options_like_typed_ones(tmp_path, capsys, key, value, words):
    out = tmp_path / "run"
    assert train(out) == 0
    h = json.loads((out / "history.json").read_text())
    if key == "cli_args":
        h[key] = value
    else:
        h["cli_args"][key] = value
    (out / "history.json").write_text(json.dumps(h))
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--epochs", "2", "--out", str(out)])
    assert e.value.code == 2 and words in one_line(capsys.readouterr().err)


def test_a_folder_made_by_another_process_in_between_is_used(tmp_path, monkeypatch):
    # The race behind test_two_processes_into_one_folder, made certain: the folder does not
    # exist when checked and exists when this process tries to make it (the other one did).
    from convlab import runfolder
    out = tmp_path / "run"
    out.mkdir()
    real_isdir, calls = os.path.isdir, []

    def isdir_late(path):
        calls.append(path)
        return False if len(calls) == 1 else real_isdir(path)
    monkeypatch.setattr(runfolder.os.path, "isdir", isdir_late)
    folder = runfolder.RunFolder(str(out))
    folder.open()                                 # no "not a writable folder: File exists"
    try:
        assert not folder.created                 # not ours: close() must not remove it
    finally:
        folder.close()
    assert out.is_dir()


# ------------------------------- issue 20: hard kills, SIGTERM, hostile inputs, portability --

CMD = [sys.executable, "-m", "convlab", "train", *TINY, "--seed", "1"]


def run_cli(out, *extra, kill=None):
    return run_clis([(out, extra, kill)])[0]


def run_clis(runs):
    """Run `python -m convlab train` for each (out, extra options, kill) two at a time."""
    done = []
    for i in range(0, len(runs), 2):
        started = []
        for out, extra, kill in runs[i:i + 2]:
            env = dict(os.environ, CONVLAB_SYNTHETIC_DATA="1", OPENBLAS_NUM_THREADS="1")
            env.pop("CONVLAB_TEST_KILL_AT", None)
            if kill is not None:
                env["CONVLAB_TEST_KILL_AT"] = kill
            started.append(subprocess.Popen(CMD + ["--out", str(out), *extra], env=env, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for p in started:
            stdout, stderr = p.communicate(timeout=300)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return done


def leftovers(out):
    from convlab.atomic import JOURNAL
    return [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name in (".lock", JOURNAL)]


def one_epoch_everywhere(out):
    """The folder's files all describe the same epoch E (returned)."""
    h = json.loads((out / "history.json").read_text())
    E = len(h["test_acc"])
    inner = json.loads((out / "checkpoints" / "history.json").read_text())
    assert inner["params_sha256"] == h["params_sha256"] and inner["loss"] == h["loss"]
    for f in ("params.npz", "checkpoints/last.npz"):
        assert params_digest(load_net(out / f).params) == h["params_sha256"][E - 1], f
    from convlab.npz import read_npz
    assert json.loads(str(read_npz(out / "checkpoints" / "state.npz")["__state__"]))["epoch"] == E
    return E


@pytest.mark.slow
def test_sigkill_at_every_step_of_an_epochs_save_resumes_bit_identically(tmp_path):
    """A real process SIGKILLs itself before each step of epoch 2's save in turn
    (CONVLAB_TEST_KILL_AT, see convlab.atomic); `--resume` then always ends bit for bit where an
    uninterrupted run ends. The steps are counted until a run is no longer killed."""
    ref = run_cli(tmp_path / "ref", "--epochs", "3")
    assert ref.returncode == 0, ref.stderr
    ref_h = json.loads((tmp_path / "ref" / "history.json").read_text())
    kept, k, finished = [], 0, False
    while not finished:
        ks = [k + 1, k + 2]                                      # two at a time
        k += 2
        outs = [tmp_path / f"kill{j:02d}" for j in ks]
        killed = []
        for j, out, r in zip(ks, outs, run_clis([(o, ("--epochs", "2"), f"2:{j}") for j, o in zip(ks, outs)])):
            if r.returncode == 0:                                # past the save's last step
                finished = True
                continue
            assert not finished and r.returncode == -signal.SIGKILL, (j, r.returncode, r.stderr)
            cli.RunFolder.recovered(str(out))                    # what the next run does first
            assert leftovers(out) == [], j
            kept.append(one_epoch_everywhere(out))
            killed.append((j, out))
        for (j, out), r in zip(killed, run_clis([(o, ("--resume", "--epochs", "3"), None) for _, o in killed])):
            assert r.returncode == 0, (j, r.stderr)
            h = json.loads((out / "history.json").read_text())
            for key in ("params_sha256", "loss", "test_acc", "train_acc", "best_epoch"):
                assert h[key] == ref_h[key], (j, key)
            assert params_digest(load_net(out / "params.npz").params) == ref_h["params_sha256"][-1]
            assert leftovers(out) == [], j
    n = len(kept)
    assert n >= 2 * 6 + 3, kept              # 6 or 7 files: written, journal, renamed, journal removed
    assert kept == [1] * kept.count(1) + [2] * kept.count(2) and kept.count(1) >= 7 and kept.count(2) >= 7, kept


def test_a_folder_left_mid_save_by_a_kill_is_recovered_by_the_next_run(tmp_path, monkeypatch):
    """In process: the save of epoch 1 of a fresh run stops (as if killed) right after its
    journal is in place, before history.json exists; --resume finishes that save and continues
    from epoch 1 instead of finding "no run"."""
    import convlab.atomic as atomic
    out = tmp_path / "run"

    class Killed(BaseException):
        pass

    def kill(number, step):
        if (out / atomic.JOURNAL).exists():    # the first step after the journal is in place
            raise Killed
    monkeypatch.setattr(atomic, "step_hook", kill)
    with pytest.raises(Killed):
        train(out, epochs=1)
    monkeypatch.setattr(atomic, "step_hook", None)
    assert (out / atomic.JOURNAL).exists() and not (out / "history.json").exists()
    (out / ".lock").write_text("999999999")                        # as a killed process leaves it
    with pytest.raises(SystemExit) as e:                           # a saved epoch: not a fresh folder
        train(out, epochs=1)
    assert e.value.code == 2
    seen = []
    monkeypatch.setattr(train_mod.Trainer, "train", lambda self: seen.append(len(self.history["test_acc"]))
                        or self.history)
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out)]) == 0
    assert seen == [1]                                             # resumed after epoch 1
    assert one_epoch_everywhere(out) == 1 and leftovers(out) == []


def start_cli(out, *extra):
    env = dict(os.environ, CONVLAB_SYNTHETIC_DATA="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen(CMD + ["--out", str(out), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigterm_during_training_stops_like_ctrl_c_with_exit_143(tmp_path):
    """SIGTERM (kill, a scheduler, a service manager) when the first save appears: that save is
    finished, the line is the Ctrl-C one, the code 143, and no lock or temporary is left."""
    out = tmp_path / "run"
    p = start_cli(out, "--epochs", "50")
    while p.poll() is None and not (out / "history.json").exists() \
            and not any(n.endswith(".tmp") for n in (os.listdir(out) if out.exists() else [])):
        time.sleep(0.002)
    p.send_signal(signal.SIGTERM)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert one_line(err).startswith(f"interrupted: {out} keeps epoch ")
    E = one_epoch_everywhere(out)
    assert f"keeps epoch {E} of 50" in err and E >= 1 and leftovers(out) == []


def test_sigterm_in_process_is_like_ctrl_c(tmp_path, monkeypatch, capsys):
    real_step = train_mod.Trainer.train_step

    def step(self, x, t):
        if len(self.history["loss"]) == 3:                 # epoch 2, after one step
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, x, t)
    monkeypatch.setattr(train_mod.Trainer, "train_step", step)
    out = tmp_path / "run"
    missed = []                                      # SIGTERMs that convlab did not take over
    previous = signal.signal(signal.SIGTERM, lambda s, f: missed.append(s))
    try:
        code = train(out, epochs=3)
    finally:
        handed_back = signal.signal(signal.SIGTERM, previous)
    assert code == 143 and missed == []
    assert one_line(capsys.readouterr().err) == (f"interrupted: {out} keeps epoch 1 of 3 (params.npz, "
                                                 f"history.json, accuracy.png, checkpoints/); continue "
                                                 f"with --resume --out {out}\n")
    assert one_epoch_everywhere(out) == 1 and leftovers(out) == []
    assert handed_back.__name__ == "<lambda>"                           # the previous handler


STARTUP = """
import os, signal, sys
class SignalWhenImported:                  # delivers the signal while convlab imports NumPy
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, SignalWhenImported())
from convlab.cli import run
run()
"""


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_while_the_command_starts_is_one_line(tmp_path, sig, code):
    """The `convlab` script (or python -m convlab) stopped while it imports: no traceback."""
    script = tmp_path / "bin" / "convlab"
    script.parent.mkdir()
    script.write_text(STARTUP.replace("{sig}", sig))
    env = dict(os.environ, CONVLAB_SYNTHETIC_DATA="1")
    r = subprocess.run([sys.executable, str(script), "train", "--out", str(tmp_path / "run")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (code, "interrupted: nothing was written\n")
    assert not (tmp_path / "run").exists()


def test_training_into_a_run_folder_without_fcntl(tmp_path):
    """Windows and Pyodide have no fcntl: the package imports and a run folder works."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "from convlab.cli import main\n"
            f"sys.exit(main(['train', '--epochs', '2', '--out', {str(tmp_path / 'run')!r}, *{TINY!r}]))")
    env = dict(os.environ, CONVLAB_SYNTHETIC_DATA="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert one_epoch_everywhere(tmp_path / "run") == 2 and leftovers(tmp_path / "run") == []


@pytest.mark.parametrize("where, entry, value, words", [
    ("history.json", "resumed_by", 5, "'resumed_by' must be a list of strings"),
    ("history.json", "wall_seconds", "x", "'wall_seconds' must be a number of seconds"),
    ("history.json", "test_acc", "ab", "'test_acc' must be a list of numbers"),
    ("checkpoints/history.json", "test_acc", "ab", "'test_acc' must be a list of numbers"),
    ("history.json", "dataset", ["mnist"], "'dataset' must be a string"),
])
def test_resume_refuses_a_hand_edited_history_in_one_line(tmp_path, capsys, where, entry, value, words):
    out = tmp_path / "run"
    assert train(out) == 0
    h = json.loads((out / where).read_text())
    h[entry] = value
    (out / where).write_text(json.dumps(h))
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--epochs", "2", "--out", str(out)])
    assert e.value.code == 2 and words in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("where", ["history.json", "checkpoints/history.json"])
def test_resume_refuses_json_nested_100000_deep_in_one_line(tmp_path, capsys, where):
    out = tmp_path / "run"
    assert train(out) == 0
    (out / where).write_text('{"config": ' + "[" * 100000 + "]" * 100000 + "}")
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--epochs", "2", "--out", str(out)])
    assert e.value.code == 2 and "nested too deeply" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("missing", ["checkpoints/last.npz", "checkpoints/state.npz"])
def test_resume_without_a_checkpoint_file_is_exit_2_naming_it(tmp_path, capsys, missing):
    out = tmp_path / "run"
    assert train(out) == 0
    (out / missing).unlink()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--epochs", "2", "--out", str(out)])
    err = one_line(capsys.readouterr().err)
    assert e.value.code == 2 and f"no {missing.split('/')[1]}" in err and "Errno" not in err


@pytest.mark.parametrize("extra, words", [
    (["--shift", "1000000"], "--shift must be at most 14"),
    (["--shift", "15"], "--shift must be at most 14"),
    (["--net", "alexnet", "--width", "1e9"], "--width: expected a channel multiplier in (0, 8]"),
])
def test_sizes_that_would_exhaust_memory_are_refused_up_front(tmp_path, capsys, monkeypatch, extra, words):
    _no_training(monkeypatch)
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path / "run"), *TINY, *extra])
    assert e.value.code == 2 and words in one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_a_huge_learning_rate_warns_in_one_line(tmp_path, capsys):
    code = train(tmp_path / "run", "--lr", "1e5", "--optimizer", "sgd")
    err = capsys.readouterr().err
    assert err.startswith("python -m convlab: warning: the first step changed ")
    assert "the learning rate (100000.0) is probably far too large" in err and "Traceback" not in err
    assert code in (0, 1)


@pytest.mark.parametrize("name, words", [("last.npz", "does not hold the params of epoch 2"),
                                         ("state.npz", "state.npz does not hold the optimiser state")])
def test_resume_refuses_a_checkpoint_of_an_earlier_epoch(tmp_path, capsys, name, words):
    one, two = tmp_path / "one", tmp_path / "two"
    assert train(one) == 0 and train(two, epochs=2) == 0
    shutil.copy(one / "checkpoints" / name, two / "checkpoints" / name)    # epoch 1's file
    before = snapshot(two)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--epochs", "3", "--out", str(two)])
    assert e.value.code == 2 and words in one_line(capsys.readouterr().err)
    assert snapshot(two) == before
