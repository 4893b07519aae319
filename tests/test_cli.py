"""`python -m convlab train` / `evaluate`: help, bad arguments (exit 2), and tiny real runs on
MNIST subsets (in-process via main(argv), and once via a subprocess).

Runs that need MNIST are skipped when it is absent, unless CONVLAB_REQUIRE_MNIST=1 (then they fail)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convlab.train as train_mod
from convlab.analysis import confusion_matrix
from convlab.cli import build_parser, format_confusion, main
from convlab.data import FILES
from convlab.nets import load_net

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mnist_dir():
    env = os.environ.get("CONVLAB_MNIST_DIR", "").strip()
    d = Path(env) if env else REPO.parent / "shared" / "data" / "mnist"
    if all((d / f"{n}.gz").is_file() or (d / n).is_file() for n in FILES):
        return str(d)
    message = f"MNIST not found in {d} (set CONVLAB_MNIST_DIR)"
    if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
        pytest.fail(message + " and CONVLAB_REQUIRE_MNIST=1")
    pytest.skip(message)


TINY = ["--train-size", "300", "--test-size", "200", "--train-eval-size", "100", "--quiet"]


# ---------------------------------------------------------------------------------- help --

def _sub(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_documents_every_option(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for action in _sub(command)._actions:
        for opt in action.option_strings or [action.metavar]:
            assert opt in text, opt
        assert action.help, f"option {action.dest} has no help"


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "evaluate" in out


# --------------------------------------------------------------------------- bad arguments --

@pytest.mark.parametrize("argv, words", [
    ([], "COMMAND"),
    (["fly"], "fly"),
    (["train", "--net", "resnet"], "--net"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "two"], "--epochs"),
    (["train", "--batch-size", "-5"], "--batch-size"),
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--optimizer", "rmsprop"], "--optimizer"),
    (["train", "--lr-decay", "1.5"], "--lr-decay"),
    (["train", "--lr-decay", "0"], "--lr-decay"),
    (["train", "--shift", "-1"], "--shift"),
    (["train", "--dtype", "float16"], "--dtype"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--net", "simple", "--width", "0.5"], "--width"),
    (["evaluate"], "PARAMS"),
    (["evaluate", "no/such/file.npz"], "no/such/file.npz"),
])
def test_bad_arguments_exit_2_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_evaluate_refuses_a_file_that_is_not_params(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(bad)])
    assert e.value.code == 2
    assert "cannot be loaded" in capsys.readouterr().err


def test_missing_mnist_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", "http://127.0.0.1:9/")   # nothing listens there
    code = main(["train", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "MNIST is not available" in err and "four MNIST files" in err


def test_overwrite_without_out_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                       # where runs/<name> would appear
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", "http://127.0.0.1:9/")   # nothing listens there
    with pytest.raises(SystemExit) as e:
        main(["train", "--overwrite", "--data-dir", str(tmp_path / "empty"), "--quiet"])
    assert e.value.code == 2 and "--overwrite needs --out" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_the_largest_shift_is_allowed_and_one_more_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", "http://127.0.0.1:9/")   # nothing listens there
    args = ["--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(["train", "--shift", "14", *args]) == 1                  # past the arguments
    assert "MNIST is not available" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "--shift", "15", *args])
    assert e.value.code == 2 and "--shift must be at most 14" in capsys.readouterr().err


def test_missing_fashion_mnist_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_FASHION_MNIST_MIRRORS", "http://127.0.0.1:9/")   # nothing listens
    code = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Fashion-MNIST is not available" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


# ------------------------------------------------------------------------------ real runs --

@pytest.mark.slow
def test_train_then_evaluate_in_process(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--net", "simple", "--epochs", "2", "--data-dir", mnist_dir,
                 "--out", str(out), "--seed", "7", *TINY])
    assert code == 0
    for name in ("params.npz", "history.json", "accuracy.png", "checkpoints/last.npz",
                 "checkpoints/best.npz"):
        assert (out / name).is_file(), name
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h = json.loads((out / "history.json").read_text())
    assert len(h["test_acc"]) == 2 and len(h["loss"]) == 2 * 3
    assert h["config"]["seed"] == 7 and h["config"]["train_size"] == 300
    assert h["config"]["test_size"] == 200 and h["command"].startswith("python -m convlab train")
    net = load_net(out / "params.npz")
    assert all(p.dtype == np.float32 for p in net.params.values())
    capsys.readouterr()

    assert main(["evaluate", str(out / "params.npz"), "--data-dir", mnist_dir, "--test-size", "200"]) == 0
    text = capsys.readouterr().out
    acc = float(re.search(r"test accuracy: ([0-9.]+) \((\d+)/200", text).group(1))
    assert acc == pytest.approx(h["test_acc"][-1], abs=1e-12)
    rows = [line.split() for line in text.splitlines() if re.match(r"^\s+\d\s", line)]
    assert len(rows) == 10
    counts = np.array([[int(v) for v in r[1:11]] for r in rows])
    assert counts.sum() == 200 and np.trace(counts) == round(acc * 200)


def test_same_seed_same_cli_run(mnist_dir, tmp_path):
    for run in ("a", "b"):
        assert main(["train", "--epochs", "1", "--data-dir", mnist_dir, "--out", str(tmp_path / run),
                     "--seed", "3", *TINY]) == 0
    ha, hb = (json.loads((tmp_path / r / "history.json").read_text()) for r in ("a", "b"))
    assert ha["loss"] == hb["loss"] and ha["test_acc"] == hb["test_acc"]


def test_ctrl_c_keeps_the_last_complete_epoch(mnist_dir, tmp_path, monkeypatch, capsys):
    real_step = train_mod.Trainer.train_step

    def step(self, x, t):
        if len(self.history["loss"]) == 4:                  # second epoch, after one step
            raise KeyboardInterrupt
        return real_step(self, x, t)
    monkeypatch.setattr(train_mod.Trainer, "train_step", step)
    out = tmp_path / "run"
    code = main(["train", "--epochs", "3", "--data-dir", mnist_dir, "--out", str(out), *TINY])
    assert code == 130
    h = json.loads((out / "history.json").read_text())
    assert h["interrupted"] and len(h["test_acc"]) == 1 and len(h["loss"]) == 3
    params = load_net(out / "params.npz").params
    last = load_net(out / "checkpoints" / "last.npz").params   # the end of epoch 1
    assert all(np.array_equal(params[k], last[k]) for k in params)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"interrupted: {out} keeps epoch 1 of 3" in err


def test_ctrl_c_in_the_first_epoch_keeps_nothing(mnist_dir, tmp_path, monkeypatch, capsys):
    def step(self, x, t):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_mod.Trainer, "train_step", step)
    out = tmp_path / "run"
    assert main(["train", "--data-dir", mnist_dir, "--out", str(out), *TINY]) == 130
    assert not out.exists()                                  # created by the run, removed again
    assert "interrupted: nothing was kept" in capsys.readouterr().err


@pytest.mark.slow
def test_subprocess_train_and_evaluate(mnist_dir, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "convlab", "train", "--net", "lenet-modern",
                        "--epochs", "1", "--data-dir", mnist_dir, "--out", str(out), *TINY],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "final test accuracy" in r.stdout and (out / "params.npz").is_file()
    r = subprocess.run([sys.executable, "-m", "convlab", "evaluate", str(out / "params.npz"),
                        "--data-dir", mnist_dir, "--test-size", "200"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "test accuracy:" in r.stdout and "rows: true digit" in r.stdout
    r = subprocess.run([sys.executable, "-m", "convlab", "train", "--epochs", "0"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "--epochs" in r.stderr


def test_evaluate_imports_no_matplotlib_and_no_widgets():
    """`python -m convlab evaluate` is NumPy only: the core and the analysis it prints never
    import matplotlib or ipywidgets (issue 9). Checked in a fresh interpreter."""
    import subprocess
    import sys
    code = ("import sys, convlab.cli as c; c._import_for('evaluate'); "
            "import convlab.analysis, convlab.layers, convlab.nets, convlab.train, convlab.data, "
            "convlab.optim, convlab.im2col, convlab.arith; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'ipywidgets')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------- --dataset (issue 11) --
# On CONVLAB_SYNTHETIC_DATA (no real data needed): what is checked is the bookkeeping.

SYNTH = ["--net", "lenet-modern", "--train-size", "100", "--test-size", "50", "--batch-size", "50",
         "--train-eval-size", "50", "--quiet"]


@pytest.fixture
def synthetic(monkeypatch):
    monkeypatch.setenv("CONVLAB_SYNTHETIC_DATA", "1")


def _dataset_in(params):
    from convlab.npz import read_npz
    return str(read_npz(params)["__dataset__"])


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_the_dataset_is_stored_with_params_history_and_checkpoints(synthetic, dataset, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", dataset, "--epochs", "1", "--out", str(out), *SYNTH]) == 0
    h = json.loads((out / "history.json").read_text())
    assert h["dataset"] == dataset and h["cli_args"]["dataset"] == dataset
    for f in ("params.npz", "checkpoints/last.npz", "checkpoints/best.npz"):
        assert _dataset_in(out / f) == dataset, f
    assert load_net(out / "params.npz").dataset == dataset


def test_train_defaults_to_mnist_and_dataset_choices_come_from_data(synthetic, tmp_path):
    from convlab.data import DATASETS
    action = next(a for a in _sub("train")._actions if a.dest == "dataset")
    assert tuple(action.choices) == tuple(DATASETS) and action.default == "mnist"
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "cifar10", "--out", str(tmp_path / "x")])
    assert e.value.code == 2


def test_evaluate_refuses_params_of_another_dataset_in_one_line(synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out), *SYNTH]) == 0
    params = str(out / "params.npz")
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["evaluate", params, "--test-size", "50"])          # default --dataset mnist
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on fashion-mnist, not mnist" in err
    assert "--dataset fashion-mnist" in err and "--any-dataset" in err
    assert main(["evaluate", params, "--test-size", "50", "--any-dataset"]) == 0
    assert main(["evaluate", params, "--test-size", "50", "--dataset", "fashion-mnist"]) == 0
    text = capsys.readouterr().out
    assert "rows: true class" in text
    for i, name in enumerate(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                              "Shirt", "Sneaker", "Bag", "Ankle boot"]):
        assert re.search(rf"^\s*{i} {re.escape(name)}\s+\d", text, re.M), name


def test_params_without_a_dataset_count_as_mnist(synthetic, tmp_path, capsys):
    old = tmp_path / "old.npz"
    net = load_net(REPO / "convlab" / "weights" / "lenet-modern.npz")
    assert net.dataset is None                                 # the shipped MNIST files predate it
    net.save_params(old)
    assert main(["evaluate", str(old), "--test-size", "50"]) == 0
    assert "rows: true digit" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(old), "--test-size", "50", "--dataset", "fashion-mnist"])
    assert e.value.code == 2 and "trained on mnist, not fashion-mnist" in capsys.readouterr().err


def test_resume_keeps_the_dataset_and_refuses_another(synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out), *SYNTH]) == 0
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--out", str(out), "--epochs", "2", "--dataset", "mnist"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trains on fashion-mnist; got --dataset mnist" in err
    assert len(json.loads((out / "history.json").read_text())["test_acc"]) == 1   # untouched
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2"]) == 0   # resumed as is
    h = json.loads((out / "history.json").read_text())
    assert len(h["test_acc"]) == 2 and h["dataset"] == "fashion-mnist"
    assert _dataset_in(out / "params.npz") == "fashion-mnist"


def test_resume_chooses_quiet_anew(synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *SYNTH]) == 0     # --quiet
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2"]) == 0
    said = capsys.readouterr()
    assert "epoch   2/2: train acc" in said.out + said.err


def test_resume_of_a_run_without_a_dataset_means_mnist(synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *SYNTH]) == 0
    f = out / "history.json"                                   # as written before datasets
    h = json.loads(f.read_text())
    del h["dataset"], h["cli_args"]["dataset"]
    f.write_text(json.dumps(h))
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--out", str(out), "--epochs", "2", "--dataset", "fashion-mnist"])
    assert e.value.code == 2 and "trains on mnist" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2"]) == 0


def test_format_confusion_names_rows_only_when_names_are_not_digits():
    m = np.eye(10, dtype=int) * 3
    digits = format_confusion(m, [str(i) for i in range(10)])
    assert digits == format_confusion(m) and digits.startswith("rows: true digit")
    named = format_confusion(m, ["T-shirt/top"] + [f"c{i}" for i in range(1, 10)])
    assert "0 T-shirt/top" in named and named.startswith("rows: true class")
