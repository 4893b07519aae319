"""Lessons 3-5 (pooling, im2col, forward/backward): the views behind the sliders never raise over
their slider ranges, their numbers agree with convlab and the plain-loop references, and the
check_* exercises pass right answers and fail wrong ones."""
import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from convlab import exercises as ex  # noqa: E402
from convlab import widgets as w  # noqa: E402
from convlab.gradcheck import rel_error  # noqa: E402
from convlab.im2col import col2im, im2col  # noqa: E402
from convlab.layers import Pooling  # noqa: E402

import reference as ref  # noqa: E402


def run_view(view, **kw):
    """Call a view without showing anything; close its figure; return its text."""
    text, fig = view(show=False, **kw)
    assert isinstance(text, str) and text
    if fig is not None:
        plt.close(fig)
    return text, fig


# ------------------------------------------------------------------------- lesson 3: pooling --

POOL_RANGES = list(itertools.product(range(1, 5), range(1, 5), range(0, 3), ("max", "avg")))


@pytest.mark.parametrize("pool, stride, pad, mode", POOL_RANGES)
def test_pooling_view_every_slider_value(pool, stride, pad, mode):
    text, fig = run_view(w.pooling_view, pool=pool, stride=stride, pad=pad, mode=mode)
    assert fig is not None                       # something is always drawn
    if pad > pool // 2:
        assert "refuses" in text and "Output size" not in text
        with pytest.raises(ValueError):
            Pooling(pool, pool, stride, pad, mode)
    else:
        OH = ref.out_size(6, pool, stride, pad, 1)
        assert f"Output size: OH = (6 + 2*{pad} - {pool}) // {stride} + 1 = {OH}, OW = {OH}" in text
        assert ("in no window" in text) == ((6 + 2 * pad - pool) % stride != 0)


def test_pooling_view_numbers_match_reference():
    x = w.POOLING_INPUT
    for pool, stride, pad, mode in [(2, 2, 0, "max"), (3, 2, 1, "max"), (3, 1, 1, "avg")]:
        got = Pooling(pool, pool, stride, pad, mode).forward(x[None, None])
        np.testing.assert_allclose(got, ref.pool_forward(x[None, None], pool, pool, stride, pad, mode))


def test_pooling_view_explains_padding_values():
    assert "-inf" in run_view(w.pooling_view, pool=2, stride=2, pad=1, mode="max")[0]
    assert "holds 0" in run_view(w.pooling_view, pool=2, stride=2, pad=1, mode="avg")[0]


def test_pooling_view_window_too_big_is_explained():
    text, fig = run_view(w.pooling_view, pool=5, stride=1, pad=0, x=np.ones((3, 3)))
    assert "does not fit" in text


@pytest.mark.parametrize("shift, pool, mode", list(itertools.product(range(3), (2, 3), ("max", "avg"))))
def test_shift_view_counts(shift, pool, mode):
    text, _ = run_view(w.shift_view, shift=shift, pool=pool, mode=mode)
    x = w.SHIFT_INPUT
    xs = np.zeros_like(x)
    xs[:, shift:] = x[:, :12 - shift]
    y = ref.pool_forward(x[None, None], pool, pool, pool, 0, mode)
    ys = ref.pool_forward(xs[None, None], pool, pool, pool, 0, mode)
    n_in, n_out = int(np.sum(~np.isclose(x, xs))), int(np.sum(~np.isclose(y, ys)))
    assert f"{n_in} of 144 values change" in text
    assert f"{n_out} of {y.size} outputs change" in text
    if shift == 0:
        assert n_in == n_out == 0


def test_shift_view_shows_robustness_of_max_pooling():
    """The lesson's claim: a 1-pixel shift changes every input value but far fewer max-pooled
    outputs, while average pooling changes them all."""
    t_max = run_view(w.shift_view, shift=1, pool=3, mode="max")[0]
    t_avg = run_view(w.shift_view, shift=1, pool=3, mode="avg")[0]
    changed_max = int(re.search(r"(\d+) of 16 outputs change", t_max).group(1))
    assert "144 of 144 values change" in t_max
    assert changed_max <= 10
    assert "16 of 16 outputs change" in t_avg


def test_shifted_right():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(w.shifted_right(x, 1), [[0, 0, 1], [0, 3, 4]])
    np.testing.assert_array_equal(w.shifted_right(x, 0), x)


def test_lesson3_explorers_build():
    for make in (w.pooling_explorer, w.shift_explorer):
        box = make()
        descriptions = {c.description for c in box.children[0].children}
        assert "window" in descriptions


# -------------------------------------------------------------------------- lesson 4: im2col --

IM2COL_RANGES = list(itertools.product((1, 2), (2, 3), (1, 2), (0, 1)))


@pytest.mark.parametrize("channels, F, stride, pad", IM2COL_RANGES)
def test_im2col_view_every_slider_value(channels, F, stride, pad):
    OH = ref.out_size(4, F, stride, pad, 1)
    for row in (0, OH * OH - 1, OH * OH + 5):           # the last one is clamped, not an error
        text, fig = run_view(w.im2col_view, channels=channels, filter_size=F, stride=stride, pad=pad, row=row)
        assert f"col: ({OH * OH}, {channels * F * F})" in text
        assert fig is not None
    assert "does not exist" in text


def test_im2col_view_row_matches_window():
    text, _ = run_view(w.im2col_view, channels=1, filter_size=2, stride=1, pad=0, row=4)
    # 4x4 input numbered 1..16; row 4 = output (1, 1) = window rows 1-2, cols 1-2
    assert "row 4 is the window of output (1, 1): [6, 7, 10, 11]" in text


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
        assert w.im2col_ratio(H, F, S, P) == pytest.approx(im2col(x, F, F, S, P).size / x.size)


@settings(max_examples=20)
@given(H=st.integers(4, 32), F=st.integers(1, 11), S=st.integers(1, 4), P=st.integers(0, 3))
def test_memory_view_never_raises(H, F, S, P):
    text, fig = run_view(w.memory_view, H=H, filter_size=F, stride=S, pad=P)
    if F > H + 2 * P:
        assert "does not fit" in text and fig is None
    else:
        assert f"memory ratio col / input = {w.im2col_ratio(H, F, S, P):.2f}" in text


def test_memory_view_book_example():
    text, _ = run_view(w.memory_view, H=28, filter_size=5, stride=1, pad=0)
    assert "col (N*OH*OW, C*FH*FW) = (576, 75): 43,200 numbers" in text
    assert "memory ratio col / input = 18.37" in text


def test_coverage_and_adjoint():
    """What the lesson shows about col2im: it is the adjoint of im2col, and col2im(im2col(x)) is x
    times the count map."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    c = rng.standard_normal(im2col(x, 3, 3, 1, 1).shape)
    assert np.isclose(np.sum(im2col(x, 3, 3, 1, 1) * c), np.sum(x * col2im(c, x.shape, 3, 3, 1, 1)))
    count = col2im(im2col(np.ones_like(x), 3, 3, 1, 1), x.shape, 3, 3, 1, 1)
    np.testing.assert_allclose(col2im(im2col(x, 3, 3, 1, 1), x.shape, 3, 3, 1, 1), x * count)


def test_im2col_explorer_row_slider_follows_other_sliders():
    box = w.im2col_explorer()
    sliders = {c.description: c for c in box.children[0].children}
    assert sliders["row"].max == 8                   # F=2, S=1, P=0 on 4x4: 3x3 outputs
    sliders["filter"].value = 3
    assert sliders["row"].max == 3
    sliders["padding"].value = 1
    assert sliders["row"].max == 15


def test_memory_explorer_filter_slider_follows_H_and_pad():
    box = w.memory_explorer()
    sliders = {c.description: c for c in box.children[0].children}
    sliders["H"].value = 4
    assert sliders["filter"].max == 4
    sliders["padding"].value = 3
    assert sliders["filter"].max == 10


# ---------------------------------------------------------------- lesson 5: forward / backward --

def test_gradcheck_rows_cover_the_layers():
    rows = w.gradcheck_rows(3, 1, 0)
    names = {(layer, k) for layer, k, _, _ in rows}
    for need in [("Convolution", "x"), ("Convolution", "W"), ("Convolution", "b"), ("Pooling max", "x"),
                 ("Pooling avg", "x"), ("Affine", "W"), ("Relu", "x"), ("SimpleConvNet", "W1"),
                 ("SimpleConvNet", "b3")]:
        assert need in names
    assert all(e < 1e-7 for *_, e in rows)


def test_gradcheck_rows_detect_a_wrong_gradient(monkeypatch):
    """The table is not a rubber stamp: break Pooling's backward and the Pooling rows fail."""
    from convlab import layers
    good = layers.Pooling.backward
    monkeypatch.setattr(layers.Pooling, "backward", lambda self, dout: 1.5 * good(self, dout))
    rows = w.gradcheck_rows(2, 2, 0)
    errs = {(layer, k): e for layer, k, _, e in rows}
    assert errs[("Pooling max", "x")] > 0.1 and errs[("Pooling avg", "x")] > 0.1
    assert errs[("Convolution", "W")] < 1e-7


@settings(max_examples=6)
@given(F=st.integers(1, 4), S=st.integers(1, 3), P=st.integers(0, 2))
def test_gradcheck_view_every_slider_value(F, S, P):
    text, fig = run_view(w.gradcheck_view, filter_size=F, stride=S, pad=P, exact=False)
    assert text.endswith("all 15 gradients agree: True")
    assert "e-" not in text.split("\n", 2)[2]       # exact=False: no error values printed


def test_gradcheck_view_exact_prints_errors():
    text, _ = run_view(w.gradcheck_view, filter_size=2, stride=1, pad=1, exact=True)
    assert re.search(r"Convolution\s+W\s+\(3, 2, 2, 2\)\s+\d\.\de-\d+\s+True", text)


def test_pool_backward_example_matches_reference():
    x = ex.POOL_BACKWARD_X[None, None]
    dout = ex.POOL_BACKWARD_DOUT[None, None]
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dout), ref.pool_backward(dout, x, 2, 2, 2, 0, "max"))


def test_gradcheck_explorer_builds():
    box = w.gradcheck_explorer()
    assert [c.description for c in box.children[0].children] == ["filter", "stride", "padding"]


def test_rel_error_flags_difference():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.ones(3), 2 * np.ones(3)) == pytest.approx(0.5)


# ------------------------------------------------------------------------------- exercises --

WRONG = [None, "x", 3, [[1, 2], [3, 4]], np.zeros((3, 3)), [[1, 2, 3], [4]]]


def _silent(check, answer, capsys):
    ok = check(answer)
    out = capsys.readouterr().out
    assert out.startswith("PASS: " if ok else "FAIL: not yet. Hint: ")
    return ok


def test_check_max_pool(capsys):
    assert _silent(ex.check_max_pool, [[4, 5], [7, 8]], capsys)
    assert _silent(ex.check_max_pool, np.array([[4, 5], [7, 8]]), capsys)
    for bad in WRONG + [[[4, 5], [7, 7]], [[2.5, 2], [3.5, 4]]]:
        assert not _silent(ex.check_max_pool, bad, capsys)


def test_check_pool_shape(capsys):
    assert _silent(ex.check_pool_shape, (10, 16, 12, 12), capsys)
    for bad in WRONG + [(10, 16, 11, 11), (10, 8, 12, 12), [10, 16, 12, 12]]:
        assert not _silent(ex.check_pool_shape, bad, capsys)


def test_check_col_shape(capsys):
    assert _silent(ex.check_col_shape, (8192, 27), capsys)
    for bad in WRONG + [(27, 8192), (7200, 27), (8192, 9)]:
        assert not _silent(ex.check_col_shape, bad, capsys)


def test_check_coverage(capsys):
    right = [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    assert _silent(ex.check_coverage, right, capsys)
    for bad in WRONG + [np.ones((4, 4)), [[1, 2, 2, 1], [2, 3, 3, 2], [2, 3, 3, 2], [1, 2, 2, 1]]]:
        assert not _silent(ex.check_coverage, bad, capsys)


def test_check_pool_backward(capsys):
    right = ref.pool_backward(ex.POOL_BACKWARD_DOUT[None, None], ex.POOL_BACKWARD_X[None, None],
                              2, 2, 2, 0, "max")[0, 0]
    assert _silent(ex.check_pool_backward, right, capsys)
    # the classic mistake: send the gradient to every tied maximum
    ties = np.zeros((4, 4))
    ties[0, 1] = ties[1, 0] = 10
    ties[0, 2] = ties[0, 3] = 20
    ties[2, 1] = ties[3, 1] = 30
    ties[2, 3] = 40
    for bad in WRONG + [ties, right.T, np.kron(ex.POOL_BACKWARD_DOUT, np.ones((2, 2))) / 4]:
        assert not _silent(ex.check_pool_backward, bad, capsys)


def test_check_conv_db(capsys):
    right = ex.CONV_DB_DOUT.sum(axis=(0, 2, 3))
    assert _silent(ex.check_conv_db, right, capsys)
    assert _silent(ex.check_conv_db, list(right), capsys)
    for bad in WRONG + [ex.CONV_DB_DOUT.sum(axis=(0, 1)), right + 1, ex.CONV_DB_DOUT.mean(axis=(0, 2, 3))]:
        assert not _silent(ex.check_conv_db, bad, capsys)


# ------------------------------------------------------------------- figures used directly --

def test_plot_pool_backward_and_gradcheck_figures():
    from convlab.plots import plot_gradcheck, plot_pool_backward
    x = ex.POOL_BACKWARD_X
    fig = plot_pool_backward(x, ex.POOL_BACKWARD_DOUT, np.zeros_like(x), "max", [(0, 1), (2, 3)])
    assert len(fig.axes) == 3
    plt.close(fig)
    fig = plot_gradcheck([("a x", 1e-11), ("b W", 0.0), ("c b", 0.5)])
    assert len(fig.axes) == 1
    plt.close(fig)


def test_memory_view_title_names_the_setting():
    _, fig = w.memory_view(H=12, filter_size=3, stride=2, pad=1, show=False)
    assert any("stride 2, pad 1" in ax.get_title() for ax in fig.axes)
    plt.close(fig)
