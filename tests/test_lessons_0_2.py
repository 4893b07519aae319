"""Lessons 0-2 (convlab.lessons.lesson00 .. lesson02): the views never raise over their whole
slider ranges and return a View with the right text; they report the same output sizes and
uncovered counts as convlab.arith; every explorer redraws text and picture for every control;
the exercise checks follow convlab.lessons.check's convention (answer first, tuple/list/array/
NumPy scalar alike, nearly-right fails, junk never raises, exactly one line printed)."""
import itertools
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from convlab import arith  # noqa: E402
from convlab.analysis import coverage_1d, coverage_map  # noqa: E402
from convlab.layers import Convolution  # noqa: E402
from convlab.lessons import solutions  # noqa: E402
from convlab.lessons.check import NO_GUESS, SHOW, compare_guess  # noqa: E402
from convlab.nets import Net  # noqa: E402
from convlab.lessons import lesson00, lesson01, lesson02  # noqa: E402
from convlab.lessons.ui import View  # noqa: E402
import notebook_cells as nbc  # noqa: E402

R = lesson01.OUTPUT_SIZE_RANGES
C = lesson02.CONV_STEP_RANGES
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _rng(name, ranges=R):
    lo, hi = ranges[name]
    return range(lo, hi + 1)


def _arith(size, kernel, stride, pad, dilation):
    """(output size, uncovered) from convlab.arith, or (None, None) if the filter does not fit."""
    try:
        return (arith.conv_output_size(size, kernel, stride, pad, dilation),
                arith.uncovered(size, kernel, stride, pad, dilation))
    except ValueError:
        return None, None


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- lesson 0 --

def test_demo_view_returns_text_and_grid():
    for n in range(1, 9):
        v = lesson00.demo_view(n)
        assert isinstance(v, View)
        assert v.text == f"A {n} x {n} grid has {n * n} cells; the last one is number {n * n - 1}."
        assert v.fig.axes[0].get_title() == f"{n} x {n} = {n * n} cells"
        assert len(v.fig.axes[0].texts) == n * n
    assert not plt.get_fignums()  # a View closes its figure at once


def test_architecture_nets_follow_the_chapter_pattern():
    """The fully connected net is Affine-ReLU blocks ending in Affine-Softmax; the CNN replaces
    the first blocks by Conv-ReLU(-Pool) and keeps the last two; the shapes under the layers are
    the ones Net computes without running anything (Net.shapes)."""
    (fc_title, fc), (cnn_title, cnn) = lesson00.architecture_nets()
    kinds = lambda g: tuple(n.rstrip("0123456789") for n in g)  # noqa: E731
    fc_groups = [kinds(g) for g in lesson00._groups([n for n, _ in fc])]
    cnn_groups = [kinds(g) for g in lesson00._groups([n for n, _ in cnn])]
    assert fc_groups == [("Affine", "Relu")] * 4 + [("Affine", "Softmax")]
    assert cnn_groups[-2:] == fc_groups[-2:] and len(cnn_groups) == len(fc_groups)
    assert all(g in (("Conv", "Relu", "Pool"), ("Conv", "Relu")) for g in cnn_groups[:-2])
    assert ("Conv", "Relu", "Pool") in cnn_groups and ("Conv", "Relu") in cnn_groups
    for spec, layers in ((lesson00.FC_SPEC, fc), (lesson00.CNN_SPEC, cnn)):
        want = Net(input_dim=(1, 28, 28), spec=spec).shapes[1:]          # [(name, shape), ...]
        assert layers[:-1] == [(n, tuple(s)) for n, s in want]
        assert layers[-1] == ("Softmax", (10,))


def test_architecture_view_draws_every_layer_with_its_shape():
    v = lesson00.architecture_view()
    assert isinstance(v, View) and v.fig is not None
    texts = [t.get_text() for t in v.fig.axes[0].texts]
    drawn = list(zip(texts, texts[1:]))                                  # (name, shape) pairs
    for _, layers in lesson00.architecture_nets():
        for name, shape in layers:
            assert (name, "x".join(map(str, shape))) in drawn
    assert v.text.splitlines()[1].startswith("CNN: input 1x28x28 -> Conv-Relu-Pool (16x14x14)")
    assert "first 3 Affine-ReLU blocks became Conv-ReLU(-Pool)" in v.text


# ----------------------------------------------------------------------------- lesson 1 --

def test_output_size_report_matches_arith_over_every_slider_value():
    """Every (H, FH, padding, stride, dilation) of the explorer; W and FW run through their
    ranges alongside, so each axis sees every value."""
    n = 0
    for H, FH, P, S, D in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride"),
                                            _rng("dilation")):
        W, FW = 13 - H, 8 - FH
        rep = lesson01.output_size_report(H, W, FH, FW, P, S, D)
        oh, uh = _arith(H, FH, S, P, D)
        ow, uw = _arith(W, FW, S, P, D)
        assert rep["text"].splitlines()[0].startswith("Output size:")
        if oh is None or ow is None:
            assert not rep["fits"] and rep["OH"] is None and rep["OW"] is None
            assert "does not fit" in rep["text"] and "no window fits" in rep["text"]
            # the stride shows in a formula, or is named when neither axis has one
            assert (f"Stride {S} plays no part" in rep["text"]) == (oh is None and ow is None)
            assert f"/{S} + 1" in rep["text"] or f"Stride {S} plays" in rep["text"]
            continue
        n += 1
        assert rep["fits"]
        assert (rep["OH"], rep["OW"]) == (oh, ow)
        assert rep["text"].splitlines()[0] == f"Output size: OH = {oh}, OW = {ow}"
        assert (rep["uncovered_rows"], rep["uncovered_cols"]) == (uh, uw)
        assert ("never covered" in rep["text"]) == bool(uh or uw)
        # input rows no window uses, counted independently from the coverage map
        cov = coverage_1d(H, FH, S, P, D)
        assert rep["lost_rows"] == int((cov[P:P + H] == 0).sum())
    assert n > 3000  # most settings fit: the loop really checked sizes


def test_coverage_map_counts_every_tap_once():
    for H, FH, P, S, D in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride"),
                                            _rng("dilation")):
        cov = coverage_map(H, 5, FH, 2, P, S, D)
        assert cov.shape == (H + 2 * P, 5 + 2 * P)
        oh, u = _arith(H, FH, S, P, D)
        ow, _ = _arith(5, 2, S, P, D)
        if oh is None or ow is None:
            assert cov.sum() == 0
            continue
        assert cov.sum() == oh * ow * FH * 2
        if u:  # the dropped trailing rows are really unused, the row before them is used
            assert not cov[-u:].any() and cov[-u - 1].any()


def test_uncovered_example_is_explained_in_words():
    rep = lesson01.output_size_report(7, 7, 3, 3, padding=0, stride=3)
    assert rep["uncovered_rows"] == 1 and rep["lost_rows"] == 1
    assert "1 row at the bottom of the padded input is never covered" in rep["text"]
    rep = lesson01.output_size_report(8, 8, 3, 3, padding=0, stride=3)   # (8-3) % 3 = 2
    assert "2 rows at the bottom of the padded input are never covered" in rep["text"]
    rep = lesson01.output_size_report(6, 6, 3, 3, padding=1, stride=2)
    assert "padding, so no input value is lost" in rep["text"] and rep["lost_rows"] == 0
    rep = lesson01.output_size_report(7, 7, 1, 1, padding=0, stride=3)   # stride > filter: gaps
    assert "4 rows in between are used by no window" in rep["text"] and rep["lost_rows"] == 4


def test_book_examples_in_the_report():
    for (H, W), F, S, P, want in [((4, 4), 3, 1, 1, (4, 4)), ((7, 7), 3, 2, 0, (3, 3)),
                                  ((28, 31), 5, 3, 2, (10, 11))]:
        rep = lesson01.output_size_report(H, W, F, F, P, S)
        assert (rep["OH"], rep["OW"]) == want


def _check_output_size_view(H, W, FH, FW, P, S, D):
    v = lesson01.output_size_view(H, W, FH, FW, P, S, D)
    assert isinstance(v, View) and v.fig is not None and len(v.fig.axes) == 2
    assert v.text == lesson01.output_size_report(H, W, FH, FW, P, S, D)["text"]
    fits = not v.text.startswith("Output size: none")
    assert ("does not fit" in v.fig.axes[0].get_title()) == (not fits)
    want = f"{v.text.split('OH = ')[1].split(',')[0]} x " if fits else "no output"
    assert want in v.fig.axes[1].get_title() + " ".join(t.get_text() for t in v.fig.axes[1].texts)
    n_outlines = sum(1 for p in v.fig.axes[0].patches if not p.get_fill())
    assert n_outlines >= (2 if fits else 1)  # first and last window (or the filter sticking out)


@settings(max_examples=25)
@given(H=st.integers(*R["H"]), W=st.integers(*R["W"]), FH=st.integers(*R["FH"]),
       FW=st.integers(*R["FW"]), P=st.integers(*R["padding"]), S=st.integers(*R["stride"]),
       D=st.integers(*R["dilation"]))
def test_output_size_view_draws_anything_in_range(H, W, FH, FW, P, S, D):
    _check_output_size_view(H, W, FH, FW, P, S, D)
    plt.close("all")


@pytest.mark.parametrize("args", [
    (1, 1, 1, 1, 0, 1, 1), (12, 12, 7, 7, 4, 5, 3), (1, 12, 7, 1, 0, 5, 3), (12, 1, 1, 7, 4, 1, 1),
    (4, 4, 7, 3, 1, 1, 1), (3, 3, 3, 3, 0, 5, 1)])
def test_output_size_view_extremes(args):
    _check_output_size_view(*args)


def test_windows_view_is_the_picture_alone():
    v = lesson01.windows_view(7, 7, 3, 3, padding=0, stride=2)
    assert v.text == "" and v.fig.axes[1].get_title() == "output OH x OW = 3 x 3"


def test_conventions_table_never_raises_and_agrees_with_arith():
    for H, FH, P, S in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride")):
        text = lesson01.conventions_table(H, FH, P, S)
        oh, _ = _arith(H, FH, S, P, 1)
        first = text.splitlines()[1]
        assert first.split()[-1] == (str(oh) if oh is not None else "big)")


def test_output_size_explorer_contract():
    s = _sliders(lesson01.output_size_explorer())
    assert set(s) == set(R)
    for name, (lo, hi) in R.items():
        assert (s[name].min, s[name].max) == (lo, hi)


# ----------------------------------------------------------------------------- lesson 2 --

def test_book_example_values():
    assert np.array_equal(lesson02.conv_step_report()["out"], [[15, 16], [6, 15]])
    assert np.array_equal(lesson02.conv_step_report(bias=3)["out"], [[18, 19], [9, 18]])


def test_conv_step_report_every_slider_value():
    for P, S, b in itertools.product(_rng("padding", C), _rng("stride", C), _rng("bias", C)):
        first = lesson02.conv_step_report(P, S, 1, b)
        oh = arith.conv_output_size(4, 3, S, P)
        assert (first["OH"], first["OW"]) == (oh, oh)
        assert first["text"].startswith(f"Output size: OH = {oh}, OW = {oh}")
        layer = Convolution(lesson02.BOOK_FILTER[None, None], np.array([float(b)]), stride=S, pad=P)
        want = layer.forward(lesson02.BOOK_INPUT[None, None])[0, 0]
        assert np.array_equal(first["out"], want)
        for step in range(0, oh * oh + 3):  # includes out-of-range steps, which are clamped
            rep = lesson02.conv_step_report(P, S, step, b)
            k = min(max(step, 1), oh * oh)
            i, j = divmod(k - 1, oh)
            assert rep["step"] == k
            assert rep["value"] == want[i, j] == rep["products"].sum() + b
        assert ("never covered" in first["text"]) == bool(arith.uncovered(4, 3, S, P))


def test_conv_step_report_filter_too_big():
    rep = lesson02.conv_step_report(0, 1, 1, x=np.ones((2, 2)))
    assert rep["OH"] is None and rep["text"].startswith("Output size: none")


@pytest.mark.parametrize("P,S", list(itertools.product(range(3), range(1, 4))))
def test_conv_step_view_draws_first_and_last_step(P, S):
    n = arith.conv_output_size(4, 3, S, P) ** 2
    for step in (1, n):
        v = lesson02.conv_step_view(P, S, step, bias=1)
        assert isinstance(v, View) and v.text == lesson02.conv_step_report(P, S, step, 1)["text"]
        assert v.text.startswith("Output size:")
        assert len(v.fig.axes) == 4
        assert ("never used" in v.fig.axes[0].get_title()) == bool(arith.uncovered(4, 3, S, P))
        assert v.fig.axes[3].get_title().endswith(f"step {step} of {n}")


def test_conv_step_explorer_step_range_follows_padding_and_stride():
    s = _sliders(lesson02.conv_step_explorer())
    assert set(s) == {"padding", "stride", "step", "bias"}
    for name, (lo, hi) in C.items():
        assert (s[name].min, s[name].max) == (lo, hi)
    assert s["step"].max == 4
    s["padding"].value = 2            # 8x8 padded: 6x6 = 36 windows
    assert s["step"].max == 36
    s["step"].value = 30
    s["stride"].value = 3             # (8-3)//3 + 1 = 2: 4 windows, the step follows down
    assert s["step"].max == 4 and s["step"].value == 4


@settings(max_examples=20)
@given(N=st.integers(1, 4), C_=st.integers(1, 4), FN=st.integers(1, 6), F=st.integers(1, 7),
       P=st.integers(0, 3), S=st.integers(1, 3))
def test_conv_shapes_view_over_explorer_ranges(N, C_, FN, F, P, S):
    v = lesson02.conv_shapes_view(N, C_, 7, 7, FN, F, F, P, S)
    oh = arith.conv_output_size(7, F, S, P)
    assert v.text.startswith(f"Output size: OH = {oh}, OW = {oh}")
    assert f"output: (N, FN, OH, OW) = {(N, FN, oh, oh)}" in v.text
    assert f"= {FN * C_ * F * F} + {FN} = {FN * C_ * F * F + FN}" in v.text
    assert v.fig is not None
    plt.close("all")


def test_conv_shapes_view_filter_too_big():
    v = lesson02.conv_shapes_view(1, 1, 3, 3, 1, 5, 5, 0, 1)
    assert v.fig is None and v.text.startswith("Output size: none")


def test_conv_shapes_explorer_ranges_keep_every_filter_fitting():
    s = _sliders(lesson02.conv_shapes_explorer())
    assert set(s) == {"N", "C", "FN", "FH = FW", "padding", "stride"}
    assert s["FH = FW"].max <= 7      # H = W = 7: every filter in range fits, even with padding 0


# ---------------------------------------------------------------------------- exercises --

JUNK = [None, ..., "abc", "", "2", "12", b"12", 3.5, [], [1, 2], [[1], [2, 3]], {"a": 1}, float("nan"), np.nan,
        float("inf"), True, np.array(["a"]), object()]

#: check, right answers in several forms, wrong answers (nearly-right ones included)
CHECKS = [
    (lesson00.check_batch_shape,
     [(100, 1, 28, 28), [100, 1, 28, 28], np.array([100, 1, 28, 28]), np.zeros((100, 1, 28, 28)).shape,
      (np.int64(100), 1, 28.0, 28)],
     [(100, 28, 28), (1, 100, 28, 28), (100, 1, 28), (100, 1, 28, 28.5), (100, 1, 28, 28, 1)]),
    (lesson01.check_output_sizes,
     [[(32, 32), (13, 13), (4, 5)], [[32, 32], [13, 13], [4, 5]], np.array([[32, 32], [13, 13], [4, 5]]),
      ((32, 32), np.array([13, 13]), [np.int64(4), 5.0])],
     [[(32, 32), (14, 14), (4, 5)], [(28, 28), (13, 13), (4, 5)], [(32, 32), (13, 13)],
      [(32, 32), (13, 13), (4, 5.001)], [(32, 32), (13, 13), (4, 5), (1, 1)]]),
    (lesson01.check_same_padding,
     [2, 2.0, np.int64(2), np.float32(2.0), np.array(2), np.array([2])],
     [0, 1, 3, -2, 2.0001, 1.9999999]),
    (lesson01.check_uncovered_rows,
     [4, 4.0, np.int32(4), np.array([4])],
     [0, 1, 2, 3, 5, 4.000001, 3.999999]),
    (lesson02.check_conv_value,
     [8, 8.0, np.float64(8.0), np.int64(8), np.array(8.0)],
     [12, 10, 0, 7.999999, 8.000001, -8]),
    (lesson02.check_conv_output_shape,
     [(10, 16, 32, 32), [10, 16, 32, 32], np.array([10, 16, 32, 32]), np.zeros((10, 16, 32, 32)).shape],
     [(10, 3, 32, 32), (10, 16, 28, 28), (16, 10, 32, 32), (10, 16, 32, 32.5), (10, 16, 32)]),
    (lesson02.check_conv_param_count,
     [1216, 1216.0, np.int64(1216), np.array([1216])],
     [1200, 416, 1215, 1217, 1216.5]),
]


def _one_line(capsys, prefix):
    out = capsys.readouterr().out
    assert out.startswith(prefix) and out.count("\n") == 1, out
    return out


@pytest.mark.parametrize("check,rights,wrongs", CHECKS, ids=[c[0].__name__ for c in CHECKS])
def test_checks_pass_right_and_fail_wrong(capsys, check, rights, wrongs):
    for right in rights:
        assert check(right) is True, right
        _one_line(capsys, "PASS: ")
    for wrong in wrongs + JUNK:
        assert check(wrong) is False, wrong
        out = _one_line(capsys, "FAIL: not yet. Hint: ")
        assert len(out) > 30


def test_check_output_sizes_hint_names_the_floor(capsys):
    assert not lesson01.check_output_sizes([(32, 32), (14, 14), (4, 5)])  # task 2 rounded up
    out = _one_line(capsys, "FAIL")
    assert "task 2: round DOWN" in out and "task 1" not in out and "task 3" not in out


def test_check_output_sizes_round_down_hint_for_either_axis(capsys):
    assert not lesson01.check_output_sizes([(32, 32), (13, 13), (4, 6)])  # task 3's OW rounded up
    assert "task 3: round DOWN" in _one_line(capsys, "FAIL")


def test_check_hints_follow_the_mistake(capsys):
    lesson00.check_batch_shape((1, 28, 28, 100))
    assert "wrong order" in _one_line(capsys, "FAIL")
    lesson01.check_same_padding(1)
    assert "with P = 1 the output is 26 x 26" in _one_line(capsys, "FAIL")
    lesson02.check_conv_output_shape([10, 3, 32, 32])
    assert "one channel per FILTER" in _one_line(capsys, "FAIL")
    lesson02.check_conv_param_count(1200)
    assert "add the biases" in _one_line(capsys, "FAIL")


# ----------------------------------------------------------------------- explorers, live --

def _walk(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _walk(c)


def _sliders(box):
    return {w.description: w for w in _walk(box) if type(w).__name__ == "IntSlider"}


def _shown(box):
    """(printed text, [PNG, ...], stderr text) currently in the explorer's live output."""
    out = [w for w in _walk(box) if "convlab-view" in getattr(w, "_dom_classes", ())]
    assert len(out) == 1
    outputs = out[0].outputs
    text = "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    err = "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] != "stdout")
    pngs = [o["data"]["image/png"] for o in outputs if o["output_type"] == "display_data"]
    return text, pngs, err


EXPLORERS = [(lesson00.demo_explorer, "A 3 x 3 grid has 9 cells"),
             (lesson01.output_size_explorer, "Output size: OH = 4, OW = 4"),
             (lesson02.conv_step_explorer, "Output size: OH = 2, OW = 2"),
             (lesson02.conv_shapes_explorer, "Output size: OH = 5, OW = 5")]


@pytest.mark.parametrize("make,first", EXPLORERS, ids=[e[0].__name__ for e in EXPLORERS])
@pytest.mark.slow
def test_every_control_redraws_text_and_picture(make, first):
    """Each control in turn moves to one extreme and then the other: every move changes the text
    or the picture, both are always there together, never a traceback."""
    box = make()
    assert "convlab-explorer" in box._dom_classes
    text, pngs, err = _shown(box)
    assert text.startswith(first) and len(pngs) == 1 and not err
    for name, s in _sliders(box).items():
        for target in ((s.max, s.min) if s.value != s.max else (s.min, s.max)):
            before = _shown(box)
            s.value = target
            now = _shown(box)
            assert now != before, f"{name} -> {target} changed nothing"
            text, pngs, err = now
            assert not err, err
            assert text.startswith(("Output size:", "A ")) and len(pngs) == 1, name
    assert not plt.get_fignums()  # every drawn figure was closed


def test_stride_shows_when_the_filter_does_not_fit():
    """With the filter too big on both axes the picture cannot change with the stride; the
    text still does."""
    box = lesson01.output_size_explorer(H=1, W=1, FH=7, FW=7, padding=0, stride=1)
    s = _sliders(box)
    text, pngs, _ = _shown(box)
    assert text.startswith("Output size: none") and "Stride 1 plays no part" in text
    s["stride"].value = 4
    text, pngs, _ = _shown(box)
    assert "Stride 4 plays no part" in text and len(pngs) == 1


def test_explorer_output_matches_the_view():
    box = lesson01.output_size_explorer()
    s = _sliders(box)
    s["H"].value, s["FH"].value, s["padding"].value, s["stride"].value = 7, 3, 0, 3
    assert _shown(box)[0].strip() == lesson01.output_size_report(7, 4, 3, 3, 0, 3)["text"]
    s["FH"].value = 7
    s["H"].value = 4
    s["padding"].value = 1                # 7 > 4 + 2: the filter does not fit, no traceback
    text, pngs, err = _shown(box)
    assert text.startswith("Output size: none") and len(pngs) == 1 and not err


def test_conv_step_explorer_shows_the_view_of_its_sliders():
    box = lesson02.conv_step_explorer()
    s = _sliders(box)
    s["padding"].value, s["step"].value, s["bias"].value = 1, 2, 3
    assert _shown(box)[0].strip() == lesson02.conv_step_report(1, 1, 2, 3)["text"]


# ---------------------------------------------------------------------------- notebooks --

@pytest.mark.parametrize("name,module", [("00_start_here", "lesson00"), ("01_output_size", "lesson01"),
                                         ("02_convolution", "lesson02")])
def test_notebook_imports_its_lesson_module_not_the_old_ones(name, module):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert f"from convlab.lessons.{module} import" in code or \
        re.search(rf"from convlab\.lessons import .*\b{module}\b", code)
    assert not re.search(r"convlab\.(widgets|plots|exercises)\b", code)
    assert not re.search(r"from convlab import .*\b(widgets|plots|exercises)\b", code)


# ------------------------------------------------------------ solutions, guesses, notebooks --

#: Every number/shape exercise of lessons 0-2: its name in solutions.ANSWERS and its check.
SOLVED = {"batch_shape": lesson00.check_batch_shape, "output_sizes": lesson01.check_output_sizes,
          "same_padding": lesson01.check_same_padding, "uncovered_rows": lesson01.check_uncovered_rows,
          "conv_value": lesson02.check_conv_value, "conv_output_shape": lesson02.check_conv_output_shape,
          "conv_param_count": lesson02.check_conv_param_count}


@pytest.mark.parametrize("name", sorted(SOLVED))
def test_every_solution_passes_its_check(capsys, name):
    answer, how = solutions.ANSWERS[name]
    assert SOLVED[name](answer) is True
    _one_line(capsys, "PASS: ")
    solutions.show(name)
    out = capsys.readouterr().out
    assert out.startswith("Lesson ") and out.endswith(f"Answer: {answer!r}\n") and how in out


def test_batch_shape_answer_is_what_mnist_gives():
    """Independent of the check: the shape Net expects for MNIST, with a batch axis of 100."""
    assert solutions.ANSWERS["batch_shape"][0] == (100,) + Net(spec=[("affine", {"size": 10})]).input_dim


def _positions(size, kernel, stride, pad=0):
    """Window start rows along one axis, found by trying every start (no formula)."""
    return [y for y in range(0, size + 2 * pad) if y % stride == 0 and y + kernel <= size + 2 * pad]


def test_output_sizes_answer_by_trying_every_window_position():
    want = [(len(_positions(t["H"], t["FH"], t["stride"], t["pad"])),
             len(_positions(t["W"], t["FW"], t["stride"], t["pad"]))) for t in lesson01.OUTPUT_SIZE_TASKS]
    assert solutions.ANSWERS["output_sizes"][0] == want


def test_same_padding_answer_is_the_only_padding_that_keeps_28():
    keeps = [P for P in range(0, 10) if len(_positions(28, 5, 1, P)) == 28]
    assert keeps == [solutions.ANSWERS["same_padding"][0]]


def test_uncovered_rows_answer_by_listing_the_rows():
    """10 rows, filter 3, stride 4: windows at 0-2 and 4-6; rows 3, 7, 8, 9 are never used."""
    t = lesson01.UNUSED_TASK
    used = {y + i for y in _positions(t["H"], t["FH"], t["stride"]) for i in range(t["FH"])}
    unused = sorted(set(range(t["H"])) - used)
    assert unused == [3, 7, 8, 9]
    assert solutions.ANSWERS["uncovered_rows"][0] == len(unused)
    assert lesson01.output_size_report(10, 10, 3, 3, 0, 4)["lost_rows"] == len(unused)  # the explorer agrees


def test_check_uncovered_rows_hints_name_the_missing_part(capsys):
    lesson01.check_uncovered_rows(3)
    assert "only the rows after the last window" in _one_line(capsys, "FAIL")
    lesson01.check_uncovered_rows(1)
    assert "the rows after the last window count too" in _one_line(capsys, "FAIL")
    lesson01.check_uncovered_rows(...)
    assert "list the rows where windows start" in _one_line(capsys, "FAIL")


@pytest.mark.parametrize("guess,start", [("show", "The answer (no guess made): 4"), (4, "Your guess 4 is right"),
                                         (0, "Your guess 0 is too low: the truth is 4")])
def test_reveal_skipped_rows(capsys, guess, start):
    assert lesson01.reveal_skipped_rows(guess, H=7, FH=1, stride=3) is None
    out = _one_line(capsys, start)
    assert "Windows use rows 0, 3, 6 only" in out and "(7 - 1)/3 is exact" in out
    lesson01.reveal_skipped_rows(None, H=7, FH=1, stride=3)     # no guess: nothing revealed
    assert _one_line(capsys, "No guess yet") == NO_GUESS + "\n"
    lesson01.reveal_skipped_rows(4, H=10, FH=3, stride=4)     # 3 after the windows, 1 between
    assert "Your guess 4 is right" in _one_line(capsys, "Your")


def test_strict_refuses_only_rows_dropped_by_the_floor():
    """Lesson 1: strict=True refuses 7 rows / filter 3 / stride 3 (row 6 dropped) but accepts
    7 rows / filter 1 / stride 3, which skips 4 rows between windows."""
    with pytest.raises(ValueError):
        arith.conv_output_size(7, 3, stride=3, strict=True)
    assert arith.conv_output_size(7, 1, stride=3, strict=True) == 3
    assert lesson01.output_size_report(7, 7, 1, 1, 0, 3)["lost_rows"] == 4


def test_mnist_download_is_about_11_mb():
    """Lesson 0: 'about 11 MB, once' (the four .gz files), where the files are at hand."""
    from convlab.data import FILES, find_mnist_dir
    folder = find_mnist_dir()
    gz = [folder / f"{n}.gz" for n in FILES]
    if not all(p.is_file() for p in gz):
        pytest.skip("MNIST .gz files not found")
    assert 10.5e6 < sum(p.stat().st_size for p in gz) < 12e6


def test_conv_value_answer_by_explicit_loops():
    """Output (3, 0) of the book's example with padding 1: the padded 6 x 6 input built by hand."""
    xp = [[0.0] * 6 for _ in range(6)]
    for r in range(4):
        for c in range(4):
            xp[r + 1][c + 1] = float(lesson02.BOOK_INPUT[r, c])
    value = sum(xp[3 + a][0 + b] * lesson02.BOOK_FILTER[a, b] for a in range(3) for b in range(3))
    assert solutions.ANSWERS["conv_value"][0] == value == 8


def test_conv_output_shape_and_param_count_answers():
    """10 RGB 32 x 32 images, 16 filters 5 x 5, padding 2: the sizes by trying every window
    position, the parameters as the arrays a Net allocates for that layer."""
    side = len(_positions(32, 5, 1, 2))
    assert solutions.ANSWERS["conv_output_shape"][0] == (10, 16, side, side) == (10, 16, 32, 32)
    net = Net(input_dim=(3, 32, 32), spec=[("conv", {"filter_num": 16, "filter_size": 5, "pad": 2}),
                                           ("affine", {"size": 1})])
    assert solutions.ANSWERS["conv_param_count"][0] == net.params["W1"].size + net.params["b1"].size


def test_lesson1_prose_corner_and_centre_counts():
    """'With padding 1 and a 3x3 filter the corner cells of the real input are used by 4
    windows, the centre cells by 9' (lesson 1, section 3)."""
    cov = coverage_map(4, 4, 3, 3, pad=1, stride=1)[1:5, 1:5]           # the real input
    assert cov[0, 0] == cov[0, 3] == cov[3, 0] == cov[3, 3] == 4
    assert (cov[1:3, 1:3] == 9).all()


@pytest.mark.parametrize("guess,start,ok", [
    ("show", "The answer (no guess made): 4", False), (" Show", "The answer (no guess made): 4", False),
    (4, "Your guess 4 is right", True),
    (np.int64(4), "Your guess 4 is right", True), (4.0, "Your guess 4 is right", True),
    (3, "Your guess 3 is too low: the truth is 4", False),
    (40, "Your guess 40 is too high by a factor of 10.0: the truth is 4", False),
    ("four", "Your guess 'four' is not a number", False), ([1, 2], "Your guess [1, 2] is not a number", False),
    (float("nan"), "Your guess nan is not a number", False)])
def test_compare_guess_one_line(capsys, guess, start, ok):
    assert compare_guess(guess, 4, "Because.") is ok
    out = _one_line(capsys, start)
    assert out.endswith(". Because.\n")


@pytest.mark.parametrize("guess", [None, ...])
def test_compare_guess_without_a_guess_reveals_nothing(capsys, guess):
    """No guess yet: one line saying how to guess or to ask ("show"); neither the truth nor the
    explanation."""
    assert compare_guess(guess, 13564800, "Because 784 times 17,280.") is False
    out = _one_line(capsys, "No guess yet")
    assert out == NO_GUESS + "\n" and "13" not in out and "Because" not in out
    assert "my_guess" in out and repr(SHOW) in out


def test_compare_guess_show_on_a_string_truth(capsys):
    assert compare_guess("show", "max", "Why.") is False
    assert _one_line(capsys, "The answer") == "The answer (no guess made): 'max'. Why.\n"
    assert compare_guess("max", "max", "Why.") is True


NOTEBOOK_NAMES = ["00_start_here", "01_output_size", "02_convolution"]


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_no_solution_is_shown_in_the_notebook(name):
    """No committed output passes a check, and each solution is loaded only on demand: a
    commented-out solutions.show line with no output, naming a solution that exists."""
    cells = nbc.cells(name)
    shows = 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        out, src = nbc.output_text(cell), "".join(cell["source"])
        assert not re.search(r"^PASS", out, re.M), src
        for line in src.splitlines():
            if "solutions.show(" in line:
                shows += 1
                assert line.startswith("# solutions.show("), line
                assert not cell["outputs"]
                shown = re.search(r'show\("([a-z0-9_]+)"\)', line).group(1)
                assert shown in solutions.ANSWERS or shown in solutions.NAMES
    checks = sum("".join(c["source"]).count("check_") for c in cells if c["cell_type"] == "code"
                 and not "".join(c["source"]).startswith(("from ", "import ")))
    assert shows == checks > 0            # one solution cell per exercise check


# ------------------------------------------------------------------ lesson 2's new pieces --

def _full_convolution(x, w):
    """The textbook definition over every shift: full[i, j] = sum over m, n of x[m, n] * w[i-m, j-n]."""
    (H, W), (FH, FW) = x.shape, w.shape
    full = np.zeros((H + FH - 1, W + FW - 1))
    for i in range(H + FH - 1):
        for j in range(W + FW - 1):
            for m in range(H):
                for n in range(W):
                    if 0 <= i - m < FH and 0 <= j - n < FW:
                        full[i, j] += x[m, n] * w[i - m, j - n]
    return full


def test_true_convolution_is_the_textbook_one_and_the_flipped_layer():
    rng = np.random.default_rng(3)
    for (H, W), (FH, FW) in [((4, 4), (3, 3)), ((5, 7), (2, 3)), ((6, 5), (4, 1))]:
        x, w = rng.standard_normal((H, W)), rng.standard_normal((FH, FW))
        got = lesson02.true_convolution(x, w)
        assert np.allclose(got, _full_convolution(x, w)[FH - 1:H, FW - 1:W])      # 'valid' part
        flipped = Convolution(w[::-1, ::-1][None, None].copy(), np.zeros(1)).forward(x[None, None])[0, 0]
        assert np.allclose(got, flipped)
    x, w = rng.standard_normal(9), rng.standard_normal(4)                        # NumPy's 1-D one
    assert np.allclose(lesson02.true_convolution(x[None], w[None])[0], np.convolve(x, w, "valid"))
    book = lesson02.true_convolution(lesson02.BOOK_INPUT, lesson02.BOOK_FILTER)
    assert np.array_equal(book, [[11, 12], [10, 11]])           # the notebook's printed numbers


def test_true_convolution_matches_scipy_when_installed():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    assert np.allclose(lesson02.true_convolution(x, w), signal.convolve2d(x, w, "valid"))


def test_fc_vs_conv_counts_the_layers_arrays():
    """The formulas against the arrays of real layers, on a size small enough to allocate."""
    r = lesson02.fc_vs_conv(C=2, H=6, W=5, FN=3, FH=3, FW=2)
    conv = Convolution(np.zeros((3, 2, 3, 2)), np.zeros(3))
    FN, OH, OW = conv.output_shape((2, 6, 5))
    from convlab.layers import Affine
    affine = Affine(np.zeros((2 * 6 * 5, FN * OH * OW)), np.zeros(FN * OH * OW))
    assert r["conv"] == conv.W.size + conv.b.size and r["affine"] == affine.W.size + affine.b.size
    r = lesson02.fc_vs_conv()
    assert (r["conv"], r["affine"], r["OH"], r["OW"]) == (780, 784 * 17280 + 17280, 24, 24)
    assert "needs 17,391 times as many parameters" in r["text"]


@pytest.mark.parametrize("guess,start", [("show", "The answer (no guess made): 13,564,800"),
                                         (13564800, "Your guess 13,564,800 is right"),
                                         (13547520, "Your guess 13,547,520 is too low")])
def test_reveal_fc_params(capsys, guess, start):
    assert lesson02.reveal_fc_params(guess) is None
    out = _one_line(capsys, start)
    assert "the convolution needs 780" in out
    lesson02.reveal_fc_params(None)
    assert _one_line(capsys, "No guess yet") == NO_GUESS + "\n"


def test_shuffle_report():
    assert lesson02.shuffle_report().splitlines() == [
        "Affine on the image vs on its shuffled pixels (weight rows shuffled alike): same outputs: True",
        "Convolution on the image vs on its shuffled pixels: same outputs: False"]


def test_conv2d_naive_exercise_in_the_notebook(capsys):
    """The stub cell is implement.STUBS' text; its committed check output is the 'not written
    yet' line; the lesson's check passes the solution and fails the stub."""
    from convlab.lessons.implement import STUBS
    cells = [c for c in nbc.cells("02_convolution") if c["cell_type"] == "code"]
    srcs = ["".join(c["source"]) for c in cells]
    k = srcs.index(STUBS["conv2d_naive"])
    assert srcs[k + 1] == "check_conv2d_naive(conv2d_naive)"
    assert nbc.output_text(cells[k + 1]).startswith("FAIL: not yet. Hint: not written yet")
    assert srcs[k + 2].startswith('# solutions.show("conv2d_naive")')
    assert lesson02.check_conv2d_naive(solutions.conv2d_naive) is True
    _one_line(capsys, "PASS: ")
    namespace = {}
    exec(STUBS["conv2d_naive"], namespace)
    assert lesson02.check_conv2d_naive(namespace["conv2d_naive"]) is False
    assert "not written yet" in _one_line(capsys, "FAIL: ")
