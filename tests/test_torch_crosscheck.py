"""Cross-check against PyTorch (optional: skipped, not failed, when torch is absent).
Every layer's outputs and gradients equal torch's to 1e-10 in float64, for every kind of values
of tests/strategies.py: exact zeros, ties and MNIST-like digits included, which is where ReLU's
kink (ReLU'(0) = 0) and max pooling's tie rule (the first maximum wins) decide the gradient."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from convlab.layers import LRN, Affine, Convolution, Pooling, Relu, SoftmaxWithLoss

from strategies import conv_case, kinds, pool_case, seeds, values

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)           # the CI machine is shared; these tensors are tiny anyway
ATOL = 1e-10


def close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=ATOL)


def leaf(a):
    return torch.tensor(a, requires_grad=True)


@given(case=conv_case(max_dilation=3, max_filters=4, extra=6), xkind=kinds, wkind=kinds,
       zero_bias=st.booleans(), seed=seeds)
@example(case=((2, 3, 7, 9), (4, 3, 3, 2), (2, 3), (1, 2), (2, 1)), xkind="normal", wkind="normal",
         zero_bias=False, seed=0)
def test_convolution_matches_torch(case, xkind, wkind, zero_bias, seed):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x, Wt = values(rng, xs, xkind), values(rng, ws, wkind)
    b = np.zeros(ws[0]) if zero_bias else rng.standard_normal(ws[0])
    layer = Convolution(Wt, b, S, P, D)
    out = layer.forward(x)
    tx, tW, tb = leaf(x), leaf(Wt), leaf(b)
    tout = F.conv2d(tx, tW, tb, stride=S, padding=P, dilation=D)
    close(out, tout)
    dout = values(rng, out.shape, xkind)
    dx = layer.backward(dout)
    tout.backward(torch.tensor(dout))
    close(dx, tx.grad)
    close(layer.dW, tW.grad)
    close(layer.db, tb.grad)


@given(case=pool_case(max_size=4, extra=6), kind=kinds, seed=seeds)
@example(case=((2, 2, 5, 6), (3, 2), (2, 1), (1, 1), "max"), kind="normal", seed=0)
@example(case=((2, 2, 5, 6), (3, 2), (2, 1), (1, 1), "avg"), kind="normal", seed=0)
@example(case=((2, 2, 6, 6), (2, 2), (2, 2), (0, 0), "max"), kind="relu", seed=0)
@example(case=((1, 2, 5, 5), (3, 3), (1, 1), (1, 1), "max"), kind="ties", seed=0)
def test_pooling_matches_torch(case, kind, seed):
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    x = values(rng, xs, kind)
    layer = Pooling(PH, PW, S, P, mode)
    out = layer.forward(x)
    tx = leaf(x)
    if mode == "max":
        tout = F.max_pool2d(tx, (PH, PW), stride=S, padding=P)
    else:
        tout = F.avg_pool2d(tx, (PH, PW), stride=S, padding=P, count_include_pad=True)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
       kind=kinds, seed=seeds)
def test_relu_matches_torch(shape, kind, seed):
    rng = np.random.default_rng(seed)
    x = values(rng, shape, kind)
    layer = Relu()
    tx = leaf(x)
    tout = F.relu(tx)
    close(layer.forward(x), tout)
    dout = rng.standard_normal(shape)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)


@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
       M=st.integers(1, 5), kind=kinds, seed=seeds)
def test_affine_matches_torch(shape, M, kind, seed):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    x, Wt, b = values(rng, shape, kind), values(rng, (D, M), kind), rng.standard_normal(M)
    layer = Affine(Wt, b)
    tx, tW, tb = leaf(x), leaf(Wt), leaf(b)
    tout = F.linear(tx.reshape(shape[0], -1), tW.T, tb)
    close(layer.forward(x), tout)
    dout = values(rng, (shape[0], M), kind)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)
    close(layer.dW, tW.grad)
    close(layer.db, tb.grad)


@given(N=st.integers(1, 6), K=st.integers(1, 7), one_hot=st.booleans(), kind=kinds, seed=seeds)
def test_softmax_with_loss_matches_torch(N, K, one_hot, kind, seed):
    rng = np.random.default_rng(seed)
    x, labels = 5 * values(rng, (N, K), kind), rng.integers(0, K, N)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, np.eye(K)[labels] if one_hot else labels)
    tx = leaf(x)
    tloss = F.cross_entropy(tx, torch.tensor(labels))
    close(loss, tloss)
    tloss.backward()
    close(layer.backward(), tx.grad)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 4)),
       n=st.integers(1, 7), k=st.floats(0.5, 2.0), alpha=st.floats(1e-4, 1.0), beta=st.floats(0.25, 1.0),
       kind=kinds, seed=seeds)
@example(shape=(2, 6, 3, 3), n=5, k=2.0, alpha=1e-4, beta=0.75, kind="normal", seed=0)  # AlexNet's
def test_lrn_matches_torch(shape, n, k, alpha, beta, kind, seed):
    rng = np.random.default_rng(seed)
    x = values(rng, shape, kind)
    layer = LRN(n, k, alpha, beta)
    out = layer.forward(x)
    tx = leaf(x)
    tout = torch.nn.LocalResponseNorm(n, alpha=alpha, beta=beta, k=k)(tx)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)


@given(N=st.integers(1, 3), FN=st.integers(1, 4), pad=st.integers(0, 2), seed=seeds)
@example(N=2, FN=3, pad=2, seed=0)
def test_conv_relu_pool_on_digits_matches_torch(N, FN, pad, seed):
    """The first block of SimpleConvNet on MNIST-like input with a zero bias, as at the start of
    training: a blank patch gives pre-activations of exactly 0 (ReLU's kink), after the ReLU
    whole pooling windows tie at 0, and padding adds zeros. Gradients for x, W and b."""
    rng = np.random.default_rng(seed)
    x = values(rng, (N, 1, 12, 12), "digits")
    Wt, b = 0.3 * rng.standard_normal((FN, 1, 3, 3)), np.zeros(FN)
    conv, relu, pool = Convolution(Wt, b, pad=pad), Relu(), Pooling(2, 2, stride=2)
    a = conv.forward(x)
    assert np.any(a == 0), "the case must put pre-activations exactly on ReLU's kink"
    out = pool.forward(relu.forward(a))
    tx, tW, tb = leaf(x), leaf(Wt), leaf(b)
    tout = F.max_pool2d(F.relu(F.conv2d(tx, tW, tb, padding=pad)), 2, 2)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(relu.backward(pool.backward(dout)))
    tout.backward(torch.tensor(dout))
    close(dx, tx.grad)
    close(conv.dW, tW.grad)
    close(conv.db, tb.grad)


# ------------------------------------------------- max pooling with -inf and NaN (issue 20) --

def _fast_pooling(*args):
    from convlab.fast.layers import Pooling as FastPooling
    return FastPooling(*args)


POOLINGS = {"layers.Pooling": Pooling, "fast Pooling": _fast_pooling}


def _with_specials(rng, x, share):
    x = x.copy()
    x[rng.random(x.shape) < share] = -np.inf
    x[rng.random(x.shape) < share] = np.nan
    return x


@pytest.mark.parametrize("impl", POOLINGS)
@given(case=pool_case(max_size=4), kind=kinds, seed=seeds, share=st.sampled_from([0.1, 0.4, 0.9]))
@example(case=((1, 1, 3, 3), (3, 3), (1, 1), (1, 1), "max"), kind="normal", seed=0, share=1.0)
def test_max_pooling_with_inf_and_nan_matches_torch_and_the_loops(impl, case, kind, seed, share):
    """NaN propagates and takes the gradient (the last NaN of a window, as PyTorch's loop); a
    real cell always beats padding, even in a window of -inf (the example: all -inf, 3x3
    windows with pad 1: every one of the 9 gradients reaches the input)."""
    import reference
    xs, (PH, PW), S, P, _ = case
    rng = np.random.default_rng(seed)
    x = _with_specials(rng, values(rng, xs, kind), share)
    layer = POOLINGS[impl](PH, PW, S, P, "max")
    out = layer.forward(x)
    tx = leaf(x)
    tout = F.max_pool2d(tx, (PH, PW), stride=S, padding=P)
    np.testing.assert_array_equal(out, tout.detach().numpy())          # NaN where torch has NaN
    np.testing.assert_array_equal(out, reference.pool_forward(x, PH, PW, S, P, "max"))
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    dx = layer.backward(dout)
    close(dx, tx.grad)
    np.testing.assert_allclose(dx, reference.pool_backward(dout, x, PH, PW, S, P, "max"), rtol=0,
                               atol=ATOL)
    assert dx.sum() == pytest.approx(dout.sum())                       # nothing lost in padding


@pytest.mark.parametrize("impl", ["layers.Relu", "fast Relu"])
def test_relu_with_inf_and_nan_matches_torch(impl):
    from convlab.fast.layers import Relu as FastRelu
    x = np.array([[np.nan, -np.inf, np.inf, -1.0, 0.0, -0.0, 2.0]])
    layer = Relu() if impl == "layers.Relu" else FastRelu()
    tx = leaf(x)
    tout = F.relu(tx)
    np.testing.assert_array_equal(layer.forward(x), tout.detach().numpy())
    dout = np.arange(1.0, 8.0)[None]
    tout.backward(torch.tensor(dout))
    np.testing.assert_array_equal(layer.backward(dout), tx.grad.numpy())
