"""convlab/fast/kernels.py: each speed trick equals the plain NumPy its docstring names (ties,
exact zeros, -inf and NaN included)."""
import numpy as np
from hypothesis import given, strategies as st

from convlab.fast.kernels import conv_backward_dx, window_max, window_max_backward
from convlab.im2col import col2im_transposed, fold, windows
from convlab.layers import first_max

from strategies import conv_case, kinds, pool_case, seeds, values


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
