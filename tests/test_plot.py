"""convlab.plot: the chapter's accuracy figure, drawn by the core (the CLI's accuracy.png) and by
the lessons (draw.plot_history builds on it); matplotlib only while it draws."""
from __future__ import annotations

import io
import pathlib
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from convlab.plot import accuracy_curves, save_accuracy_png  # noqa: E402

H = {"train_acc": [0.9, 0.95, 0.97], "test_acc": [0.89, 0.93, 0.96]}


def test_one_run_is_the_chapter_figure():
    ax = accuracy_curves(Figure().subplots(), H, title="t")
    train, test = ax.get_lines()
    assert (train.get_marker(), test.get_marker()) == ("o", "s")
    assert list(train.get_xdata()) == [1, 2, 3] and list(test.get_ydata()) == H["test_acc"]
    assert ax.get_ylim() == (0.0, 1.0) and ax.get_xlim() == (0.5, 3.5) and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    assert [t.get_text() for t in ax.texts] == ["test 0.9600"]


def test_several_runs_share_a_colour_each_and_the_axis_can_fit_or_grow():
    runs = {"a": H, "b": {"train_acc": [0.5], "test_acc": [0.4]}}
    ax = accuracy_curves(Figure().subplots(), runs, ylim=None, epochs=5)
    a_test, a_train, b_test, b_train = ax.get_lines()
    assert a_test.get_color() == a_train.get_color() != b_test.get_color() == b_train.get_color()
    assert (a_test.get_linestyle(), a_train.get_linestyle()) == ("-", "--")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a: test", "a: train", "b: test", "b: train"]
    assert ax.get_xlim() == (0.5, 5.5) and ax.get_ylim()[0] < 0.4 and ax.get_ylim()[1] < 1.0
    assert not ax.texts                                   # no single final value to point at


def test_empty_history_draws_an_empty_axis():
    ax = accuracy_curves(Figure().subplots(), {"train_acc": [], "test_acc": []}, epochs=3)
    assert ax.get_xlim() == (0.5, 3.5) and not ax.texts


def test_save_accuracy_png_writes_a_png_with_its_description(tmp_path):
    buf = io.BytesIO()
    save_accuracy_png(H, buf, title="simple", description="epoch 3, params sha256 ab")
    im = Image.open(io.BytesIO(buf.getvalue()))
    assert im.format == "PNG" and im.text.get("Description") == "epoch 3, params sha256 ab"
    save_accuracy_png(H, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow                                 # a fresh interpreter loading matplotlib: ~1 s
def test_importing_it_loads_no_matplotlib_and_drawing_needs_no_pyplot(tmp_path):
    code = ("import sys, convlab.plot as p; assert 'matplotlib' not in sys.modules; "
            f"p.save_accuracy_png({H!r}, {str(tmp_path / 'b.png')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=pathlib.Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "ok", out.stderr
