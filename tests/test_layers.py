"""Every layer: gradient check (analytic vs central differences, float64), agreement with the
plain-loop references in tests/reference.py, the book's worked examples, dtype preservation and
inputs left untouched."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from convlab.gradcheck import numerical_gradient, rel_error
from convlab.layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid,
                            SoftmaxWithLoss, softmax)

from reference import (conv_backward, conv_forward, lrn_forward, out_size, pool_backward,
                       pool_forward)

TOL = 1e-7          # worst relative gradient error allowed (convlab.gradcheck.rel_error)
seeds = st.integers(0, 2**32 - 1)


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


def away_from_zero(rng, shape, gap=0.05):
    """Normal values pushed at least ``gap`` away from 0 (no ReLU kink within reach of h)."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (gap + np.abs(x))


def distinct(rng, shape, spacing=0.01):
    """A random permutation of evenly spaced values: no ties, neighbours > 1e-3 apart."""
    n = int(np.prod(shape))
    return (rng.permutation(n) - n / 2).reshape(shape) * spacing


# ---------------------------------------------------------------------- geometry strategies --

@st.composite
def conv_case(draw, max_dilation=2):
    N, C, FN = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    FH, FW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    D = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    hmin = max(1, D[0] * (FH - 1) + 1 - 2 * P[0])
    wmin = max(1, D[1] * (FW - 1) + 1 - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + 5)), draw(st.integers(wmin, wmin + 5))
    return (N, C, H, W), (FN, C, FH, FW), S, P, D


@st.composite
def pool_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, PH // 2)), draw(st.integers(0, PW // 2)))
    hmin, wmin = max(1, PH - 2 * P[0]), max(1, PW - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + 5)), draw(st.integers(wmin, wmin + 5))
    return (N, C, H, W), (PH, PW), S, P, draw(st.sampled_from(["max", "avg"]))


# ------------------------------------------------------------------------ gradient checks --

@given(case=conv_case(), seed=seeds)
@example(case=((2, 2, 5, 7), (3, 2, 2, 3), (2, 1), (1, 2), (1, 1)), seed=0)
def test_convolution_gradcheck(case, seed, record_gradcheck):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs)
    layer = Convolution(rng.standard_normal(ws), rng.standard_normal(ws[0]), S, P, D)
    err = gradcheck(layer.forward, layer.backward, x,
                    [(layer.W, lambda: layer.dW), (layer.b, lambda: layer.db)], seed)
    record_gradcheck("Convolution", err)
    assert err <= TOL


@given(case=pool_case(), seed=seeds)
@example(case=((2, 3, 5, 6), (3, 2), (2, 1), (1, 1), "max"), seed=0)
@example(case=((2, 3, 5, 6), (3, 2), (2, 1), (1, 1), "avg"), seed=0)
def test_pooling_gradcheck(case, seed, record_gradcheck):
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    x = distinct(rng, xs) if mode == "max" else rng.standard_normal(xs)
    layer = Pooling(PH, PW, S, P, mode)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck(f"Pooling ({mode})", err)
    assert err <= TOL


shapes4 = st.tuples(st.integers(2, 3), st.integers(2, 3), st.integers(1, 4), st.integers(1, 5))


@given(shape=shapes4, seed=seeds)
def test_relu_gradcheck(shape, seed, record_gradcheck):
    layer = Relu()
    x = away_from_zero(np.random.default_rng(seed), shape)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("Relu", err)
    assert err <= TOL


@given(shape=shapes4, seed=seeds)
def test_sigmoid_gradcheck(shape, seed, record_gradcheck):
    layer = Sigmoid()
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("Sigmoid", err)
    assert err <= TOL


@given(shape=shapes4, M=st.integers(1, 5), seed=seeds)
def test_affine_4d_gradcheck(shape, M, seed, record_gradcheck):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    layer = Affine(rng.standard_normal((D, M)), rng.standard_normal(M))
    x = rng.standard_normal(shape)
    assert layer.backward(np.ones_like(layer.forward(x))).shape == shape   # restores 4-D
    err = gradcheck(layer.forward, layer.backward, x,
                    [(layer.W, lambda: layer.dW), (layer.b, lambda: layer.db)], seed)
    record_gradcheck("Affine (4-D input)", err)
    assert err <= TOL


@given(shape=shapes4, ratio=st.sampled_from([0.0, 0.2, 0.5, 0.8]), seed=seeds)
def test_dropout_gradcheck_with_fixed_mask(shape, ratio, seed, record_gradcheck):
    layer = Dropout(ratio)

    def forward(x):                     # re-seed: every forward pass draws the same mask
        layer.rng = np.random.default_rng(seed)
        return layer.forward(x, train_flg=True)

    x = np.random.default_rng(seed + 1).standard_normal(shape)
    err = gradcheck(forward, layer.backward, x, seed=seed)
    record_gradcheck("Dropout (fixed mask)", err)
    assert err <= TOL


@given(shape=st.tuples(st.integers(2, 3), st.integers(2, 7), st.integers(1, 3), st.integers(1, 3)),
       n=st.integers(1, 6), k=st.floats(0.5, 2.0), alpha=st.floats(0.05, 1.0),
       beta=st.floats(0.3, 0.9), seed=seeds)
def test_lrn_gradcheck(shape, n, k, alpha, beta, seed, record_gradcheck):
    layer = LRN(n, k, alpha, beta)
    x = np.random.default_rng(seed).standard_normal(shape)
    err = gradcheck(layer.forward, layer.backward, x, seed=seed)
    record_gradcheck("LRN", err)
    assert err <= TOL


@given(N=st.integers(2, 6), K=st.integers(2, 6), one_hot=st.booleans(), seed=seeds)
def test_softmax_with_loss_gradcheck(N, K, one_hot, seed, record_gradcheck):
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal((N, K))
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

@given(case=conv_case(max_dilation=3), seed=seeds)
def test_convolution_matches_loop_reference(case, seed):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x, Wt, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    layer = Convolution(Wt, b, S, P, D)
    out = layer.forward(x)
    ref = conv_forward(x, Wt, b, S, P, D)
    assert out.shape == ref.shape == (xs[0], ws[0], out_size(xs[2], ws[2], S[0], P[0], D[0]),
                                      out_size(xs[3], ws[3], S[1], P[1], D[1]))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    rdx, rdW, rdb = conv_backward(dout, x, Wt, S, P, D)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.dW, rdW, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.db, rdb, rtol=0, atol=1e-10)


@given(case=pool_case(), seed=seeds)
def test_pooling_matches_loop_reference(case, seed):
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs)
    layer = Pooling(PH, PW, S, P, mode)
    out = layer.forward(x)
    ref = pool_forward(x, PH, PW, S, P, mode)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(dout), pool_backward(dout, x, PH, PW, S, P, mode),
                               rtol=0, atol=1e-10)


def test_max_pooling_ties_go_to_the_first_maximum():
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    layer = Pooling(2, 2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.array([[[[5.0]]]]))[0, 0], [[5, 0], [0, 0]])


@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 8), st.integers(1, 3), st.integers(1, 3)),
       n=st.integers(1, 6), seed=seeds)
def test_lrn_matches_loop_reference(shape, n, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(LRN(n, 2.0, 0.5, 0.75).forward(x), lrn_forward(x, n, 2.0, 0.5, 0.75),
                               rtol=1e-12, atol=1e-12)


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

def make_layers(dtype, rng):
    """(name, layer, x, forward, backward) for every layer, in the given dtype."""
    f = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    conv = Convolution(f(3, 2, 3, 2), f(3), stride=(2, 1), pad=(1, 0))
    aff = Affine(f(2 * 5 * 4, 3), f(3))
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


def run_layer(fwd, bwd, x, rng):
    layer = getattr(fwd, "__self__", None)
    out = fwd(x)
    bwd = bwd or layer.backward
    dout = rng.standard_normal(np.shape(out)).astype(x.dtype)
    return out, dout, bwd(dout), layer


@pytest.mark.parametrize("i", range(9))
def test_dtype_preserved_float32(i):
    rng = np.random.default_rng(i)
    name, x, fwd, bwd = make_layers(np.float32, rng)[i]
    out, dout, dx, layer = run_layer(fwd, bwd, x, rng)
    assert np.asarray(out).dtype == np.float32, name
    assert dx.dtype == np.float32 and dx.shape == x.shape, name
    for g in ("dW", "db"):
        if hasattr(layer, g):
            assert getattr(layer, g).dtype == np.float32, name


@pytest.mark.parametrize("i", range(9))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_layer_modifies_its_input(i, dtype):
    rng = np.random.default_rng(i)
    name, x, fwd, bwd = make_layers(dtype, rng)[i]
    x0 = x.copy()
    layer = getattr(fwd, "__self__", None)
    out = fwd(x)
    np.testing.assert_array_equal(x, x0, err_msg=f"{name}.forward modified x")
    # negative and positive entries in dout: Relu's book version zeroes dout in place
    dout = rng.standard_normal(np.shape(out)).astype(dtype)
    d0 = dout.copy()
    dx = (bwd or layer.backward)(dout)
    np.testing.assert_array_equal(dout, d0, err_msg=f"{name}.backward modified dout")
    np.testing.assert_array_equal(x, x0, err_msg=f"{name}.backward modified x")
    # the result must not share memory with the input (writing to it would corrupt the caller)
    assert not np.shares_memory(np.asarray(out), x), name
    assert not np.shares_memory(dx, dout), name


@pytest.mark.parametrize("i", range(9))
def test_results_held_by_the_caller_survive_later_calls(i):
    """Layers may reuse their own buffers, but never one the caller still holds: outputs and
    gradients of a first call stay intact through a second forward/backward with other data."""
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


def test_layers_give_the_same_numbers_without_buffer_reuse(monkeypatch):
    """On Pythons whose reference counts are not exact (3.14+, free-threaded), layers allocate
    fresh arrays instead of reusing their own; the numbers must not change."""
    import convlab.layers as layers_mod
    from convlab.nets import SimpleConvNet

    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 10, 10))
    t = rng.integers(0, 10, 4)

    def grads():
        net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 3, "filter_size": 3,
                                                                "pad": 1, "stride": 1},
                            hidden_size=5, weight_init_std=0.3, seed=0, dtype=np.float64)
        g1 = net.gradient(x, t)
        g2 = net.gradient(x, t)           # a second call reuses buffers when allowed
        return g1, g2

    reused = grads()
    monkeypatch.setattr(layers_mod, "_REFCOUNTS_EXACT", False)
    fresh = grads()
    for a, b in zip(reused, fresh):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
