"""Lessons 3-5 (pooling, im2col, forward/backward): convlab.lessons.lesson03/04/05.

The views return a View and never raise over their explorers' ranges; their numbers agree with
convlab and the plain-loop references; every explorer builds and redraws for every control; the
check_* exercises follow the answer convention (answer first, tuple/list/array/NumPy scalar alike,
one PASS/FAIL line, True/False, never an exception) and fail nearly-right answers."""
import itertools
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from convlab.analysis import im2col_ratio  # noqa: E402
from convlab.gradcheck import rel_error  # noqa: E402
from convlab.im2col import col2im, im2col  # noqa: E402
from convlab.layers import Pooling  # noqa: E402
from convlab.lessons import lesson03 as l3, lesson04 as l4, lesson05 as l5  # noqa: E402
from convlab.lessons.ui import View  # noqa: E402

import reference as ref  # noqa: E402
import notebook_cells as nbc  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MY_NOTEBOOKS = ["03_pooling.ipynb", "04_im2col.ipynb", "05_forward_backward.ipynb"]


def run_view(view, **kw):
    """Call a view; it must return a View with some text. Returns (text, figure or None)."""
    v = view(**kw)
    assert isinstance(v, View)
    assert isinstance(v.text, str)
    return v.text, v.fig


# ------------------------------------------------------------------------- lesson 3: pooling --

POOL_RANGES = list(itertools.product(range(1, 5), range(1, 5), range(0, 3), ("max", "avg")))


@pytest.mark.parametrize("pool, stride, pad, mode", POOL_RANGES)
def test_pooling_view_every_slider_value(pool, stride, pad, mode):
    text, fig = run_view(l3.pooling_view, pool=pool, stride=stride, pad=pad, mode=mode)
    assert fig is not None                       # something is always drawn
    assert text.startswith(f"{mode} pooling, window {pool}x{pool}, stride {stride}, pad {pad}")
    if pad > pool // 2:
        assert "refuses" in text and "Output size" not in text
        with pytest.raises(ValueError):
            Pooling(pool, pool, stride, pad, mode)
    else:
        OH = ref.out_size(6, pool, stride, pad, 1)
        assert f"Output size: OH = (6 + 2*{pad} - {pool}) // {stride} + 1 = {OH}, OW = {OH}" in text
        assert ("in no window" in text) == ((6 + 2 * pad - pool) % stride != 0)


def test_pooling_view_numbers_match_reference():
    x = l3.POOLING_INPUT
    for pool, stride, pad, mode in [(2, 2, 0, "max"), (3, 2, 1, "max"), (3, 1, 1, "avg")]:
        got = Pooling(pool, pool, stride, pad, mode).forward(x[None, None])
        np.testing.assert_allclose(got, ref.pool_forward(x[None, None], pool, pool, stride, pad, mode))


def test_pooling_view_draws_the_layers_output():
    """The output grid in the figure holds the layer's numbers (the last grid's cell labels)."""
    _, fig = run_view(l3.pooling_view, pool=2, stride=2, pad=0, mode="max")
    y = Pooling(2, 2, stride=2).forward(l3.POOLING_INPUT[None, None])[0, 0]
    labels = [t.get_text() for t in fig.axes[0].texts]           # ..., output cells, its title
    assert labels[-1] == "max pooling -> 3x3"
    assert labels[-y.size - 1:-1] == [str(int(v)) for v in y.ravel()]


def test_pooling_view_explains_padding_values():
    assert "-inf" in run_view(l3.pooling_view, pool=2, stride=2, pad=1, mode="max")[0]
    assert "holds 0" in run_view(l3.pooling_view, pool=2, stride=2, pad=1, mode="avg")[0]


def test_pooling_view_window_too_big_is_explained():
    text, fig = run_view(l3.pooling_view, pool=5, stride=1, pad=0, x=np.ones((3, 3)))
    assert "does not fit" in text and fig is not None


@pytest.mark.parametrize("shift, pool, mode", list(itertools.product(range(3), (2, 3), ("max", "avg"))))
def test_shift_view_counts(shift, pool, mode):
    text, _ = run_view(l3.shift_view, shift=shift, pool=pool, mode=mode)
    x = l3.SHIFT_INPUT
    xs = np.zeros_like(x)
    xs[:, shift:] = x[:, :12 - shift]
    y = ref.pool_forward(x[None, None], pool, pool, pool, 0, mode)
    ys = ref.pool_forward(xs[None, None], pool, pool, pool, 0, mode)
    n_in, n_out = int(np.sum(~np.isclose(x, xs))), int(np.sum(~np.isclose(y, ys)))
    assert f"{n_in} of 144 values change" in text
    assert f"{n_out} of {y.size} outputs change" in text
    if shift == 0:
        assert n_in == n_out == 0


def test_shift_change_counts_and_measures():
    x = np.array([[1.0, 2.0, 3.0, 4.0]] * 2)              # shifted: [0, 1, 2, 3]: each moves by 1
    assert l3.shift_change(x, 1, mode=None) == (8, 8, pytest.approx(8 / 20))
    assert l3.shift_change(x, 0, 2, "max") == (0, 2, 0.0)
    n, total, size = l3.shift_change(x, 1, 2, "avg")     # (1.5, 3.5) -> (0.5, 2.5)
    assert (n, total) == (2, 2) and size == pytest.approx(2 / 5)


def test_shift_robustness_as_the_lesson_states_it():
    """Lesson 3's claim, measured by the SIZE of the change: both poolings change far less than
    the input and max pooling less than average pooling, although average pooling changes every
    output (by count). The numbers the prose quotes."""
    pct = lambda shift, pool, mode: round(100 * l3.shift_change(l3.SHIFT_INPUT, shift, pool, mode)[2])  # noqa: E731
    assert (pct(1, 3, None), pct(1, 3, "avg"), pct(1, 3, "max")) == (67, 22, 5)
    assert (pct(1, 2, "avg"), pct(1, 2, "max")) == (25, 12)
    assert (pct(2, 2, None), pct(2, 2, "avg"), pct(2, 2, "max")) == (69, 35, 29)
    for shift, pool in itertools.product((1, 2), (2, 3)):
        s_in, s_max, s_avg = (l3.shift_change(l3.SHIFT_INPUT, shift, pool, m)[2] for m in (None, "max", "avg"))
        assert s_max < s_avg < s_in
    assert l3.shift_change(l3.SHIFT_INPUT, 1, 3, "avg")[:2] == (16, 16)
    assert l3.shift_change(l3.SHIFT_INPUT, 1, 3, "max")[:2] == (10, 16)
    t_max = run_view(l3.shift_view, shift=1, pool=3, mode="max")[0]
    assert "144 of 144 values change" in t_max and "size of the change 5%" in t_max


def test_shifted_right():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(l3.shifted_right(x, 1), [[0, 0, 1], [0, 3, 4]])
    np.testing.assert_array_equal(l3.shifted_right(x, 0), x)


# -------------------------------------------------------------------------- lesson 4: im2col --

IM2COL_RANGES = list(itertools.product((1, 2), (2, 3), (1, 2), (0, 1)))


@pytest.mark.parametrize("channels, F, stride, pad", IM2COL_RANGES)
@pytest.mark.slow
def test_im2col_view_every_slider_value(channels, F, stride, pad):
    OH = ref.out_size(4, F, stride, pad, 1)
    for row in (0, OH * OH - 1, OH * OH + 5):           # the last one is clamped, not an error
        text, fig = run_view(l4.im2col_view, channels=channels, filter_size=F, stride=stride, pad=pad, row=row)
        assert f"col: ({OH * OH}, {channels * F * F})" in text
        assert fig is not None
    assert "does not exist" in text


def test_im2col_view_row_matches_window():
    text, _ = run_view(l4.im2col_view, channels=1, filter_size=2, stride=1, pad=0, row=4)
    # 4x4 input numbered 1..16; row 4 = output (1, 1) = window rows 1-2, cols 1-2
    assert "row 4 is the window of output (1, 1): [6, 7, 10, 11]" in text


def test_im2col_view_filter_too_big_is_explained():
    text, fig = run_view(l4.im2col_view, filter_size=7, pad=1)
    assert "does not fit" in text and fig is None


def test_book_shapes():
    assert im2col(np.zeros((1, 3, 7, 7)), 5, 5).shape == (9, 75)
    assert im2col(np.zeros((10, 3, 7, 7)), 5, 5).shape == (90, 75)


def test_im2col_ratio_exhaustive_over_memory_sliders():
    """Every (H, filter, stride, pad) the memory explorer can reach: the ratio formula equals
    col.size / x.size as measured on real im2col output."""
    for H, F, S, P in itertools.product(range(4, 33, 4), range(1, 12), range(1, 5), range(0, 4)):
        if F > H + 2 * P:
            continue
        x = np.zeros((1, 3, H, H))
        assert im2col_ratio(H, F, S, P) == pytest.approx(im2col(x, F, F, S, P).size / x.size)


@settings(max_examples=20)
@given(H=st.integers(4, 32), F=st.integers(1, 11), S=st.integers(1, 4), P=st.integers(0, 3))
def test_memory_view_never_raises(H, F, S, P):
    text, fig = run_view(l4.memory_view, H=H, filter_size=F, stride=S, pad=P)
    if F > H + 2 * P:
        assert "does not fit" in text and fig is None
    else:
        assert f"memory ratio col / input = {im2col_ratio(H, F, S, P):.2f}" in text


def test_memory_view_book_example():
    text, _ = run_view(l4.memory_view, H=28, filter_size=5, stride=1, pad=0)
    assert "col (N*OH*OW, C*FH*FW) = (576, 75): 43,200 numbers" in text
    assert "memory ratio col / input = 18.37" in text


def test_memory_view_title_names_the_setting():
    _, fig = run_view(l4.memory_view, H=12, filter_size=3, stride=2, pad=1)
    assert any("stride 2, pad 1" in ax.get_title() for ax in fig.axes)


def test_coverage_and_adjoint():
    """What the lesson shows about col2im: it is the adjoint of im2col, and col2im(im2col(x)) is x
    times the count map."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    c = rng.standard_normal(im2col(x, 3, 3, 1, 1).shape)
    assert np.isclose(np.sum(im2col(x, 3, 3, 1, 1) * c), np.sum(x * col2im(c, x.shape, 3, 3, 1, 1)))
    count = col2im(im2col(np.ones_like(x), 3, 3, 1, 1), x.shape, 3, 3, 1, 1)
    np.testing.assert_allclose(col2im(im2col(x, 3, 3, 1, 1), x.shape, 3, 3, 1, 1), x * count)


def _controls(box):
    return {c.description: c for c in box.children[0].children}


def test_im2col_explorer_row_slider_follows_other_sliders():
    sliders = _controls(l4.im2col_explorer())
    assert sliders["row"].max == 8                   # F=2, S=1, P=0 on 4x4: 3x3 outputs
    sliders["filter"].value = 3
    assert sliders["row"].max == 3
    sliders["padding"].value = 1
    assert sliders["row"].max == 15


def test_memory_explorer_filter_slider_follows_H_and_pad():
    sliders = _controls(l4.memory_explorer())
    sliders["H"].value = 4
    assert sliders["filter"].max == 4
    sliders["padding"].value = 3
    assert sliders["filter"].max == 10


# ---------------------------------------------------------------- lesson 5: forward / backward --





def test_lesson05_shows_the_one_gradient_check():
    """Lesson 5 has one gradient-check view and one explorer: gradcheck_lab's (whose own tests
    are tests/test_gradcheck_lab.py)."""
    from convlab.lessons import gradcheck_lab
    assert l5.gradcheck_view is gradcheck_lab.gradcheck_view
    assert l5.gradcheck_explorer is gradcheck_lab.gradcheck_explorer
    text, fig = run_view(l5.gradcheck_view, filter_size=2, stride=1, pad=1, exact=True)
    assert re.search(r"Convolution\s+W\s+\(3, 2, 2, 2\)\s+\d\.\de-\d+\s+pass", text)
    assert fig is not None


def test_pool_backward_example_matches_reference():
    x = l5.POOL_BACKWARD_X[None, None]
    dout = l5.POOL_BACKWARD_DOUT[None, None]
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dout), ref.pool_backward(dout, x, 2, 2, 2, 0, "max"))


def test_pool_backward_view_marks_winners_and_gradients():
    x, dout = l5.POOL_BACKWARD_X, l5.POOL_BACKWARD_DOUT
    dx = ref.pool_backward(dout[None, None], x[None, None], 2, 2, 2, 0, "max")[0, 0]
    text, fig = run_view(l5.pool_backward_view, x=x, dout=dout, dx=dx, mode="max",
                         winners=[(0, 1), (0, 2), (2, 0), (2, 3)])
    assert text == "" and len(fig.axes) == 3
    assert [ax.texts[-1].get_text() for ax in fig.axes] == ["input x", "dout (gradient from above)",
                                                            "dx (to the first max)"]
    shaded = [int(np.sum(~np.all(np.isclose(ax.get_images()[0].get_array()[..., :3], 1), axis=-1)))
              for ax in fig.axes]                # the grid's one image: a pixel per cell
    assert shaded == [4, 0, 4]                   # four winners in x; four non-zero cells in dx


def test_plot_gradcheck_colours_pass_and_fail():
    fig = l5.plot_gradcheck([("a x", 1e-11), ("b W", 0.0), ("c b", 0.5)])
    assert len(fig.axes) == 1
    bars = fig.axes[0].containers[0].patches                     # the bars (not the shaded bands)
    assert len(bars) == 3 and bars[0].get_facecolor() == bars[1].get_facecolor() != bars[2].get_facecolor()
    matplotlib.pyplot.close(fig)


def test_rel_error_flags_difference():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.ones(3), 2 * np.ones(3)) == pytest.approx(0.5)


# ------------------------------------------------------------------------------- explorers --

EXPLORERS = {"pooling_explorer": (l3.pooling_explorer, ["window", "stride", "padding", "mode"]),
             "shift_explorer": (l3.shift_explorer, ["shift", "window", "mode"]),
             "im2col_explorer": (l4.im2col_explorer, ["channels", "filter", "stride", "padding", "row"]),
             "memory_explorer": (l4.memory_explorer, ["H", "filter", "stride", "padding"]),
             "gradcheck_explorer": (l5.gradcheck_explorer, ["filter", "stride", "padding",
                                                            "col2im overwrites (= not +=)", "db dropped",
                                                            "max pooling grad to every cell", "float32",
                                                            "step h"])}


def _view_output(box):
    outs = [c for c in box.children if "convlab-view" in c._dom_classes]
    assert len(outs) == 1 and isinstance(outs[0], widgets.Output)
    return outs[0]


def _extremes(w):
    """The values a learner can reach at the ends of a control (every option of a choice)."""
    if isinstance(w, widgets.ToggleButtons):
        return list(w.options)
    if isinstance(w, widgets.Checkbox):
        return [True, False]
    if isinstance(w, widgets.FloatLogSlider):
        return [w.base ** w.max, w.base ** w.min]
    return [w.max, w.min]


@pytest.mark.parametrize("name", EXPLORERS)
@pytest.mark.slow
def test_explorer_redraws_for_every_control(name):
    make, descriptions = EXPLORERS[name]
    box = make()
    assert "convlab-explorer" in box._dom_classes
    controls = _controls(box)
    assert list(controls) == descriptions
    out = _view_output(box)
    assert [o["output_type"] for o in out.outputs] == ["stream", "display_data"]
    for desc, w in controls.items():
        for v in _extremes(w):
            if v == w.value:
                continue
            before = out.outputs
            w.value = v
            assert out.outputs != before, f"{name}: moving {desc} to {v} changed nothing"
            assert all(o.get("name") != "stderr" for o in out.outputs), out.outputs
            assert out.outputs[0]["text"].strip()


def test_explorer_output_is_the_view():
    """What an explorer shows is exactly its view's output for the controls' values."""
    box = l3.pooling_explorer()
    c = _controls(box)
    c["window"].value, c["stride"].value, c["padding"].value, c["mode"].value = 3, 1, 1, "avg"
    assert _view_output(box).outputs[0]["text"] == l3.pooling_view(3, 1, 1, "avg").text + "\n"


# ------------------------------------------------------------------------------- exercises --

JUNK = [None, "abc", 3, float("nan"), [[1], [2, 3]], [[1, 2], [3, 4]], np.zeros((3, 3)), {"a": 1},
        [None, None], np.array(["a", "b"]), [[float("nan")] * 2] * 2, object()]


def _one_line(check, answer, capsys):
    """Call a check; it must print exactly one PASS/FAIL line and return a bool."""
    ok = check(answer)
    out = capsys.readouterr().out
    assert isinstance(ok, bool)
    assert out.count("\n") == 1 and out.endswith("\n")
    assert out.startswith("PASS: " if ok else "FAIL: not yet. Hint: ")
    return ok


def _convention(check, right_forms, wrong, capsys):
    for answer in right_forms:
        assert _one_line(check, answer, capsys), answer
    for answer in JUNK + wrong:
        assert not _one_line(check, answer, capsys), answer


def test_check_max_pool(capsys):
    right = [[4, 5], [7, 8]]
    _convention(l3.check_max_pool,
                [right, np.array(right), np.array(right, dtype=np.float32), ((4, 5), (7, 8))],
                [[[4, 5], [7, 7]], [[2.5, 2], [3.5, 4]], [[4, 5], [7, 8.01]], [4, 5, 7, 8],
                 [[4, 7], [5, 8]]], capsys)


def test_check_pool_shape(capsys):
    right = (10, 16, 12, 12)
    _convention(l3.check_pool_shape,
                [right, list(right), np.array(right), tuple(np.int64(v) for v in right),
                 (10.0, 16.0, 12.0, 12.0)],
                [(10, 16, 11, 11), (10, 8, 12, 12), (10, 16, 12, 12.5), (16, 12, 12), (10, 16, 12, 12, 1),
                 (10, 16, 12, 12.001)], capsys)


def test_check_pool_shape_hints(capsys):
    l3.check_pool_shape((10, 3, 12, 12))
    assert "C = 16" in capsys.readouterr().out


def test_check_col_shape(capsys):
    right = (8192, 27)
    _convention(l4.check_col_shape, [right, list(right), np.array(right), (np.int32(8192), np.int32(27))],
                [(27, 8192), (7200, 27), (8192, 9), (8192, 27.5), (8192, 27, 1)], capsys)
    l4.check_col_shape([27, 8192])
    assert "swapped" in capsys.readouterr().out


def test_check_coverage(capsys):
    """5x5 under a 3x3 filter with stride 2, counted by hand: windows at rows/columns 0-2, 2-4."""
    per_axis = [1, 1, 2, 1, 1]
    right = [[a * b for b in per_axis] for a in per_axis]
    assert right[2][2] == 4 and right[0] == [1, 1, 2, 1, 1]
    stride1 = [[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [3, 6, 9, 6, 3], [2, 4, 6, 4, 2], [1, 2, 3, 2, 1]]
    old_4x4 = [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]     # the map the lesson prints
    _convention(l4.check_coverage, [right, np.array(right), np.array(right, dtype=float)],
                [np.ones((5, 5)), stride1, old_4x4, np.array(right) + 1e-3, np.array(right)[:3]], capsys)


def test_check_pool_backward(capsys):
    right = ref.pool_backward(l5.POOL_BACKWARD_DOUT[None, None], l5.POOL_BACKWARD_X[None, None],
                              2, 2, 2, 0, "max")[0, 0]
    # the classic mistake: send the gradient to every tied maximum
    ties = np.zeros((4, 4))
    ties[0, 1] = ties[1, 0] = 10
    ties[0, 2] = ties[0, 3] = 20
    ties[2, 1] = ties[3, 1] = 30
    ties[2, 3] = 40
    _convention(l5.check_pool_backward, [right, right.tolist(), right.astype(np.int64)],
                [ties, right.T, np.kron(l5.POOL_BACKWARD_DOUT, np.ones((2, 2))) / 4, right + 1e-4],
                capsys)


def test_check_conv_db(capsys):
    right = l5.CONV_DB_DOUT.sum(axis=(0, 2, 3))
    assert right.tolist() == [-1, 1, -2]
    _convention(l5.check_conv_db, [right, list(right), tuple(int(v) for v in right), right.astype(np.int64),
                                   [np.float64(-1), np.int32(1), -2]],
                [l5.CONV_DB_DOUT.sum(axis=(0, 1)), right + 1, right + 1e-3,
                 l5.CONV_DB_DOUT.mean(axis=(0, 2, 3)), right[:, None]], capsys)


# ------------------------------------------------------------------------------- notebooks --

@pytest.mark.parametrize("notebook", MY_NOTEBOOKS)
def test_notebook_uses_its_lesson_module_only(notebook):
    """Lessons 3-5 import their own lesson module, never the old convlab.widgets, convlab.plots
    or convlab.exercises; and every cell that shows an explorer is marked NBVAL_IGNORE_OUTPUT."""
    nb = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    old = re.compile(r"convlab\.(widgets|plots|exercises)\b|from\s+convlab\s+import\s+[^\n]*"
                     r"\b(widgets|plots|exercises)\b")
    assert not [src for src in code if old.search(src)]
    lesson = f"lesson{notebook[:2]}"
    mine = rf"from convlab\.lessons(\.{lesson} import | import {lesson}\b)"
    assert any(re.search(mine, src) for src in code)
    for src in code:
        if "_explorer(" in src:
            assert src.splitlines()[0] == "# NBVAL_IGNORE_OUTPUT", src


CHECKS = [l3.check_max_pool, l3.check_pool_shape, l4.check_col_shape, l4.check_coverage,
          l5.check_pool_backward, l5.check_conv_db]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_checks_use_no_view_or_widget_code(check):
    """A check computes its right answer from the core (layers, im2col, arith), never from a view,
    an explorer or the widget module: the names its code reads say so."""
    names = set(check.__wrapped__.__code__.co_names)
    assert not {"ui", "widgets", "View"} & names
    assert not [n for n in names if n.endswith(("_view", "_explorer")) or n.startswith("plot_")]


# ------------------------------------------------- exercises on demand, implement-it, predictions --

from convlab.lessons import solutions  # noqa: E402
from convlab.lessons.implement import STUBS  # noqa: E402

#: Each notebook's number/shape exercises (the ANSWERS names) and implement-it exercises.
EXERCISES = {"03_pooling.ipynb": (l3, ["max_pool", "pool_shape"], ["max_pool_naive"]),
             "04_im2col.ipynb": (l4, ["col_shape", "coverage"], ["im2col", "col2im"]),
             "05_forward_backward.ipynb": (l5, ["pool_backward", "conv_db"],
                                           ["conv_backward", "max_pool_backward"])}


def _cells(notebook):
    return [c for c in nbc.cells(notebook) if c["cell_type"] == "code"]


def _out(cell):
    return "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")


@pytest.mark.parametrize("notebook", MY_NOTEBOOKS)
def test_worked_answers_pass_their_checks(notebook, capsys):
    """CI runs every worked answer of lessons 3-5 through its check (solutions.ANSWERS)."""
    module, answers, _ = EXERCISES[notebook]
    for name in answers:
        assert _one_line(getattr(module, "check_" + name), solutions.ANSWERS[name][0], capsys), name
        solutions.show(name)
        assert "Answer: " in capsys.readouterr().out


@pytest.mark.parametrize("notebook", MY_NOTEBOOKS)
def test_exercise_cells_hold_placeholders_and_solutions_on_demand(notebook):
    """Each exercise cell holds a placeholder and its committed output is a FAIL line; the worked
    answer is shown only on demand, by a commented-out solutions.show line with no output; no
    committed output of the notebook says PASS."""
    module, answers, implement = EXERCISES[notebook]
    cells = _cells(notebook)
    srcs = ["".join(c["source"]) for c in cells]
    for name in answers:
        k = next(i for i, src in enumerate(srcs) if f"check_{name}(answer)" in src)
        assert srcs[k].startswith("answer = ...")
        assert _out(cells[k]).startswith("FAIL: not yet. Hint: ")
        assert srcs[k + 1] == f'# solutions.show("{name}")   # remove the # and run to see a solution'
    for name in implement:
        k = srcs.index(STUBS[name])                             # the stub, exactly as implement has it
        assert srcs[k + 1] == f"check_{name}({name})"
        assert _out(cells[k + 1]) == ("FAIL: not yet. Hint: not written yet: replace `raise "
                                      "NotImplementedError` with your code, then run this check again.\n")
        assert srcs[k + 2] == f'# solutions.show("{name}")   # remove the # and run to see a solution'
    for c, src in zip(cells, srcs):
        if "solutions.show(" in src:
            assert src.startswith("# ") and not c["outputs"], src
        assert "PASS" not in _out(c), src


@pytest.mark.parametrize("notebook", MY_NOTEBOOKS)
def test_predictions_come_before_the_truth(notebook):
    """Predict, then check: a cell `my_guess = None  # ...`, then a cell that computes the truth and
    compares (committed output: "No guess yet ...")."""
    cells = _cells(notebook)
    srcs = ["".join(c["source"]) for c in cells]
    guesses = [i for i, src in enumerate(srcs) if src.startswith("my_guess = None")]
    assert guesses
    for i in guesses:
        assert "compare_guess(my_guess" in srcs[i + 1] and not cells[i]["outputs"]
        assert "No guess yet" in _out(cells[i + 1])



def test_what_lessons_3_and_5_say_of_pytorch():
    """Lesson 3: average pooling pads with 0 and counts it, PyTorch's default; max pooling pads
    with -inf; a pad over half the window is refused by both. Lesson 5: on a tie the gradient goes
    to the first maximum reading row by row, as in PyTorch (the exercise's input has ties)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    np.testing.assert_allclose(Pooling(3, 3, 2, 1, "avg").forward(x),
                               F.avg_pool2d(torch.tensor(x), 3, 2, 1).numpy(), rtol=1e-12)
    neg = -np.abs(x) - 0.1
    np.testing.assert_allclose(Pooling(3, 3, 2, 1).forward(neg),
                               F.max_pool2d(torch.tensor(neg), 3, 2, 1).numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="half"):
        F.max_pool2d(torch.tensor(x), 2, 2, 2)
    with pytest.raises(ValueError, match="half the window"):
        Pooling(2, 2, 2, 2)
    xt = torch.tensor(l5.POOL_BACKWARD_X[None, None], requires_grad=True)
    F.max_pool2d(xt, 2, 2).backward(torch.tensor(l5.POOL_BACKWARD_DOUT[None, None]))
    layer = Pooling(2, 2, 2)
    layer.forward(l5.POOL_BACKWARD_X[None, None])
    np.testing.assert_array_equal(layer.backward(l5.POOL_BACKWARD_DOUT[None, None]), xt.grad.numpy())


# ------------------------------------------- lesson 3: what the book's Pooling does with pad --

def test_book_pooling_crashes_when_padding_adds_windows():
    """Lesson 3, section 6: 4x4 input, 2x2 window, stride 2, pad 1 -> 9 windows, 4 places."""
    neg = -np.arange(1, 17, dtype=float).reshape(1, 1, 4, 4)
    with pytest.raises(ValueError):
        l3.BookPooling(2, 2, stride=2, pad=1).forward(neg)
    assert "crashes" in l3.book_pooling_report(neg, 2, 2, 1)


def test_book_pooling_runs_with_padding_that_adds_no_window():
    """6x6, 3x3 window, stride 3, pad 1: the book's class runs; its windows are ours, but its
    padding is 0, which wins a border window of negative values ('wrong'), never of values >= 0."""
    neg6 = -np.arange(1, 37, dtype=float).reshape(1, 1, 6, 6)
    book = l3.BookPooling(3, 3, stride=3, pad=1).forward(neg6)[0, 0]
    ours = Pooling(3, 3, stride=3, pad=1).forward(neg6)[0, 0]
    assert book.tolist() == [[0, 0], [0, -15]] and ours.tolist() == [[-1, -3], [-13, -15]]
    assert "NOT the same" in l3.book_pooling_report(neg6, 3, 3, 1)
    assert np.array_equal(l3.BookPooling(3, 3, stride=3, pad=1).forward(-neg6),
                          Pooling(3, 3, stride=3, pad=1).forward(-neg6))
    assert "the same" in l3.book_pooling_report(-neg6, 3, 3, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(2, 3), st.integers(1, 3), st.integers(0, 1), st.integers(4, 8),
       st.integers(0, 2 ** 31 - 1))
def test_book_pooling_is_exactly_one_of_the_three_cases(C, pool, stride, pad, H, seed):
    """Crash iff the padding adds windows; otherwise our numbers, or padding's 0 where a window's
    real values are all negative."""
    from convlab.arith import conv_output_size
    if pad > pool // 2 or H < pool:
        return
    x = np.random.default_rng(seed).standard_normal((2, C, H, H))
    adds = conv_output_size(H, pool, stride, pad) != (H - pool) // stride + 1
    if adds:
        with pytest.raises(ValueError):
            l3.BookPooling(pool, pool, stride, pad).forward(x)
        return
    book = l3.BookPooling(pool, pool, stride, pad).forward(x)
    ours = Pooling(pool, pool, stride=stride, pad=pad).forward(x)
    if pad == 0:
        assert np.array_equal(book, ours)
    else:
        touches_pad = book != ours
        assert np.all(book[touches_pad] == 0) and np.all(ours[touches_pad] < 0)


def test_lesson4_intro_step_count_is_the_timed_batch():
    """Lesson 4's introduction quotes '11,520 steps for the small batch timed in section 6' before
    that section prints it: 20 images x 24 x 24 output positions of a 5x5 filter on 28x28."""
    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "04_im2col.ipynb")
                       .read_text(encoding="utf-8"))["cells"]
    assert "11,520 steps" in "".join(cells[0]["source"])
    timed = next("".join(c["source"]) for c in cells if "def race(" in "".join(c["source"]))
    assert "rng.random((20, 3, 28, 28))" in timed and "im2col(x, 5, 5)" in timed
    assert 20 * (28 - 5 + 1) ** 2 == 11520
