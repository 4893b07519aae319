"""im2col / col2im: book shapes, agreement with the loop versions, adjointness, dtype."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from convlab.im2col import (col2im, col2im_loops, col2im_transposed, col2im_wide, fold, im2col,
                            im2col_loops, im2col_transposed, windows)


def test_book_shapes():
    assert im2col(np.random.rand(1, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (9, 75)
    assert im2col(np.random.rand(10, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (90, 75)


def test_layout_is_the_books():
    """Row = (n, oh, ow) in C order; column = (c, fh, fw) in C order."""
    x = np.arange(2 * 2 * 3 * 4, dtype=np.float64).reshape(2, 2, 3, 4)
    col = im2col(x, 2, 3, stride=1, pad=0)            # OH = 2, OW = 2
    assert col.shape == (2 * 2 * 2, 2 * 2 * 3)
    # row for n=1, oh=1, ow=0; column for c=1, fh=0, fw=2
    assert col[1 * 4 + 1 * 2 + 0, 1 * 6 + 0 * 3 + 2] == x[1, 1, 1 + 0, 0 + 2]
    np.testing.assert_array_equal(col[0], x[0, :, 0:2, 0:3].reshape(-1))


@st.composite
def geometry(draw, max_dilation=3):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    FH, FW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))
    hmin, wmin = max(1, dh * (FH - 1) + 1 - 2 * ph), max(1, dw * (FW - 1) + 1 - 2 * pw)
    H, W = draw(st.integers(hmin, hmin + 6)), draw(st.integers(wmin, wmin + 6))
    return (N, C, H, W), (FH, FW), (sh, sw), (ph, pw), (dh, dw)


@given(g=geometry(), seed=st.integers(0, 2**32 - 1))
def test_im2col_matches_loops_and_col2im_is_adjoint(g, seed):
    shape, (FH, FW), S, P, D = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    col = im2col(x, FH, FW, S, P, D)
    np.testing.assert_array_equal(col, im2col_loops(x, FH, FW, S, P, D))
    c = rng.standard_normal(col.shape)
    back = col2im(c, shape, FH, FW, S, P, D)
    assert back.shape == shape
    np.testing.assert_allclose(back, col2im_loops(c, shape, FH, FW, S, P, D), rtol=0, atol=1e-12)
    # adjointness: <im2col(x), c> == <x, col2im(c)>
    lhs, rhs = np.sum(col * c), np.sum(x * back)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@given(g=geometry(), seed=st.integers(0, 2**32 - 1))
def test_windows_and_fold_are_adjoint(g, seed):
    shape, (FH, FW), S, P, D = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    v = windows(x, FH, FW, S, P, D)
    w = rng.standard_normal(v.shape)
    assert abs(np.sum(v * w) - np.sum(x * fold(w, shape, S, P, D))) <= 1e-10 * max(1.0, abs(np.sum(v * w)))


@given(g=geometry(), seed=st.integers(0, 2**32 - 1))
def test_transposed_layout_is_the_books_transposed(g, seed):
    """What the Convolution layer uses: im2col(x).T built directly, and its adjoint."""
    shape, (FH, FW), S, P, D = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    colT = im2col_transposed(x, FH, FW, S, P, D)
    np.testing.assert_array_equal(colT, im2col(x, FH, FW, S, P, D).T)
    out = np.full(colT.shape, np.nan)
    assert im2col_transposed(x, FH, FW, S, P, D, out=out) is out
    np.testing.assert_array_equal(out, colT)
    c = rng.standard_normal(colT.shape)
    np.testing.assert_allclose(col2im_transposed(c, shape, FH, FW, S, P, D),
                               col2im(c.T, shape, FH, FW, S, P, D), rtol=0, atol=1e-12)


@given(g=geometry(), seed=st.integers(0, 2**32 - 1))
def test_col2im_wide_equals_col2im_for_stride_1(g, seed):
    """The wide layout: each output row padded with W' - OW zeros to the padded width W'."""
    (N, C, H, W), (FH, FW), _, P, D = g
    shape = (N, C, H, W)
    rng = np.random.default_rng(seed)
    OH, OW = H + 2 * P[0] - D[0] * (FH - 1), W + 2 * P[1] - D[1] * (FW - 1)
    Wp = W + 2 * P[1]
    c = rng.standard_normal((C * FH * FW, N * OH * OW))
    wide = np.zeros((C * FH * FW, N, OH, Wp))
    wide[..., :OW] = c.reshape(-1, N, OH, OW)
    got = col2im_wide(wide.reshape(C * FH * FW, -1), shape, FH, FW, P, D)
    assert got.shape == shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, col2im_transposed(c, shape, FH, FW, 1, P, D), rtol=0, atol=1e-12)


def test_col2im_wide_checks_its_shape():
    with pytest.raises(ValueError, match=r"col must have shape \(C\*FH\*FW, N\*OH\*W'\)"):
        col2im_wide(np.zeros((9, 9)), (1, 1, 5, 5), 3, 3)    # OH*OW = 9, but OH*W' = 15


def test_col2im_sums_overlaps_not_inverse():
    """A pixel covered by k windows comes back k times: col2im(im2col(ones)) counts coverage."""
    x = np.ones((1, 1, 4, 4))
    counts = col2im(im2col(x, 3, 3), x.shape, 3, 3)
    expected = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=float)
    np.testing.assert_array_equal(counts[0, 0], expected)


def test_padding_rows_are_zero():
    x = np.ones((1, 1, 2, 2))
    col = im2col(x, 3, 3, pad=1)                      # OH = OW = 2
    np.testing.assert_array_equal(col[0].reshape(3, 3), [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(dtype)
    col = im2col(x, 3, 2, stride=(2, 1), pad=(1, 0))
    assert col.dtype == dtype
    back = col2im(col, x.shape, 3, 2, stride=(2, 1), pad=(1, 0))
    assert back.dtype == dtype
    assert im2col_loops(x, 3, 2).dtype == dtype
    assert col2im_loops(im2col_loops(x, 3, 2), x.shape, 3, 2).dtype == dtype


def test_im2col_does_not_alias_or_modify_input():
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5))
    x0 = x.copy()
    col = im2col(x, 3, 3)
    col[...] = 7.0                       # writing into the result must not touch x
    np.testing.assert_array_equal(x, x0)
    c = np.ones((9, 18))
    c0 = c.copy()
    col2im(c, x.shape, 3, 3)
    np.testing.assert_array_equal(c, c0)


@pytest.mark.parametrize("call, name", [
    (lambda: im2col(np.zeros((3, 5, 5)), 3, 3), "input_data"),
    (lambda: im2col(np.zeros((1, 1, 3, 3)), 4, 3), "kernel"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 3, 3, stride=0), "stride"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 3, 3, pad=-1), "pad"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 3, 3, dilation=0), "dilation"),
    (lambda: col2im(np.zeros((8, 9)), (1, 1, 5, 5), 3, 3), "col"),
    (lambda: col2im(np.zeros((9, 9)), (1, 5, 5), 3, 3), "input_data"),
    (lambda: fold(np.zeros((1, 1, 3, 3, 3)), (1, 1, 5, 5)), "win"),
    (lambda: fold(np.zeros((1, 1, 2, 3, 3, 3)), (1, 1, 5, 5)), "win"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()
