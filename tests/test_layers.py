"""Every layer: gradient check (analytic vs central differences, float64), agreement with the
plain-loop references in tests/reference.py, the book's worked examples, the dtype rule and
inputs left untouched. Values come in every kind of tests/strategies.py (exact zeros, ties,
MNIST-like digits): finite differences wherever the layer is smooth there, the loop references
everywhere, kinks included (ReLU'(0) = 0, the first maximum wins)."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from convlab import layers as plain_layers
from convlab.fast import layers as fast_layers
from convlab.gradcheck import numerical_gradient, rel_error
from convlab.layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid,
                            SoftmaxWithLoss, cross_entropy_error, softmax)

from reference import (affine_backward, affine_forward, conv_backward, conv_forward, lrn_forward,
                       out_size, pool_backward, pool_forward, relu_backward, relu_forward,
                       softmax_loss)
from strategies import KINDS, away_from_zero, conv_case, distinct, kinds, pool_case, seeds, values

TOL = 1e-7          # worst relative gradient error allowed (convlab.gradcheck.rel_error)


def gradcheck(forward, backward, x, params=(), seed=0):
    """Relative errors of dx and of each (array, analytic-grad getter) in params, for
    L = sum(forward(x) * dout) with a random dout. forward() must read x and the params."""
    out = forward(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = backward(dout)
    grads = [get() for _, get in params]       # read before the numerical passes overwrite state

    def L():
        return float(np.sum(forward(x) * dout))

    errs = [rel_error(dx, numerical_gradient(L, x))]
    errs += [rel_error(g, numerical_gradient(L, p)) for (p, _), g in zip(params, grads)]
    return max(errs)


def test_value_kinds_make_zeros_and_ties():
    """The strategies do what they promise: the blind spot is covered only if they do."""
    rng = np.random.default_rng(0)
    for kind in KINDS:
        x = values(rng, (4, 3, 8, 8), kind)
        zeros, distinct_values = np.mean(x == 0), len(np.unique(x))
        if kind == "normal":
            assert zeros == 0 and distinct_values == x.size
        else:
            assert zeros >= 0.1 and distinct_values < x.size, kind
    z = values(rng, (1000,), "zeros")
    assert np.any(np.signbit(z) & (z == 0))                               # -0.0 among the zeros
    assert np.sum(values(rng, (4, 1, 8, 8), "digits") == 1) > 0           # saturated pixels tie


# ------------------------------------------------------------------------ gradient checks --

@given(case=conv_case(), xkind=kinds, wkind=kinds, zero_bias=st.booleans(), seed=seeds)
@example(case=((2, 2, 5, 7), (3, 2, 2, 3), (2, 1), (1, 2), (1, 1)), xkind="normal", wkind="normal",
         zero_bias=False, seed=0)
@example(case=((2, 1, 6, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1)), xkind="digits", wkind="ties",
         zero_bias=True, seed=0)
def test_convolution_gradcheck(case, xkind, wkind, zero_bias, seed, record_gradcheck):
    """A convolution is linear in x, in W and in b: central differences are exact even where
    inputs, weights or outputs are exactly 0."""
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x = values(rng, xs, xkind)
    b = np.zeros(ws[0]) if zero_bias else rng.standard_normal(ws[0])
    layer = Convolution(values(rng, ws, wkind), b, S, P, D)
    err = gradcheck(layer.forward, layer.backward, x,
                    [(layer.W, lambda: layer.dW), (layer.b, lambda: layer.db)], seed)
    record_gradcheck("Convolution", err)
    assert err <= TOL


@given(case=pool_case(), kind=kinds, seed=seeds)
@example(case=((2, 3, 5, 6), (3, 2), (2, 1), (1, 1), "max"), kind="normal", seed=0)
@example(case=((2, 3, 5, 6), (3, 2), (2, 1), (1, 1), "avg"), kind="digits", seed=0)
def test_pooling_gradcheck(case, kind, seed, record_gradcheck):
    """Average pooling is linear: every kind of values. Max pooling has a kink wherever two
    values of a window tie, so it gets distinct values here (ties: the loop reference below)."""
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    x = distinct(rng, xs) if mode == "max" else values(rng, xs, kind)
    layer = Pooling(PH, PW, S, P, mode)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck(f"Pooling ({mode})", err)
    assert err <= TOL


shapes4 = st.tuples(st.integers(2, 3), st.integers(2, 3), st.integers(1, 4), st.integers(1, 5))


@given(shape=shapes4, seed=seeds)
def test_relu_gradcheck(shape, seed, record_gradcheck):
    """Away from its kink only (at 0 see test_relu_matches_loop_reference)."""
    layer = Relu()
    x = away_from_zero(np.random.default_rng(seed), shape)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("Relu", err)
    assert err <= TOL


@given(shape=shapes4, kind=kinds, seed=seeds)
def test_sigmoid_gradcheck(shape, kind, seed, record_gradcheck):
    layer = Sigmoid()
    x = 3 * values(np.random.default_rng(seed), shape, kind)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("Sigmoid", err)
    assert err <= TOL


@given(shape=shapes4, M=st.integers(1, 5), kind=kinds, seed=seeds)
def test_affine_4d_gradcheck(shape, M, kind, seed, record_gradcheck):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    layer = Affine(values(rng, (D, M), kind), rng.standard_normal(M))
    x = values(rng, shape, kind)
    assert layer.backward(np.ones_like(layer.forward(x))).shape == shape   # restores 4-D
    err = gradcheck(layer.forward, layer.backward, x,
                    [(layer.W, lambda: layer.dW), (layer.b, lambda: layer.db)], seed)
    record_gradcheck("Affine (4-D input)", err)
    assert err <= TOL


@given(shape=shapes4, ratio=st.sampled_from([0.0, 0.2, 0.5, 0.8]), kind=kinds, seed=seeds)
def test_dropout_gradcheck_with_fixed_mask(shape, ratio, kind, seed, record_gradcheck):
    layer = Dropout(ratio)

    def forward(x):                     # re-seed: every forward pass draws the same mask
        layer.rng = np.random.default_rng(seed)
        return layer.forward(x, train_flg=True)

    x = values(np.random.default_rng(seed + 1), shape, kind)
    err = gradcheck(forward, layer.backward, x, seed=seed)
    record_gradcheck("Dropout (fixed mask)", err)
    assert err <= TOL


@given(shape=st.tuples(st.integers(2, 3), st.integers(2, 7), st.integers(1, 3), st.integers(1, 3)),
       n=st.integers(1, 6), k=st.floats(0.5, 2.0), alpha=st.floats(0.05, 1.0),
       beta=st.floats(0.3, 0.9), kind=kinds, seed=seeds)
def test_lrn_gradcheck(shape, n, k, alpha, beta, kind, seed, record_gradcheck):
    layer = LRN(n, k, alpha, beta)
    x = values(np.random.default_rng(seed), shape, kind)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("LRN", err)
    assert err <= TOL


@given(N=st.integers(2, 6), K=st.integers(2, 6), one_hot=st.booleans(), kind=kinds, seed=seeds)
def test_softmax_with_loss_gradcheck(N, K, one_hot, kind, seed, record_gradcheck):
    rng = np.random.default_rng(seed)
    x = 3 * values(rng, (N, K), kind)                  # tied and all-zero score rows included
    labels = rng.integers(0, K, N)
    t = np.eye(K)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward(1)
    num = numerical_gradient(lambda: float(layer.forward(x, t)), x)
    err = rel_error(dx, num)
    record_gradcheck("SoftmaxWithLoss " + ("(one-hot)" if one_hot else "(int labels)"), err)
    assert err <= TOL
    # the loss itself: mean of -log softmax at the true class
    expected = -np.mean(np.log(softmax(x)[np.arange(N), labels]))
    assert abs(float(loss) - expected) <= 1e-12 * max(1.0, expected)

def test_softmax_loss_int_and_one_hot_agree_and_are_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0]])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    la, lb = a.forward(x, np.array([2, 0])), b.forward(x, np.array([[0, 0, 1], [1, 0, 0]]))
    assert np.isfinite(la) and la == lb
    assert la == pytest.approx((2000.0 + (2 + np.log(1 + np.exp(-1) + np.exp(-2)))) / 2)
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_one_loss_formula_when_probabilities_underflow():
    """Scores 1000 and 2000 apart: softmax underflows to exactly 0, yet the loss is exact (as
    torch's cross_entropy computes it), in float32 and float64, and kept as ``layer.loss``."""
    torch = pytest.importorskip("torch")
    t = np.array([2, 3, 1])
    for dtype in (np.float32, np.float64):
        x = np.array([[0, 1000, -1000, 3], [1000, 0, 0, -1000], [0, 0, 0, 0]], dtype=dtype)
        layer = SoftmaxWithLoss()
        loss = layer.forward(x, t)
        assert layer.y[0, 2] == 0 and layer.y[1, 3] == 0              # underflowed, really
        oracle = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(t)).item()
        eps = float(np.finfo(dtype).eps)
        assert loss.dtype == dtype and loss is layer.loss
        assert float(loss) == pytest.approx(oracle, rel=4 * eps)
        assert float(loss) == pytest.approx((2000 + 2000 + np.log(4)) / 3, rel=4 * eps)


def test_cross_entropy_error_is_the_same_formula_from_probabilities():
    rng = np.random.default_rng(0)
    x, t = 3 * rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    assert cross_entropy_error(softmax(x), t) == pytest.approx(SoftmaxWithLoss().forward(x, t),
                                                               rel=1e-14)
    y = np.array([[0.0, 1.0]], dtype=np.float32)               # an underflowed probability: finite
    assert cross_entropy_error(y, [0]) == pytest.approx(-np.log(np.finfo(np.float32).tiny))


def test_softmax_with_loss_backward_scales_with_dout():
    """dout is the gradient of the loss (1 by default): dx scales with it, in x's dtype."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 2, 1, 1])
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    d1 = layer.backward()
    np.testing.assert_allclose(layer.backward(np.float64(2.5)), 2.5 * d1, rtol=1e-6)
    assert layer.backward(np.float64(2.5)).dtype == np.float32


def test_gradcheck_helpers_themselves():
    x = np.array([1.0, -2.0, 3.0])
    g = numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])            # restored
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([0.0, 4.0], [1.0, 4.0]) == pytest.approx(0.25)
    assert rel_error([0.0], [0.0]) == 0.0
    with pytest.raises(ValueError, match="shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_gradcheck_catches_a_wrong_backward():
    """The harness can fail: a layer whose backward is off by 1% is caught."""
    layer = Sigmoid()
    x = np.random.default_rng(0).standard_normal((2, 3))
    err = gradcheck(layer.forward, lambda d: 1.01 * layer.backward(d), x)
    assert err > 1e-3



# ------------------------------------------------------------- plain-loop references, 1e-10 --

IMPLS = {"layers": plain_layers, "fast twins": fast_layers}
"""The layer classes and their fast twins (convlab/fast/layers.py) meet the same references."""

@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
@given(case=conv_case(max_dilation=3), xkind=kinds, wkind=kinds, zero_bias=st.booleans(), seed=seeds)
def test_convolution_matches_loop_reference(impl, case, xkind, wkind, zero_bias, seed):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x, Wt = values(rng, xs, xkind), values(rng, ws, wkind)
    b = np.zeros(ws[0]) if zero_bias else rng.standard_normal(ws[0])
    layer = impl.Convolution(Wt, b, S, P, D)
    out = layer.forward(x)
    ref = conv_forward(x, Wt, b, S, P, D)
    assert out.shape == ref.shape == (xs[0], ws[0], out_size(xs[2], ws[2], S[0], P[0], D[0]),
                                      out_size(xs[3], ws[3], S[1], P[1], D[1]))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    dout = values(rng, out.shape, xkind)
    dx = layer.backward(dout)
    rdx, rdW, rdb = conv_backward(dout, x, Wt, S, P, D)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.dW, rdW, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.db, rdb, rtol=0, atol=1e-10)


@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
@given(case=pool_case(), kind=kinds, seed=seeds)
@example(case=((1, 2, 6, 6), (2, 2), (2, 2), (0, 0), "max"), kind="relu", seed=0)
@example(case=((2, 2, 5, 6), (3, 3), (1, 2), (1, 1), "max"), kind="ties", seed=0)
def test_pooling_matches_loop_reference(impl, case, kind, seed):
    """Ties included: after a ReLU whole windows are 0, and the gradient must go to the first."""
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    x = values(rng, xs, kind)
    layer = impl.Pooling(PH, PW, S, P, mode)
    out = layer.forward(x)
    ref = pool_forward(x, PH, PW, S, P, mode)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(dout), pool_backward(dout, x, PH, PW, S, P, mode),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
@given(shape=shapes4, kind=kinds, seed=seeds)
@example(shape=(2, 2, 3, 3), kind="zeros", seed=0)
def test_relu_matches_loop_reference(impl, shape, kind, seed):
    """Exactly: including x == 0 (gradient 0) and x == -0.0."""
    rng = np.random.default_rng(seed)
    x = values(rng, shape, kind)
    layer = impl.Relu()
    np.testing.assert_array_equal(layer.forward(x), relu_forward(x))
    dout = rng.standard_normal(shape)
    np.testing.assert_array_equal(layer.backward(dout), relu_backward(dout, x))


@given(shape=shapes4, M=st.integers(1, 4), kind=kinds, seed=seeds)
def test_affine_matches_loop_reference(shape, M, kind, seed):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    x, Wt, b = values(rng, shape, kind), values(rng, (D, M), kind), rng.standard_normal(M)
    layer = Affine(Wt, b)
    np.testing.assert_allclose(layer.forward(x), affine_forward(x, Wt, b), rtol=0, atol=1e-10)
    dout = values(rng, (shape[0], M), kind)
    rdx, rdW, rdb = affine_backward(dout, x, Wt)
    np.testing.assert_allclose(layer.backward(dout), rdx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.dW, rdW, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.db, rdb, rtol=0, atol=1e-10)


@given(N=st.integers(1, 5), K=st.integers(1, 6), kind=kinds, seed=seeds)
def test_softmax_with_loss_matches_loop_reference(N, K, kind, seed):
    rng = np.random.default_rng(seed)
    x, t = 4 * values(rng, (N, K), kind), rng.integers(0, K, N)
    layer = SoftmaxWithLoss()
    loss, dx = softmax_loss(x, t)
    assert float(layer.forward(x, t)) == pytest.approx(loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(layer.backward(), dx, rtol=0, atol=1e-12)


@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 8), st.integers(1, 3), st.integers(1, 3)),
       n=st.integers(1, 6), kind=kinds, seed=seeds)
def test_lrn_matches_loop_reference(shape, n, kind, seed):
    x = values(np.random.default_rng(seed), shape, kind)
    np.testing.assert_allclose(LRN(n, 2.0, 0.5, 0.75).forward(x), lrn_forward(x, n, 2.0, 0.5, 0.75),
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- conventions at kinks --

@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
def test_max_pooling_ties_go_to_the_first_maximum(impl):
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    layer = impl.Pooling(2, 2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.array([[[[5.0]]]]))[0, 0], [[5, 0], [0, 0]])


@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
def test_max_pooling_ties_among_zeros_and_negative_zeros(impl):
    """-0.0 == 0.0: a tie, so the first of the window wins whichever sign it carries."""
    x = np.array([[[[-0.0, 0.0, 0.0, -0.0], [0.0, 0.0, -0.0, -0.0]]]])
    layer = impl.Pooling(2, 2)
    np.testing.assert_array_equal(layer.forward(x), [[[[0.0, 0.0]]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[[2.0, -3.0]]]]))[0, 0],
                                  [[2, 0, -3, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
def test_relu_gradient_at_exactly_zero_is_zero(impl):
    layer = impl.Relu()
    x = np.array([[-1.0, -0.0, 0.0, 1e-300, 2.0]])
    np.testing.assert_array_equal(layer.forward(x), [[0, 0, 0, 1e-300, 2]])
    dx = layer.backward(-np.ones((1, 5)))
    np.testing.assert_array_equal(dx, [[0, 0, 0, -1, -1]])
    assert not np.signbit(dx[0, :3]).any()                     # +0.0, not -0.0


@pytest.mark.parametrize("impl", IMPLS.values(), ids=IMPLS.keys())
def test_max_pooling_padding_never_wins_over_zeros(impl):
    """Padding holds -inf, so a window of zeros and padding sends its gradient to a real zero."""
    x = np.zeros((1, 1, 2, 2))
    layer = impl.Pooling(2, 2, stride=2, pad=1)
    np.testing.assert_array_equal(layer.forward(x), np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 2, 2))), np.ones((1, 1, 2, 2)))


# ------------------------------------------------------------------ the book's worked examples --

BOOK_X = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], dtype=float)
BOOK_F = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=float)


@pytest.mark.parametrize("bias, pad, expected", [
    (0, 0, [[15, 16], [6, 15]]),
    (3, 0, [[18, 19], [9, 18]]),
    (0, 1, [[7, 12, 10, 2], [4, 15, 16, 10], [10, 6, 15, 6], [8, 10, 4, 3]]),
])
def test_book_convolution_examples(bias, pad, expected):
    layer = Convolution(BOOK_F[None, None], np.array([float(bias)]), stride=1, pad=pad)
    np.testing.assert_array_equal(layer.forward(BOOK_X[None, None])[0, 0], expected)


def test_book_max_pooling_example():
    x = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=float)
    np.testing.assert_array_equal(Pooling(2, 2, stride=2).forward(x[None, None])[0, 0], [[2, 3], [4, 2]])


def test_avg_pooling_with_pad_counts_the_padding():
    x = np.ones((1, 1, 2, 2))
    out = Pooling(2, 2, stride=2, pad=1, mode="avg").forward(x)
    np.testing.assert_array_equal(out[0, 0], [[0.25, 0.25], [0.25, 0.25]])


def test_max_pooling_padding_never_wins():
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(Pooling(2, 2, stride=2, pad=1).forward(x)[0, 0], -np.ones((2, 2)))


def test_convolution_need_dx_false_still_computes_parameter_gradients():
    rng = np.random.default_rng(0)
    layer = Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    x = rng.standard_normal((2, 1, 5, 5))
    dout = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dout)
    dW = layer.dW.copy()
    layer.need_dx = False
    layer.forward(x)
    assert layer.backward(dout) is None and dx is not None
    np.testing.assert_array_equal(layer.dW, dW)


def test_dropout_is_inverted_and_off_at_test_time():
    x = np.ones((100, 100))
    layer = Dropout(0.3, rng=0)
    out = layer.forward(x, train_flg=True)
    assert set(np.unique(out)) <= {0.0, 1 / 0.7}
    assert abs(np.mean(out == 0) - 0.3) < 0.02
    assert abs(out.mean() - 1.0) < 0.03                    # expectation preserved
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x)
    np.testing.assert_array_equal(Dropout(0.3, rng=5).forward(x), Dropout(0.3, rng=5).forward(x))


def test_relu_and_sigmoid_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(Relu().forward(x), [[0, 0, 3]])
    s = Sigmoid().forward(np.array([[-800.0, 0.0, 800.0]]))      # no overflow warning
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]], atol=1e-300)


# ------------------------------------------------------------- dtype and input preservation --

def make_layers(dtype, rng, param_dtype=None):
    """(name, x, forward, backward) for every layer: x in ``dtype``, parameters in
    ``param_dtype`` (default: the same)."""
    f = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    p = lambda *s: rng.standard_normal(s).astype(param_dtype or dtype)  # noqa: E731
    conv = Convolution(p(3, 2, 3, 2), p(3), stride=(2, 1), pad=(1, 0))
    aff = Affine(p(2 * 5 * 4, 3), p(3))
    drop = Dropout(0.5, rng=0)
    sm = SoftmaxWithLoss()
    x4 = f(2, 2, 5, 4)
    return [
        ("Convolution", x4, conv.forward, conv.backward),
        ("Pooling max", x4, Pooling(2, 2, 1, 1).forward, None),
        ("Pooling avg", x4, Pooling(3, 2, (2, 1), (1, 1), "avg").forward, None),
        ("Relu", x4, Relu().forward, None),
        ("Sigmoid", x4, Sigmoid().forward, None),
        ("Affine", x4, aff.forward, aff.backward),
        ("Dropout", x4, drop.forward, drop.backward),
        ("LRN", x4, LRN(3, 1.0, 0.5, 0.75).forward, None),
        ("SoftmaxWithLoss", f(2, 3), lambda x: sm.forward(x, np.array([0, 2])), lambda d: sm.backward(1)),
    ]


def run_layer(fwd, bwd, x, rng, dout_dtype=None):
    layer = getattr(fwd, "__self__", None)
    out = fwd(x)
    bwd = bwd or layer.backward
    dout = rng.standard_normal(np.shape(out)).astype(dout_dtype or x.dtype)
    return out, dout, bwd(dout), layer


@pytest.mark.parametrize("i", range(9))
@pytest.mark.parametrize("x_dtype, param_dtype, dout_dtype", [
    (np.float32, np.float32, np.float32),
    (np.float32, np.float64, np.float32),       # float64 weights: computed in float32
    (np.float64, np.float32, np.float64),       # float32 weights: computed in float64
    (np.float32, np.float32, np.float64),       # a float64 dout is cast to float32
])
def test_dtype_rule(i, x_dtype, param_dtype, dout_dtype):
    """The rule of convlab/layers.py: out and dx have x's dtype; dW and db the parameters'."""
    rng = np.random.default_rng(i)
    name, x, fwd, bwd = make_layers(x_dtype, rng, param_dtype)[i]
    out, dout, dx, layer = run_layer(fwd, bwd, x, rng, dout_dtype)
    assert np.asarray(out).dtype == x_dtype, name
    assert dx.dtype == x_dtype and dx.shape == x.shape, name
    for g, p in (("dW", "W"), ("db", "b")):
        if hasattr(layer, g):
            assert getattr(layer, g).dtype == param_dtype == getattr(layer, p).dtype, name


@pytest.mark.parametrize("i", range(9))
@pytest.mark.parametrize("int_dtype", [np.int64, np.uint8, bool])
def test_integer_and_bool_input_becomes_float64(i, int_dtype):
    rng = np.random.default_rng(i)
    name, x, fwd, bwd = make_layers(np.float64, rng)[i]
    xi = (np.abs(x) * 3).astype(int_dtype)
    out, dout, dx, layer = run_layer(fwd, bwd, xi, rng, np.float64)
    assert np.asarray(out).dtype == np.float64 and dx.dtype == np.float64, name


def test_integer_parameters_become_float64():
    conv = Convolution(np.ones((1, 1, 2, 2), int), np.zeros(1, int))
    aff = Affine(np.ones((4, 2), int), np.zeros(2, int))
    assert conv.W.dtype == conv.b.dtype == aff.W.dtype == aff.b.dtype == np.float64
    np.testing.assert_array_equal(conv.forward(np.ones((1, 1, 2, 2), np.float32)), [[[[4]]]])


@pytest.mark.parametrize("i", range(9))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_layer_modifies_its_input_or_its_output(i, dtype):
    rng = np.random.default_rng(i)
    name, x, fwd, bwd = make_layers(dtype, rng)[i]
    x0 = x.copy()
    layer = getattr(fwd, "__self__", None)
    out = fwd(x)
    out0 = np.array(out, copy=True)
    np.testing.assert_array_equal(x, x0, err_msg=f"{name}.forward modified x")
    # negative and positive entries in dout: Relu's book version zeroes dout in place
    dout = rng.standard_normal(np.shape(out)).astype(dtype)
    d0 = dout.copy()
    dx = (bwd or layer.backward)(dout)
    np.testing.assert_array_equal(dout, d0, err_msg=f"{name}.backward modified dout")
    np.testing.assert_array_equal(x, x0, err_msg=f"{name}.backward modified x")
    # backward never writes into the output its forward handed out
    np.testing.assert_array_equal(out, out0, err_msg=f"{name}.backward modified its forward's output")
    # the results must not share memory with the inputs or each other
    assert not np.shares_memory(np.asarray(out), x), name
    assert not np.shares_memory(dx, dout), name
    assert not np.shares_memory(dx, np.asarray(out)), name


@pytest.mark.parametrize("i", range(9))
def test_results_held_by_the_caller_survive_later_calls(i):
    """Without a workspace (see convlab/fast/workspace.py; the plain layers never take one) every result is the caller's to keep:
    outputs and gradients of a first call stay intact through later calls with other data."""
    rng = np.random.default_rng(i)
    name, x1, fwd, bwd = make_layers(np.float64, rng)[i]
    layer = getattr(fwd, "__self__", None)
    bwd = bwd or layer.backward
    x2 = rng.standard_normal(x1.shape)
    out1 = fwd(x1)
    dout1 = rng.standard_normal(np.shape(out1))
    dx1 = bwd(dout1)
    grads1 = {g: getattr(layer, g) for g in ("dW", "db") if hasattr(layer, g)}
    view1 = np.asarray(out1).reshape(-1)[:3]           # held only through a view as well
    saved = [np.array(out1, copy=True), dx1.copy(), view1.copy()] + [g.copy() for g in grads1.values()]
    for _ in range(2):
        out2 = fwd(x2)
        bwd(rng.standard_normal(np.shape(out2)))
    for a, b in zip([out1, dx1, view1] + list(grads1.values()), saved):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: a later call overwrote a held result")


def test_relu_backward_uses_the_mask_of_its_own_forward():
    """Two interleaved Relu layers: each backward must use its own forward's mask."""
    a, b = Relu(), Relu()
    x = np.array([[1.0, -1.0]])
    a.forward(x)
    b.forward(-x)
    np.testing.assert_array_equal(a.backward(np.ones((1, 2))), [[1, 0]])
    np.testing.assert_array_equal(b.backward(np.ones((1, 2))), [[0, 1]])
