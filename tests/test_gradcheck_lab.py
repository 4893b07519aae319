"""Lesson 5's gradient check (convlab.lessons.gradcheck_lab): with nothing broken every float64
error is far below the threshold, for every setting of the sliders; each switch moves exactly
its own gradient above it, to the size of a bug (col2im's overwriting only where windows
overlap); float32 moves every gradient above it although nothing is broken; the numbers are the
same on every run; exact=False prints no machine-dependent digits."""
import itertools
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convlab.arith import conv_output_size  # noqa: E402
from convlab.layers import Convolution, Pooling  # noqa: E402
from convlab.lessons import gradcheck_lab as lab  # noqa: E402
from convlab.lessons import ui  # noqa: E402

T = lab.THRESHOLD
NAMES = {"Convolution x", "Convolution W", "Convolution b", "Pooling max x", "Pooling avg x"}
SLIDERS = list(itertools.product(range(1, 5), range(1, 4), range(0, 3)))    # filter, stride, pad


def errors(**kw):
    return {f"{layer} {k}": e for layer, k, _, e in lab.gradcheck_rows(**kw)}


@pytest.fixture(scope="module")
def clean():
    return errors()


def test_nothing_broken_float64_passes_with_a_wide_margin(clean):
    assert set(clean) == NAMES
    assert all(e < T / 100 for e in clean.values()), clean       # rounding: ~1e-10


@pytest.mark.parametrize("F, S, P", SLIDERS)
def test_every_slider_setting_passes_when_nothing_is_broken(F, S, P):
    """The lesson says every layer passes for every filter size, stride and padding of the
    sliders: all 36 settings."""
    errs = errors(filter_size=F, stride=S, pad=P)
    assert max(errs.values()) < T / 10, errs


@pytest.mark.parametrize("switch, hit", [("break_col2im", "Convolution x"),
                                         ("drop_bias_grad", "Convolution b"),
                                         ("pool_every_cell", "Pooling max x")])
def test_each_switch_breaks_its_own_gradient(switch, hit, clean):
    errs = errors(**{switch: True})
    assert errs[hit] > 1e-1, errs                                # bug-sized, far above 1e-7
    for k, e in errs.items():
        if k != hit:
            assert e == pytest.approx(clean[k], rel=1e-6, abs=1e-12), k   # the rest untouched


@pytest.mark.parametrize("F, S, P", SLIDERS)
def test_overwriting_col2im_is_seen_exactly_where_windows_overlap(F, S, P):
    overlap = S < F and conv_output_size(5, F, S, P) > 1
    text = lab.gradcheck_view(F, S, P, break_col2im=True, exact=True).text
    dx_line = text.splitlines()[2]                               # Convolution x ... error pass/FAIL
    e = float(dx_line.split()[-2])
    assert (e > 0.1 and dx_line.endswith("FAIL")) if overlap else (e < T), (e, overlap)
    assert ("yet dx passes" in text) != overlap


def test_dropped_bias_gradient_scores_exactly_one():
    assert errors(drop_bias_grad=True)["Convolution b"] == 1.0


def test_float32_fails_although_nothing_is_broken():
    errs = errors(float32=True)
    assert all(T < e < 1 for e in errs.values()), errs
    assert all(e > 1e-4 for e in errs.values()), errs            # not a near miss


def test_h_too_small_or_too_large_fails_a_correct_layer():
    tiny = errors(h=1e-9)
    assert min(tiny.values()) > T                                 # rounding noise grows as 1/h
    big = errors(h=1e-1)
    assert big["Pooling max x"] > T                               # a kink inside +-h
    assert all(e < T for k, e in big.items() if k != "Pooling max x")   # linear: no kink


def test_numbers_are_deterministic():
    assert lab.gradcheck_rows(break_col2im=True) == lab.gradcheck_rows(break_col2im=True)
    assert lab.gradcheck_rows(float32=True) == lab.gradcheck_rows(float32=True)


def test_broken_layers_unbroken_equal_the_library():
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    a, c = lab.BrokenConvolution(W, b, 1, 1), Convolution(W, b, 1, 1)
    dout = rng.standard_normal(c.forward(x).shape)
    np.testing.assert_allclose(a.forward(x), c.forward(x))
    np.testing.assert_allclose(a.backward(dout), c.backward(dout))
    np.testing.assert_allclose(a.dW, c.dW)
    np.testing.assert_allclose(a.db, c.db)
    for mode in ("max", "avg"):
        p, q = lab.BrokenPooling(2, 2, 1, mode=mode), Pooling(2, 2, 1, mode=mode)
        d = rng.standard_normal(q.forward(x).shape)
        p.forward(x)
        np.testing.assert_allclose(p.backward(d), q.backward(d))
    p = lab.BrokenPooling(2, 2, 1, mode="avg", every_cell=True)  # avg: the switch does nothing
    p.forward(x)
    np.testing.assert_allclose(p.backward(d), q.backward(d))


def test_broken_col2im_dx_differs_only_where_windows_overlap():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((1, 1, 4, 4)), rng.standard_normal((1, 1, 2, 2)), np.zeros(1)
    for stride, same in ((2, True), (1, False)):                  # 2x2 stride 2: no overlap
        a, c = lab.BrokenConvolution(W, b, stride, 0, overwrite_col2im=True), Convolution(W, b, stride, 0)
        dout = rng.standard_normal(c.forward(x).shape)
        a.forward(x)
        assert np.allclose(a.backward(dout), c.backward(dout)) == same


def test_view_text_and_figure():
    v = lab.gradcheck_view(break_col2im=True)
    assert isinstance(v, ui.View) and v.fig is not None
    lines = v.text.splitlines()
    assert "float64" in lines[0] and "< 1e-7?" in lines[1]
    assert lines[2].startswith("Convolution  x") and lines[2].endswith("FAIL")
    assert all(line.endswith("pass") for line in lines[3:7])
    assert re.search(r"\d\.\de-\d\d", lines[3])                   # exact: the error is printed
    assert "col2im overwrites" in v.text and "threshold 1e-7 sits between" in v.text
    assert v.png()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kw", [{}, {"break_col2im": True}, {"drop_bias_grad": True},
                                {"pool_every_cell": True}, {"float32": True}, {"h": 1e-1},
                                {"h": 1e-9}, {"filter_size": 2, "stride": 2, "pad": 0,
                                              "break_col2im": True}])
def test_view_without_exact_prints_no_machine_dependent_digits(kw):
    """Compared notebook cells use exact=False: no error value appears, only pass/FAIL and the
    explanation (whose numbers are the fixed ones: the threshold, 1e-10, 1e-1 to 1, h)."""
    text = lab.gradcheck_view(exact=False, **kw).text
    for m in re.finditer(r"\d(\.\d+)?e-?\d+", text):
        assert m.group(0) in {"1e-7", "1e-10", "1e-1", "1e-5", "1e-9", "1e-1"}, (m.group(0), text)


def test_view_float32_explains_why_it_fails():
    v = lab.gradcheck_view(float32=True, exact=False)
    assert "float32" in v.text and "cannot tell a bug from rounding" in v.text
    assert v.text.count("FAIL") == 5


def test_explorer_builds_and_redraws_without_traceback():
    box = lab.gradcheck_explorer()
    controls = box.children[0].children
    assert len(controls) == 8
    out = box.children[1]
    for w in controls[3:7]:
        w.value = True
        assert not any(o.get("name") == "stderr" for o in out.outputs), out.outputs
    assert "FAIL" in out.outputs[0]["text"]


def test_float32_errors_sit_where_lesson_5_says():
    """Lesson 5: in float32 the unbroken layers score between 1e-3 and 1e-1."""
    assert all(1e-3 < e < 1e-1 for e in errors(float32=True).values())
