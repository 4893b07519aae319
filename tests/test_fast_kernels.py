"""convlab/fast/kernels.py: each speed trick equals the plain NumPy its docstring names (ties,
exact zeros, -inf and NaN included)."""
import numpy as np
from hypothesis import given, strategies as st

from convlab.fast.kernels import (channel_window_sum, conv_backward_dx, conv_backward_flat,
                                  conv_backward_images_last, conv_chunks, conv_forward_flat,
                                  conv_forward_images_last, fold_flat, inverse_power, sigmoid,
                                  sigmoid_in_place,
                                  window_max, window_max_backward, window_mean,
                                  window_mean_backward)
from convlab.fast.workspace import Workspace
from convlab.im2col import col2im_transposed, col2im_wide, fold, im2col_transposed, windows
from convlab.layers import LRN, first_max

from strategies import conv_case, kinds, pool_case, seeds, values

dtypes = st.sampled_from([np.float32, np.float64])


# ---------------------------------------------------------------------------- the helpers --

@given(case=conv_case(max_dilation=3), kind=kinds, seed=seeds)
def test_conv_backward_dx_equals_plain_col2im(case, kind, seed):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    N, C, H, W = xs
    FN, _, FH, FW = ws
    Wt = values(rng, ws, kind)
    OH = (H + 2 * P[0] - D[0] * (FH - 1) - 1) // S[0] + 1
    OW = (W + 2 * P[1] - D[1] * (FW - 1) - 1) // S[1] + 1
    d = values(rng, (FN, N * OH * OW), kind)
    plain = col2im_transposed(Wt.reshape(FN, -1).T @ d, xs, FH, FW, S, P, D)
    np.testing.assert_allclose(conv_backward_dx(d, Wt, xs, S, P, D), plain, rtol=0, atol=1e-12)


def with_specials(rng, x, share):
    """x with about ``share`` of its values set to -inf and as many to NaN (share 0: x)."""
    x = x.copy()
    x[rng.random(x.shape) < share] = -np.inf
    x[rng.random(x.shape) < share] = np.nan
    return x


@given(case=pool_case(max_size=4), kind=kinds, seed=seeds, share=st.sampled_from([0, 0.2, 0.6]))
def test_window_max_equals_reshape_max_and_first_max(case, kind, seed, share):
    """The running maximum picks the winner ``layers.first_max`` picks from the im2col rows
    (first maximum; the last NaN; never padding), -inf and NaN included."""
    xs, (PH, PW), S, P, _ = case
    rng = np.random.default_rng(seed)
    x = with_specials(rng, values(rng, xs, kind), share)
    win = windows(x, PH, PW, S, P, pad_value=-np.inf)
    flat = win.reshape(-1, PH * PW)
    real = windows(np.ones(xs, bool), PH, PW, S, P, pad_value=False).reshape(-1, PH * PW)
    out, arg = window_max(win, xs, S, P)
    np.testing.assert_array_equal(out.ravel(), flat.max(axis=-1))
    np.testing.assert_array_equal(arg.ravel(), first_max(flat, real))


@given(case=pool_case(max_size=4), kind=kinds, seed=seeds)
def test_window_max_backward_equals_plain_fold(case, kind, seed):
    xs, (PH, PW), S, P, _ = case
    rng = np.random.default_rng(seed)
    x = values(rng, xs, kind)
    win = windows(x, PH, PW, S, P, pad_value=-np.inf)
    _, arg = window_max(win, xs, S, P)
    dout = rng.standard_normal(arg.shape)
    dwin = np.zeros(arg.shape + (PH * PW,))
    np.put_along_axis(dwin, arg[..., None].astype(np.intp), dout[..., None], axis=-1)
    plain = fold(dwin.reshape(arg.shape + (PH, PW)), xs, S, P)
    np.testing.assert_allclose(window_max_backward(dout, arg, xs, (PH, PW), S, P), plain,
                               rtol=0, atol=1e-12)


@given(case=pool_case(max_size=4), kind=kinds, seed=seeds, dtype=dtypes)
def test_window_mean_equals_plain_mean(case, kind, seed, dtype):
    xs, (PH, PW), S, P, _ = case
    x = values(np.random.default_rng(seed), xs, kind).astype(dtype)
    win = windows(x, PH, PW, S, P)
    got = window_mean(win)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, win.mean(axis=(4, 5)), rtol=4 * np.finfo(dtype).eps,
                               atol=4 * np.finfo(dtype).eps)


@given(case=pool_case(max_size=4), kind=kinds, seed=seeds, dtype=dtypes)
def test_window_mean_backward_equals_plain_fold(case, kind, seed, dtype):
    """The same adds in the same order as the plain fold: equal bit for bit."""
    xs, (PH, PW), S, P, _ = case
    rng = np.random.default_rng(seed)
    OH, OW = windows(np.zeros(xs), PH, PW, S, P).shape[2:4]
    dout = values(rng, xs[:2] + (OH, OW), kind).astype(dtype)
    share = np.broadcast_to((dout / (PH * PW))[..., None, None], dout.shape + (PH, PW))
    plain = fold(share, xs, S, P)
    got = window_mean_backward(dout, xs, (PH, PW), S, P)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, plain)


def test_window_mean_backward_refills_a_reused_array():
    """Through a workspace the gradient array is reused: cells no window writes must be 0 again
    (windows that do not tile: stride 3 over a window of 2)."""
    ws, owner = Workspace(), type("Owner", (), {})()
    owner.workspace = ws
    xs, dout = (1, 1, 5, 5), np.ones((1, 1, 2, 2))
    first = window_mean_backward(dout, xs, (2, 2), (3, 3), (0, 0), owner=owner)
    first[...] = 7
    again = window_mean_backward(dout, xs, (2, 2), (3, 3), (0, 0), owner=owner)
    assert np.shares_memory(first, again)
    np.testing.assert_array_equal(again, fold(np.full((1, 1, 2, 2, 2, 2), 0.25), xs, 3))


def _sigmoid_inputs(seed, dtype, scale):
    """(x, the plain logaddexp sigmoid of x, the exact sigmoid of x computed in long double):
    random x of size ``scale``, with 0 and -0.0 among them."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3, 4, 5)) * scale).astype(dtype)
    x.flat[:2] = [0, -0.0]
    with np.errstate(over="ignore"):
        plain = np.exp(-np.logaddexp(0, -x)).astype(dtype)
        exact = (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(dtype)
    return x, plain, exact


@given(seed=seeds, dtype=dtypes,
       scale=st.sampled_from([1.0, 10.0, 80.0, 700.0]))
def test_sigmoid_equals_plain_logaddexp_version(seed, dtype, scale):
    """Against the plain formula, and both against the exact sigmoid (computed in long double):
    the kernel is within a few roundings of the exact value everywhere, the plain formula
    within |x| roundings (its logaddexp rounds before the exp)."""
    x, plain, exact = _sigmoid_inputs(seed, dtype, scale)
    got = sigmoid(x)
    assert got.dtype == dtype and got.shape == x.shape
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).tiny)
    np.testing.assert_allclose(got, exact, rtol=4 * eps, atol=tiny)
    ok = np.abs(got - plain) <= (4 + 2 * np.abs(x)) * eps * np.abs(plain) + tiny
    assert ok.all(), (x[~ok], got[~ok], plain[~ok])
    if dtype == np.float64:                       # the bound for moderate inputs
        small = np.abs(x) < 1000
        np.testing.assert_allclose(got[small], plain[small], rtol=1e-12, atol=1e-300)
    specials = np.array([np.nan, 0.0, np.inf, -np.inf], dtype)
    np.testing.assert_array_equal(sigmoid(specials), [np.nan, 0.5, 1, 0])
    with np.errstate(invalid="ignore"):                 # logaddexp's NaN
        np.testing.assert_array_equal(sigmoid(specials), np.exp(-np.logaddexp(0, -specials)))


@given(seed=seeds, dtype=dtypes, scale=st.sampled_from([1.0, 10.0, 80.0, 700.0]))
def test_sigmoid_in_place_equals_the_exact_sigmoid(seed, dtype, scale):
    """1 / (1 + exp(-x)) in x's array: within a few roundings of the exact sigmoid (long
    double), 0 where the exact value is below the smallest normal number, without a warning
    even where exp overflows; within |x| roundings of the plain logaddexp formula."""
    x, plain, exact = _sigmoid_inputs(seed, dtype, scale)
    a = x.copy()
    with np.errstate(all="raise"):                      # no overflow reported
        got = sigmoid_in_place(a)
    assert got is a and got.dtype == dtype
    eps, tiny = float(np.finfo(dtype).eps), float(np.finfo(dtype).tiny)
    np.testing.assert_allclose(got, exact, rtol=8 * eps, atol=tiny)
    ok = np.abs(got - plain) <= (8 + 2 * np.abs(x)) * eps * np.abs(plain) + tiny
    assert ok.all(), (x[~ok], got[~ok], plain[~ok])
    np.testing.assert_array_equal(sigmoid_in_place(-x, negated=True), got)   # from -x: the same
    specials = np.array([np.nan, 0.0, np.inf, -np.inf], dtype)
    np.testing.assert_array_equal(sigmoid_in_place(specials), [np.nan, 0.5, 1, 0])


@given(N=st.integers(1, 2), C=st.integers(1, 9), n=st.integers(1, 7), seed=seeds, kind=kinds)
def test_channel_window_sum_equals_plain_cumsum(N, C, n, seed, kind):
    x = values(np.random.default_rng(seed), (N, C, 3, 2), kind)
    lrn = LRN(n=n)
    lo, hi = n // 2, (n - 1) // 2
    got = channel_window_sum(x, lo, hi, out=np.empty_like(x))
    np.testing.assert_allclose(got, lrn._window_sum(x), rtol=0, atol=1e-12)
    loops = np.stack([x[:, max(0, c - lo):c + hi + 1].sum(axis=1) for c in range(C)], axis=1)
    np.testing.assert_allclose(got, loops, rtol=0, atol=1e-12)


@given(seed=seeds, dtype=dtypes,
       beta=st.sampled_from([0.75, 0.5, 1.3]))
def test_inverse_power_equals_np_power(seed, dtype, beta):
    s = (2 + np.random.default_rng(seed).random(50) * 1e4).astype(dtype)
    s[:3] = [2, 1e-3, 1e30]
    got = inverse_power(s, beta)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, np.power(s, -beta), rtol=4 * np.finfo(dtype).eps, atol=0)


@given(case=conv_case(max_dilation=3), kind=kinds, seed=seeds)
def test_fold_flat_equals_col2im_wide(case, kind, seed):
    """One long add per kernel offset over all images end to end equals the per-image fold,
    given zeros where no output pixel is (rows oy >= OH of each padded image)."""
    (N, C, H, W), (_, _, FH, FW), _, P, D = case
    rng = np.random.default_rng(seed)
    Hp, Wp = H + 2 * P[0], W + 2 * P[1]
    OH = Hp - D[0] * (FH - 1)
    wide = values(rng, (C, FH, FW, N, OH, Wp), kind)             # col2im_wide's layout
    OW = Wp - D[1] * (FW - 1)
    wide[..., OW:] = 0
    whole = np.zeros((C, FH, FW, N, Hp, Wp))
    whole[..., :OH, :] = wide
    got = fold_flat(whole.reshape(C, FH, FW, N * Hp * Wp), (Hp, Wp), D)
    got = got.reshape(C, N, Hp, Wp)[:, :, P[0]:P[0] + H, P[1]:P[1] + W].transpose(1, 0, 2, 3)
    plain = col2im_wide(wide.reshape(C * FH * FW, N * OH * Wp), (N, C, H, W), FH, FW, P, D)
    np.testing.assert_allclose(got, plain, rtol=0, atol=1e-12)


def garbage_filled(owner):
    """owner, with every array its workspace lent it so far overwritten with 7s."""
    for a in owner.workspace._arrays.get(owner, {}).values():
        a[...] = 7
    return owner


@given(case=conv_case(max_dilation=3), kind=kinds, seed=seeds, per_chunk=st.integers(1, 3),
       need_dx=st.booleans())
def test_chunked_images_last_convolution_equals_the_plain_one(case, kind, seed, per_chunk,
                                                             need_dx):
    """conv_forward_images_last and conv_backward_images_last (any stride), a few output rows
    per chunk (the last chunk may be short; one chunk of all: the backward uses the forward's
    columns), twice through one workspace (the second time over
    garbage), against the one-GEMM im2col convolution and its col2im backward."""
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    N, C, H, W = xs
    FN, _, FH, FW = ws
    OH = (H + 2 * P[0] - D[0] * (FH - 1) - 1) // S[0] + 1
    OW = (W + 2 * P[1] - D[1] * (FW - 1) - 1) // S[1] + 1
    K = C * FH * FW
    Wt, b = values(rng, ws, kind), rng.standard_normal(FN)
    Wb = np.concatenate([Wt.reshape(FN, K), b[:, None]], axis=1)
    budget = per_chunk * (K + 1) * OW * N * 8
    assert conv_chunks(OH, OW * N, K + 1, 8, budget) == min(OH, per_chunk)
    owner = type("Owner", (), {})()
    owner.workspace = Workspace()
    for step in range(2):
        garbage_filled(owner)
        x, dout = values(rng, xs, kind), values(rng, (N, FN, OH, OW), kind)
        col = np.vstack([im2col_transposed(x, FH, FW, S, P, D), np.ones((1, N * OH * OW))])
        d = dout.transpose(1, 0, 2, 3).reshape(FN, -1)                  # (FN, N*OH*OW)
        absolute = np.abs(col) @ np.abs(d).T                            # no cancellation: a scale
        out, kept = conv_forward_images_last(x, Wb, FH, FW, S, P, D, owner, budget)
        np.testing.assert_allclose(out, (Wb @ col).reshape(FN, N, OH, OW).transpose(1, 0, 2, 3),
                                   rtol=0, atol=1e-12 * (1 + np.abs(Wb).sum()))
        dWbT, dx = conv_backward_images_last(dout, kept, Wt, xs, S, P, D, need_dx, owner, budget)
        np.testing.assert_allclose(dWbT, col @ d.T, rtol=0, atol=1e-12 * (1 + absolute.max()))
        if need_dx:
            plain_dx = col2im_transposed(Wt.reshape(FN, K).T @ d, xs, FH, FW, S, P, D)
            np.testing.assert_allclose(dx, plain_dx, rtol=0,
                                       atol=1e-12 * (1 + np.abs(Wt).sum() * np.abs(d).max()))
        else:
            assert dx is None


@given(case=conv_case(max_dilation=3), kind=kinds, seed=seeds, per_chunk=st.integers(1, 3),
       need_dx=st.booleans())
def test_chunked_flat_convolution_equals_the_plain_one(case, kind, seed, per_chunk, need_dx):
    """conv_forward_flat and conv_backward_flat (stride 1), a few images per chunk (the last
    chunk may be short; one chunk of all: the backward uses the forward's columns), twice
    through one workspace (the second time over garbage), against the one-GEMM im2col
    convolution and its col2im backward."""
    xs, ws, _, P, D = case
    rng = np.random.default_rng(seed)
    N, C, H, W = xs
    FN, _, FH, FW = ws
    Hp, Wp = H + 2 * P[0], W + 2 * P[1]
    OH, OW = Hp - D[0] * (FH - 1), Wp - D[1] * (FW - 1)
    K = C * FH * FW
    Wt, b = values(rng, ws, kind), rng.standard_normal(FN)
    Wb = np.concatenate([Wt.reshape(FN, K), b[:, None]], axis=1)
    budget = per_chunk * (K + 1) * Hp * Wp * 8
    assert conv_chunks(N, Hp * Wp, K + 1, 8, budget) == min(N, per_chunk)
    owner = type("Owner", (), {})()
    owner.workspace = Workspace()
    for step in range(2):
        garbage_filled(owner)
        x, dout = values(rng, xs, kind), values(rng, (N, FN, OH, OW), kind)
        col = np.vstack([im2col_transposed(x, FH, FW, 1, P, D), np.ones((1, N * OH * OW))])
        d = dout.transpose(1, 0, 2, 3).reshape(FN, -1)                  # (FN, N*OH*OW)
        plain_out = (Wb @ col).reshape(FN, N, OH, OW).transpose(1, 0, 2, 3)
        plain_dWbT = col @ d.T
        plain_dx = col2im_transposed(Wt.reshape(FN, K).T @ d, xs, FH, FW, 1, P, D)
        absolute = np.abs(col) @ np.abs(d).T                            # no cancellation: a scale
        out, kept = conv_forward_flat(x, Wb, FH, FW, P, D, owner, budget)
        np.testing.assert_allclose(out, plain_out, rtol=0, atol=1e-12 * (1 + np.abs(Wb).sum()))
        dWbT, dx = conv_backward_flat(dout, kept, Wt, xs, P, D, need_dx, owner, budget)
        np.testing.assert_allclose(dWbT, plain_dWbT, rtol=0, atol=1e-12 * (1 + absolute.max()))
        if need_dx:
            np.testing.assert_allclose(dx, plain_dx, rtol=0,
                                       atol=1e-12 * (1 + np.abs(Wt).sum() * np.abs(d).max()))
        else:
            assert dx is None
