"""Lessons 0-2: the view functions behind the explorers never raise over their whole slider
ranges, report the same output sizes and uncovered counts as convlab.arith, and the exercise
checks pass right answers and fail wrong ones."""
import contextlib
import io
import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from convlab import arith, exercises, plots, widgets  # noqa: E402
from convlab.layers import Convolution  # noqa: E402

R = widgets.OUTPUT_SIZE_RANGES
C = widgets.CONV_STEP_RANGES


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


# ----------------------------------------------------------------------------- lesson 1 --

def test_output_size_report_matches_arith_over_every_slider_value():
    """Every (H, FH, padding, stride, dilation) of the explorer; W and FW run through their
    ranges alongside, so each axis sees every value."""
    n = 0
    for H, FH, P, S, D in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride"),
                                            _rng("dilation")):
        W, FW = 13 - H, 8 - FH
        rep = widgets.output_size_report(H, W, FH, FW, P, S, D)
        oh, uh = _arith(H, FH, S, P, D)
        ow, uw = _arith(W, FW, S, P, D)
        assert rep["text"].splitlines()[0].startswith("Output size:")
        if oh is None or ow is None:
            assert not rep["fits"] and rep["OH"] is None and rep["OW"] is None
            assert "does not fit" in rep["text"] and "no window fits" in rep["text"]
            continue
        n += 1
        assert rep["fits"]
        assert (rep["OH"], rep["OW"]) == (oh, ow)
        assert rep["text"].splitlines()[0] == f"Output size: OH = {oh}, OW = {ow}"
        assert (rep["uncovered_rows"], rep["uncovered_cols"]) == (uh, uw)
        assert ("never covered" in rep["text"]) == bool(uh or uw)
        # input rows no window uses, counted independently from the coverage map
        cov = plots.coverage_1d(H, FH, S, P, D)
        assert rep["lost_rows"] == int((cov[P:P + H] == 0).sum())
    assert n > 3000  # most settings fit: the loop really checked sizes


def test_coverage_map_counts_every_tap_once():
    for H, FH, P, S, D in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride"),
                                            _rng("dilation")):
        cov = plots.coverage_map(H, 5, FH, 2, P, S, D)
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
    rep = widgets.output_size_report(7, 7, 3, 3, padding=0, stride=3)
    assert rep["uncovered_rows"] == 1 and rep["lost_rows"] == 1
    assert "1 row at the bottom of the padded input is never covered" in rep["text"]
    rep = widgets.output_size_report(8, 8, 3, 3, padding=0, stride=3)   # (8-3) % 3 = 2
    assert "2 rows at the bottom of the padded input are never covered" in rep["text"]
    rep = widgets.output_size_report(6, 6, 3, 3, padding=1, stride=2)
    assert "padding, so no input value is lost" in rep["text"] and rep["lost_rows"] == 0


def test_book_examples_in_the_report():
    for (H, W), F, S, P, want in [((4, 4), 3, 1, 1, (4, 4)), ((7, 7), 3, 2, 0, (3, 3)),
                                  ((28, 31), 5, 3, 2, (10, 11))]:
        rep = widgets.output_size_report(H, W, F, F, P, S)
        assert (rep["OH"], rep["OW"]) == want


@settings(max_examples=25)
@given(H=st.integers(*R["H"]), W=st.integers(*R["W"]), FH=st.integers(*R["FH"]),
       FW=st.integers(*R["FW"]), P=st.integers(*R["padding"]), S=st.integers(*R["stride"]),
       D=st.integers(*R["dilation"]))
def test_output_size_view_draws_anything_in_range(H, W, FH, FW, P, S, D):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fig = widgets.output_size_view(H, W, FH, FW, P, S, D, show=False)
    assert fig is not None and len(fig.axes) == 2
    text = buf.getvalue()
    assert text.startswith("Output size:")
    fits = not text.startswith("Output size: none")
    assert ("does not fit" in fig.axes[0].get_title()) == (not fits)
    want = f"{text.split('OH = ')[1].split(',')[0]} x " if fits else "no output"
    assert want in fig.axes[1].get_title() + " ".join(t.get_text() for t in fig.axes[1].texts)
    n_outlines = sum(1 for p in fig.axes[0].patches if not p.get_fill())
    assert n_outlines >= (2 if fits else 1)  # first and last window (or the filter sticking out)
    plt.close(fig)


@pytest.mark.parametrize("args", [
    (1, 1, 1, 1, 0, 1, 1), (12, 12, 7, 7, 4, 5, 3), (1, 12, 7, 1, 0, 5, 3), (12, 1, 1, 7, 4, 1, 1),
    (4, 4, 7, 3, 1, 1, 1), (3, 3, 3, 3, 0, 5, 1)])
def test_output_size_view_extremes(capsys, args):
    fig = widgets.output_size_view(*args, show=False)
    out = capsys.readouterr().out
    assert out.startswith("Output size:")
    assert ("does not fit" in fig.axes[0].get_title()) == out.startswith("Output size: none")
    plt.close(fig)


def test_conventions_table_never_raises_and_agrees_with_arith():
    for H, FH, P, S in itertools.product(_rng("H"), _rng("FH"), _rng("padding"), _rng("stride")):
        text = widgets.conventions_table(H, FH, P, S)
        oh, _ = _arith(H, FH, S, P, 1)
        first = text.splitlines()[1]
        assert first.split()[-1] == (str(oh) if oh is not None else "big)")


def test_output_size_explorer_contract():
    box = widgets.output_size_explorer()
    sliders = {w.description: w for w in _walk(box) if hasattr(w, "description") and
               type(w).__name__ == "IntSlider"}
    assert {"padding", "stride", "H", "W", "FH", "FW", "dilation"} <= set(sliders)
    for name, (lo, hi) in R.items():
        assert (sliders[name].min, sliders[name].max) == (lo, hi)


def _walk(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _walk(c)


# ----------------------------------------------------------------------------- lesson 2 --

def test_book_example_values():
    assert np.array_equal(widgets.conv_step_report()["out"], [[15, 16], [6, 15]])
    assert np.array_equal(widgets.conv_step_report(bias=3)["out"], [[18, 19], [9, 18]])


def test_conv_step_report_every_slider_value():
    for P, S, b in itertools.product(_rng("padding", C), _rng("stride", C), _rng("bias", C)):
        first = widgets.conv_step_report(P, S, 1, b)
        oh = arith.conv_output_size(4, 3, S, P)
        assert (first["OH"], first["OW"]) == (oh, oh)
        assert first["text"].startswith(f"Output size: OH = {oh}, OW = {oh}")
        layer = Convolution(widgets.BOOK_FILTER[None, None], np.array([float(b)]), stride=S, pad=P)
        want = layer.forward(widgets.BOOK_INPUT[None, None])[0, 0]
        assert np.array_equal(first["out"], want)
        for step in range(0, oh * oh + 3):  # includes out-of-range steps, which are clamped
            rep = widgets.conv_step_report(P, S, step, b)
            k = min(max(step, 1), oh * oh)
            i, j = divmod(k - 1, oh)
            assert rep["step"] == k
            assert rep["value"] == want[i, j] == rep["products"].sum() + b
        assert ("never covered" in first["text"]) == bool(arith.uncovered(4, 3, S, P))


@pytest.mark.parametrize("P,S", list(itertools.product(range(3), range(1, 4))))
def test_conv_step_view_draws_first_and_last_step(capsys, P, S):
    n = arith.conv_output_size(4, 3, S, P) ** 2
    for step in (1, n):
        fig = widgets.conv_step_view(P, S, step, bias=1, show=False)
        assert len(fig.axes) == 4
        assert ("never used" in fig.axes[0].get_title()) == bool(arith.uncovered(4, 3, S, P))
        assert fig.axes[3].get_title().endswith(f"step {step} of {n}")
        plt.close(fig)
    assert capsys.readouterr().out.startswith("Output size:")


def test_conv_step_explorer_step_range_follows_padding_and_stride():
    box = widgets.conv_step_explorer()
    s = {w.description: w for w in _walk(box) if type(w).__name__ == "IntSlider"}
    assert {"padding", "stride", "step", "bias"} <= set(s)
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
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fig = widgets.conv_shapes_view(N, C_, 7, 7, FN, F, F, P, S, show=False)
    out = buf.getvalue()
    oh = arith.conv_output_size(7, F, S, P)
    assert out.startswith(f"Output size: OH = {oh}, OW = {oh}")
    assert f"output: (N, FN, OH, OW) = {(N, FN, oh, oh)}" in out
    plt.close(fig)


def test_conv_shapes_view_filter_too_big(capsys):
    assert widgets.conv_shapes_view(1, 1, 3, 3, 1, 5, 5, 0, 1, show=False) is None
    assert capsys.readouterr().out.startswith("Output size: none")


def test_demo_view(capsys):
    for n in range(1, 9):
        plt.close(widgets.demo_view(n, show=False))
    assert "8 x 8 grid has 64 cells" in capsys.readouterr().out


# ---------------------------------------------------------------------------- exercises --

GARBAGE = [None, "abc", 3.5, [], [1, 2], {"a": 1}, np.nan, True]


@pytest.mark.parametrize("check,right,wrongs", [
    (exercises.check_batch_shape, (100, 1, 28, 28), [(100, 28, 28), (1, 100, 28, 28), (100, 1, 28)]),
    (exercises.check_output_sizes, [(32, 32), (13, 13), (4, 5)],
     [[(32, 32), (14, 14), (4, 5)], [(28, 28), (13, 13), (4, 5)], [(32, 32), (13, 13)]]),
    (exercises.check_same_padding, 2, [0, 1, 3, -2]),
    (exercises.check_uncovered_rows, 3, [0, 1, 2]),
    (exercises.check_conv_value, 12, [15, 0, 16]),
    (exercises.check_conv_output_shape, (10, 16, 32, 32), [(10, 3, 32, 32), (10, 16, 28, 28), (16, 10, 32, 32)]),
    (exercises.check_conv_param_count, 1216, [1200, 416, 1215]),
])
def test_checks_pass_right_and_fail_wrong(capsys, check, right, wrongs):
    assert check(right) is True
    assert capsys.readouterr().out.startswith("PASS: ")
    for wrong in wrongs + GARBAGE:
        assert check(wrong) is False, wrong
        out = capsys.readouterr().out
        assert out.startswith("FAIL: not yet. Hint: ") and len(out) > 30


def test_check_output_sizes_hint_names_the_floor(capsys):
    assert not exercises.check_output_sizes([(32, 32), (14, 14), (4, 5)])  # task 2 rounded up
    out = capsys.readouterr().out
    assert "task 2: round DOWN" in out and "task 1" not in out and "task 3" not in out


def test_check_accepts_numpy_answers(capsys):
    assert exercises.check_conv_value(np.float64(12.0))
    assert exercises.check_batch_shape(np.zeros((100, 1, 28, 28)).shape)
    assert exercises.check_output_sizes(np.array([[32, 32], [13, 13], [4, 5]]))


# ----------------------------------------------------------------------- explorers, live --

def _sliders(box):
    return {w.description: w for w in _walk(box) if type(w).__name__ == "IntSlider"}


def _shown(box):
    """(printed text, PNG) currently in the explorer's output widget."""
    out = [w for w in _walk(box) if type(w).__name__ == "Output"][0]
    text = "".join(o.get("text", "") for o in out.outputs if o["output_type"] == "stream")
    pngs = [o["data"]["image/png"] for o in out.outputs if o["output_type"] == "display_data"]
    return text, pngs


@pytest.mark.parametrize("make", [widgets.output_size_explorer, widgets.conv_step_explorer])
def test_explorer_redraws_text_and_figure_when_padding_or_stride_move(make):
    box = make()
    s = _sliders(box)
    text, pngs = _shown(box)
    assert text.startswith("Output size:") and len(pngs) == 1
    for name in ("stride", "padding"):
        s[name].value = s[name].value + 1
        new_text, new_pngs = _shown(box)
        assert new_text.startswith("Output size:") and len(new_pngs) == 1
        assert new_text.splitlines()[0] != text.splitlines()[0], name
        assert new_pngs != pngs, name
        text, pngs = new_text, new_pngs
    assert not plt.get_fignums()  # every drawn figure was closed


def test_explorer_output_matches_the_view():
    box = widgets.output_size_explorer()
    s = _sliders(box)
    s["H"].value, s["FH"].value, s["padding"].value, s["stride"].value = 7, 3, 0, 3
    assert _shown(box)[0].strip() == widgets.output_size_report(7, 4, 3, 3, 0, 3)["text"]
    s["FH"].value = 7
    s["H"].value = 4
    s["padding"].value = 1                # 7 > 4 + 2: the filter does not fit, no traceback
    text, pngs = _shown(box)
    assert text.startswith("Output size: none") and len(pngs) == 1


def test_shapes_and_demo_explorers_show_text_and_figure():
    for box, first in ((widgets.conv_shapes_explorer(), "Output size: OH = 5, OW = 5"),
                       (widgets.demo_explorer(), "A 3 x 3 grid has 9 cells")):
        text, pngs = _shown(box)
        assert text.startswith(first) and len(pngs) == 1
