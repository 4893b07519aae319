"""convlab/fast/layers.py: every fast twin has its plain layer's contract and numbers.

For each class in ``TWINS``: forward and backward against the plain layer (float64 to 1e-12,
float32 to a few roundings of the values' scale), over hypothesis-drawn shapes, strides, pads
and value kinds (zeros, ties, MNIST-like digits); against the loop references where there are
some; a second step through a reused workspace gives what a fresh layer gives; ``twin_of``
shares the parameters and nothing else.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from convlab import layers
from convlab.fast import layers as fast
from convlab.fast.workspace import Workspace
from convlab.gradcheck import numerical_gradient, rel_error
from convlab.nets import build_net

from reference import lrn_forward, pool_backward, pool_forward
from strategies import conv_case, kinds, pool_case, seeds, values

DTYPES = st.sampled_from([np.float32, np.float64])
shapes4 = st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 5), st.integers(1, 5))


def close(got, want, dtype, what, scale=None):
    """Equal to float rounding: float64 to 1e-12, float32 to 64 roundings, of ``scale``
    (default: want's largest entry)."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    eps = 1e-12 if dtype == np.float64 else 64 * float(np.finfo(np.float32).eps)
    scale = float(np.max(np.abs(want), initial=0) if scale is None else scale) + 1e-300
    np.testing.assert_allclose(got, want, rtol=eps, atol=eps * scale, err_msg=what)


def twin_and_plain(layer, x, dout, dtype):
    """(out, dx, grads) of ``layer`` and of its twin, for the same x and dout."""
    twin = fast.twin_of(layer)
    assert type(twin) is fast.TWINS[type(layer)]
    got = []
    for lay in (layer, twin):
        out = lay.forward(x.astype(dtype))
        dx = lay.backward(dout.astype(dtype))
        got.append((out, dx, {g: getattr(lay, g) for g in ("dW", "db") if hasattr(lay, g)}))
    return got


def check_twin(layer, x, dout, dtype, scales=None):
    """``scales``: {"forward"/"backward"/"dW"/"db": the size of the terms summed} where sums
    may cancel (default: the largest entry of the plain result)."""
    scales = scales or {}
    (o1, d1, g1), (o2, d2, g2) = twin_and_plain(layer, x, dout, dtype)
    close(o2, o1, dtype, "forward", scales.get("forward"))
    close(d2, d1, dtype, "backward", scales.get("backward"))
    for k in g1:
        close(g2[k], g1[k], dtype, k, scales.get(k))


def conv_scales(layer, x, dout):
    """The size of the terms each convolution result sums: the layer's own arithmetic on
    absolute values (float64), no cancellation possible."""
    a = layers.Convolution(np.abs(layer.W).astype(np.float64), np.abs(layer.b).astype(np.float64),
                           layer.stride, layer.pad, layer.dilation)
    out = a.forward(np.abs(x))
    dx = a.backward(np.abs(dout))
    return {"forward": out.max(), "backward": dx.max(), "dW": a.dW.max(), "db": a.db.max()}


# -------------------------------------------------------------- each twin against its layer --

@pytest.mark.parametrize("images_last_max, flat_min_numbers", [(0, 10**9), (10**9, 10**9), (0, 0)],
                         ids=["images first", "images last", "flat chunks"])
@given(case=conv_case(max_dilation=3), kind=kinds, seed=seeds, dtype=DTYPES)
def test_convolution_twin_equals_the_layer(images_last_max, flat_min_numbers, case, kind, seed,
                                           dtype):
    """The twin's three ways (``Convolution.images_last_max`` and ``flat_min_numbers`` pick
    one by map size; "flat chunks" is taken by stride-1 layers only, the others fall through
    to images first)."""
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    layer = layers.Convolution(values(rng, ws, kind).astype(dtype),
                               rng.standard_normal(ws[0]).astype(dtype), S, P, D)
    layer.images_last_max = images_last_max              # copied onto the twin by twin_of
    layer.flat_min_numbers = flat_min_numbers
    x = values(rng, xs, kind)
    dout = rng.standard_normal((xs[0],) + layer.output_shape(xs[1:]))
    check_twin(layer, x, dout, dtype, conv_scales(layer, x, dout))


@given(case=pool_case(max_size=4), kind=kinds, seed=seeds, dtype=DTYPES)
def test_pooling_twin_equals_the_layer(case, kind, seed, dtype):
    xs, (PH, PW), S, P, mode = case
    rng = np.random.default_rng(seed)
    layer = layers.Pooling(PH, PW, S, P, mode)
    x = values(rng, xs, kind)
    dout = values(rng, (xs[0],) + layer.output_shape(xs[1:]), kind)
    check_twin(layer, x, dout, dtype)


@given(shape=shapes4, kind=kinds, seed=seeds, dtype=DTYPES, scale=st.sampled_from([1, 10, 80]))
def test_sigmoid_twin_equals_the_layer(shape, kind, seed, dtype, scale):
    """Moderate and large inputs (scale 80: sigmoid near the smallest float32 numbers). Where
    y is near 1, both compute 1 - y from a y rounded to the spacing of floats near 1: dx is
    equal to that rounding times dout."""
    rng = np.random.default_rng(seed)
    x, dout = scale * values(rng, shape, kind), rng.standard_normal(shape)
    check_twin(layers.Sigmoid(), x, dout, dtype, {"backward": np.abs(dout).max()})


@given(shape=shapes4, kind=kinds, seed=seeds, dtype=DTYPES)
def test_relu_twin_equals_the_layer(shape, kind, seed, dtype):
    rng = np.random.default_rng(seed)
    (o1, d1, _), (o2, d2, _) = twin_and_plain(layers.Relu(), values(rng, shape, kind),
                                              rng.standard_normal(shape), dtype)
    np.testing.assert_array_equal(o2, o1)
    np.testing.assert_array_equal(d2, d1)


@given(shape=shapes4, n=st.integers(1, 7), k=st.sampled_from([1.0, 2.0]),
       alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 0.5, 1.0]), kind=kinds,
       seed=seeds, dtype=DTYPES)
def test_lrn_twin_equals_the_layer(shape, n, k, alpha, beta, kind, seed, dtype):
    rng = np.random.default_rng(seed)
    x = 3 * values(rng, shape, kind)
    check_twin(layers.LRN(n, k, alpha, beta), x, rng.standard_normal(shape), dtype)


# --------------------------------------------------------------------- the loop references --

@given(case=pool_case(max_size=4), kind=kinds, seed=seeds)
def test_average_pooling_twin_matches_loop_reference(case, kind, seed):
    xs, (PH, PW), S, P, _ = case
    rng = np.random.default_rng(seed)
    x = values(rng, xs, kind)
    twin = fast.Pooling(PH, PW, S, P, "avg")
    out = twin.forward(x)
    np.testing.assert_allclose(out, pool_forward(x, PH, PW, S, P, "avg"), rtol=0, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(twin.backward(dout), pool_backward(dout, x, PH, PW, S, P, "avg"),
                               rtol=0, atol=1e-12)


@given(shape=shapes4, n=st.integers(1, 6), kind=kinds, seed=seeds)
def test_lrn_twin_matches_loop_reference_and_finite_differences(shape, n, kind, seed):
    x = values(np.random.default_rng(seed), shape, kind)
    twin = fast.LRN(n, 2.0, 0.5, 0.75)
    np.testing.assert_allclose(twin.forward(x), lrn_forward(x, n, 2.0, 0.5, 0.75), rtol=1e-12,
                               atol=1e-12)
    dout = np.random.default_rng(seed + 1).standard_normal(shape)
    dx = twin.backward(dout).copy()
    numeric = numerical_gradient(lambda: float(np.sum(twin.forward(x) * dout)), x)
    assert rel_error(dx, numeric) < 1e-7


@given(shape=shapes4, seed=seeds)
def test_sigmoid_twin_matches_the_closed_form(shape, seed):
    x = 5 * np.random.default_rng(seed).standard_normal(shape)
    twin = fast.Sigmoid()
    y = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(twin.forward(x), y, rtol=1e-15, atol=0)
    np.testing.assert_allclose(twin.backward(np.ones(shape)), y * (1 - y), rtol=1e-14, atol=0)


# ------------------------------------------------------------------------- the contract --

def images_first(conv):
    """conv, set to take the twin's images-first path whatever the map size."""
    conv.images_last_max = 0
    return conv


def flat_chunks(conv):
    """conv, set to take the twin's flat chunked path (stride 1) whatever the map size."""
    conv.flat_min_numbers = 0
    return conv


PLAIN = {
    "Convolution": lambda rng: layers.Convolution(rng.standard_normal((3, 2, 3, 3)),
                                                  rng.standard_normal(3), 1, 1),
    "Convolution dilated, images first": lambda rng: images_first(layers.Convolution(
        rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(3), 1, (0, 2), 2)),
    "Convolution stride 2, images first": lambda rng: images_first(layers.Convolution(
        rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), 2, 1)),
    "Convolution dilated, flat chunks": lambda rng: flat_chunks(layers.Convolution(
        rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(3), 1, (0, 2), 2)),
    "Pooling max 3/2": lambda rng: layers.Pooling(3, 3, 2),
    "Pooling avg": lambda rng: layers.Pooling(2, 2, mode="avg"),
    "Pooling avg 3/2 pad 1": lambda rng: layers.Pooling(3, 3, 2, 1, "avg"),
    "Relu": lambda rng: layers.Relu(),
    "Sigmoid": lambda rng: layers.Sigmoid(),
    "LRN": lambda rng: layers.LRN(5, 2.0, 1e-2, 0.75),
}


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_second_step_through_a_reused_workspace_equals_a_fresh_layer(name, dtype):
    """Twins write into arrays lent step after step: what a step leaves there (here: garbage
    written over every result) must not leak into the next step."""
    rng = np.random.default_rng(0)
    layer = PLAIN[name](rng)
    twin, fresh = fast.twin_of(layer), fast.twin_of(layer)
    ws = Workspace()
    x1, x2 = (rng.standard_normal((2, 2, 7, 7)).astype(dtype) for _ in range(2))
    with ws.attached([twin]):
        out = twin.forward(x1)
        dout = rng.standard_normal(out.shape).astype(dtype)
        dx = twin.backward(dout)
        out[...], dx[...] = 7, 7
    for a in ws._arrays[twin].values():
        a[...] = 7 if a.dtype != bool else True
    with ws.attached([twin]):
        out2, dx2 = twin.forward(x2).copy(), twin.backward(dout).copy()
    np.testing.assert_array_equal(out2, fresh.forward(x2))
    np.testing.assert_array_equal(dx2, fresh.backward(dout))
    assert ws.nbytes() > 0


@pytest.mark.parametrize("name", PLAIN)
def test_twin_of_shares_the_parameters_and_nothing_else(name):
    rng = np.random.default_rng(1)
    layer = PLAIN[name](rng)
    a, b = fast.twin_of(layer), fast.twin_of(layer)
    assert a is not layer and b is not a
    for p in ("W", "b"):
        if hasattr(layer, p):
            assert getattr(a, p) is getattr(layer, p) is getattr(b, p)
    x = rng.standard_normal((2, 2, 7, 7))
    out_a = a.forward(x).copy()
    b.forward(-x)                                        # another slice's forward pass
    dout = rng.standard_normal(out_a.shape)
    c = fast.twin_of(layer)                              # a fresh twin, x's pass only
    c.forward(x)
    np.testing.assert_array_equal(a.backward(dout), c.backward(dout))


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_twins_keep_the_dtype_and_leave_their_inputs_alone(name, dtype):
    rng = np.random.default_rng(2)
    twin = fast.twin_of(PLAIN[name](rng))
    x = rng.standard_normal((2, 2, 7, 7)).astype(dtype)
    x0 = x.copy()
    out = twin.forward(x)
    dout = rng.standard_normal(out.shape).astype(dtype)
    d0 = dout.copy()
    dx = twin.backward(dout)
    assert out.dtype == dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)
    assert not np.shares_memory(out, x) and not np.shares_memory(dx, dout)
    assert not np.shares_memory(dx, out)


def test_the_deep_nets_28x28_convolution_takes_the_flat_chunks():
    """So the plan's tests of the registry nets cover that path (``flat_min_numbers``)."""
    net = build_net("deep", seed=0)
    twin = fast.twin_of(net.layers["Conv2"])
    twin.forward(np.zeros((2, 16, 28, 28), np.float32))
    assert twin.way == "flat"


def test_every_twin_is_registered():
    assert set(fast.TWINS) == {layers.Convolution, layers.Pooling, layers.Relu, layers.Sigmoid,
                               layers.LRN}
    for plain, twin in fast.TWINS.items():
        assert issubclass(twin, plain) and twin.__name__ == plain.__name__


# ------------------------------------------------------------- PyTorch, where it is installed --

def torch_or_skip():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@given(shape=shapes4, n=st.integers(1, 7), k=st.floats(0.5, 2.0), alpha=st.floats(1e-4, 1.0),
       beta=st.sampled_from([0.75, 0.5, 0.9]), kind=kinds, seed=seeds)
def test_lrn_sigmoid_and_average_pooling_twins_match_torch(shape, n, k, alpha, beta, kind, seed):
    """float64, to 1e-10 as tests/test_torch_crosscheck.py holds the layers."""
    torch = torch_or_skip()
    rng = np.random.default_rng(seed)
    x = values(rng, shape, kind)
    lrn = torch.nn.LocalResponseNorm(n, alpha=alpha, beta=beta, k=k)
    cases = [(fast.LRN(n, k, alpha, beta), lrn), (fast.Sigmoid(), torch.sigmoid)]
    if min(shape[2:]) >= 2:
        avg = torch.nn.functional.avg_pool2d
        cases.append((fast.Pooling(2, 2, mode="avg"), lambda t: avg(t, 2)))
    for twin, reference in cases:
        out = twin.forward(x)
        tx = torch.tensor(x, requires_grad=True)
        tout = reference(tx)
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-10)
        dout = rng.standard_normal(out.shape)
        tout.backward(torch.tensor(dout))
        np.testing.assert_allclose(twin.backward(dout), tx.grad.numpy(), rtol=0, atol=1e-10)
