"""scripts/notebook_needs.py: which lessons `make test-notebooks` runs, skips or fails for
missing data, and the lessons' "convlab": {"needs": [...]} markers."""
from __future__ import annotations

import importlib.util
import json
import re
import urllib.request
from pathlib import Path

import pytest

from convlab import data

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

spec = importlib.util.spec_from_file_location("notebook_needs", ROOT / "scripts" / "notebook_needs.py")
notebook_needs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook_needs)


def write_nb(path: Path, needs=None) -> Path:
    metadata = {"kernelspec": {"name": "python3"}}
    if needs is not None:
        metadata["convlab"] = {"needs": needs}
    path.write_text(json.dumps({"cells": [], "metadata": metadata, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


def fill(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in data.FILES:
        (folder / f"{name}.gz").write_bytes(b"present; the loader checks the contents")
    return folder


@pytest.fixture
def nbs(tmp_path, monkeypatch):
    """Three notebooks (none, MNIST, both datasets); both datasets absent; no network."""
    def no_network(*args, **kwargs):
        raise AssertionError("notebook_needs must not download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("CONVLAB_FASHION_MNIST_DIR", str(tmp_path / "fashion"))
    monkeypatch.delenv("CONVLAB_REQUIRE_MNIST", raising=False)
    return [str(write_nb(tmp_path / "01_plain.ipynb")),
            str(write_nb(tmp_path / "06_mnist.ipynb", ["mnist"])),
            str(write_nb(tmp_path / "09_both.ipynb", ["mnist", "fashion-mnist"]))]


def test_without_data_the_lessons_that_need_it_are_skipped(nbs, tmp_path, capsys):
    assert notebook_needs.main(nbs) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [nbs[0]]
    assert err.splitlines() == [
        f"=== SKIPPED {nbs[1]}: needs MNIST",
        f"=== SKIPPED {nbs[2]}: needs MNIST, Fashion-MNIST",
        f"=== {data.how_to_get('mnist', python=notebook_needs._python())}",
        f"=== {data.how_to_get('fashion-mnist', python=notebook_needs._python())}",
    ]
    assert f"MNIST is not in {tmp_path / 'mnist'}: run `" in err
    assert "-m convlab.data mnist` (downloads it) or set CONVLAB_MNIST_DIR" in err
    assert not (tmp_path / "mnist").exists()  # nothing created, nothing downloaded


def test_under_require_mnist_they_fail(nbs, monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_REQUIRE_MNIST", "1")
    assert notebook_needs.main(nbs) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [nbs[0]]
    assert f"*** FAILED {nbs[1]}: needs MNIST (CONVLAB_REQUIRE_MNIST=1)" in err.splitlines()


def test_with_data_every_lesson_runs(nbs, tmp_path, monkeypatch, capsys):
    fill(tmp_path / "mnist")
    assert notebook_needs.main(nbs) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == nbs[:2]
    assert err.splitlines()[0] == f"=== SKIPPED {nbs[2]}: needs Fashion-MNIST"
    fill(tmp_path / "fashion")
    monkeypatch.setenv("CONVLAB_REQUIRE_MNIST", "1")
    assert notebook_needs.main(nbs) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == nbs and err == ""


@pytest.mark.parametrize("needs, message", [
    (["cifar10"], "name must be one of 'mnist', 'fashion-mnist', got 'cifar10'"),
    ("mnist", "metadata convlab.needs must be a list of dataset names, got 'mnist'"),
])
def test_bad_marker_fails(tmp_path, capsys, needs, message):
    nb = str(write_nb(tmp_path / "x.ipynb", needs))
    assert notebook_needs.main([nb]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"*** FAILED {nb}: {message}\n"


def test_data_folder_that_is_a_file_fails(nbs, tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(tmp_path / "file"))
    assert notebook_needs.main(nbs[:2]) == 1
    assert "must be a folder for the four MNIST files" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lessons_that_load_data_say_so(path):
    """A lesson that loads a dataset carries the marker, so make test-notebooks can skip it
    cleanly without the data; a lesson that does not, does not."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    loaded = set()
    if re.search(r"\bload_mnist\(", code):
        loaded.add("mnist")
    for m in re.finditer(r"\b(?:load_dataset|require)\(\s*['\"]([\w-]+)['\"]", code):
        loaded.add(m.group(1))
    assert set(notebook_needs.needs(path)) == loaded


def test_the_mnist_lessons_are_marked():
    marked = {p.name for p in NOTEBOOKS if "mnist" in notebook_needs.needs(p)}
    assert marked >= {"06_training.ipynb", "07_what_the_network_sees.ipynb",
                      "08_classic_cnns.ipynb"}
