"""SimpleConvNet (and the generic Net): book interface and shapes, exact integer sizes for every
valid configuration, gradient check, accuracy over every sample, seeds, saving and loading."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from convlab.gradcheck import rel_error
from convlab.nets import LeNet, Net, SimpleConvNet, build_net, load_net

from reference import out_size

TOL = 1e-7


def small_net(dtype=np.float64, seed=0, **kw):
    conv = dict(filter_num=3, filter_size=3, pad=1, stride=1)
    conv.update(kw.pop("conv_param", {}))
    kw.setdefault("input_dim", (2, 7, 6))
    return SimpleConvNet(conv_param=conv, hidden_size=kw.pop("hidden_size", 5),
                         output_size=kw.pop("output_size", 4), weight_init_std=kw.pop("weight_init_std", 0.5),
                         seed=seed, dtype=dtype, **kw)


# ---------------------------------------------------------------------- interface and shapes --

def test_book_interface_and_shapes():
    net = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert all(not np.any(net.params[b]) for b in ("b1", "b2", "b3"))
    assert 0.008 < net.params["W2"].std() < 0.012                  # weight_init_std is used
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    assert net.predict(x).shape == (3, 10)
    assert np.isfinite(net.loss(x, np.array([1, 2, 3])))
    assert set(net.gradient(x, np.array([1, 2, 3]))) == set(net.params)
    assert net.shapes[-1] == ("Affine2", (10,))
    assert ("Pool1", (30, 12, 12)) in net.shapes and "Pool1" in repr(net)
    # the defaults are the book's
    assert SimpleConvNet().params["W2"].shape == (4320, 100)
    # params are the arrays the layers use: changing one changes the prediction
    before = net.predict(x)
    net.params["W3"] += 1.0
    assert not np.allclose(net.predict(x), before)


def test_flattened_input_accepted():
    net = small_net()
    x = np.random.default_rng(1).random((2, 2, 7, 6))
    np.testing.assert_array_equal(net.predict(x.reshape(2, -1)), net.predict(x))


@given(fs=st.integers(1, 7), stride=st.integers(1, 3), pad=st.integers(0, 3),
       H=st.integers(3, 12), W=st.integers(3, 12))
@example(fs=4, stride=1, pad=0, H=28, W=28)      # book code: 25/2 -> float crash
@example(fs=5, stride=2, pad=0, H=28, W=28)
def test_every_valid_configuration_works(fs, stride, pad, H, W):
    FN = 2
    OH = out_size(H, fs, stride, pad, 1) if fs <= H + 2 * pad else 0
    OW = out_size(W, fs, stride, pad, 1) if fs <= W + 2 * pad else 0
    conv = dict(filter_num=FN, filter_size=fs, pad=pad, stride=stride)
    if OH < 2 or OW < 2:                         # no conv output, or too small for 2x2 pooling
        with pytest.raises(ValueError, match="kernel|pad"):
            SimpleConvNet(input_dim=(1, H, W), conv_param=conv, hidden_size=3, output_size=2)
        return
    net = SimpleConvNet(input_dim=(1, H, W), conv_param=conv, hidden_size=3, output_size=2, seed=0)
    assert net.params["W2"].shape == (FN * (OH // 2) * (OW // 2), 3)
    assert isinstance(net.params["W2"].shape[0], int)
    out = net.predict(np.random.default_rng(0).random((2, 1, H, W)))
    assert out.shape == (2, 2) and np.all(np.isfinite(out))


# ----------------------------------------------------------------------------- gradient check --

@settings(max_examples=min(60, settings.default.max_examples), derandomize=True)
@given(C=st.integers(1, 2), fh=st.integers(1, 4), fw=st.integers(1, 4), stride=st.integers(1, 3),
       pad=st.integers(0, 2), oh=st.integers(2, 4), ow=st.integers(2, 4), N=st.integers(2, 3),
       std=st.sampled_from([0.3, 0.5, 1.0]), seed=st.integers(0, 2**32 - 1))
@example(C=2, fh=3, fw=2, stride=2, pad=1, oh=3, ow=4, N=2, std=0.5, seed=0)
def test_simple_convnet_gradcheck(C, fh, fw, stride, pad, oh, ow, N, std, seed, record_gradcheck):
    """Inputs sized so that the conv output is about oh x ow (non-square kernels via (fh, fw))."""
    H = max(1, (oh - 1) * stride + fh - 2 * pad)
    W = max(1, (ow - 1) * stride + fw - 2 * pad)
    net = SimpleConvNet(input_dim=(C, H, W),
                        conv_param=dict(filter_num=3, filter_size=(fh, fw), pad=pad, stride=stride),
                        hidden_size=4, output_size=3, weight_init_std=std, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for p in ("b1", "b2", "b3"):                  # non-zero biases exercise db too
        net.params[p][...] = 0.1 * rng.standard_normal(net.params[p].shape)
    x = rng.standard_normal((N, C, H, W))
    t = rng.integers(0, 3, N)
    grad = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    err = max(rel_error(grad[k], num[k]) for k in net.params)
    record_gradcheck("SimpleConvNet", err)
    assert err <= TOL, {k: rel_error(grad[k], num[k]) for k in net.params}


def test_generic_net_gradcheck_mixed_layers(record_gradcheck):
    """Sigmoid, LRN, avg pooling with pad, strided conv, max pooling, in one stack; first layer
    a pooling layer (the conv after it must still pass the gradient back)."""
    spec = [("pool", dict(size=2, stride=1, mode="avg", pad=1)),
            ("conv", dict(filter_num=3, filter_size=(3, 2), pad=1)), ("sigmoid", {}),
            ("lrn", dict(n=3, k=1.0, alpha=0.5, beta=0.75)),
            ("conv", dict(filter_num=2, filter_size=2, stride=2)), ("relu", {}),
            ("pool", dict(size=2, stride=1)), ("affine", dict(size=4)), ("sigmoid", {}),
            ("affine", dict(size=3))]
    net = Net((2, 7, 8), spec, weight_init_std=0.7, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 2, 7, 8)), np.array([0, 2])
    grad, num = net.gradient(x, t), net.numerical_gradient(x, t)
    err = max(rel_error(grad[k], num[k]) for k in net.params)
    record_gradcheck("Net (mixed stack)", err)
    assert err <= TOL


def test_gradient_dtype_float32():
    net = small_net(dtype=np.float32)
    x = np.random.default_rng(0).random((2, 2, 7, 6))
    grads = net.gradient(x, np.array([0, 3]))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert net.predict(x).dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.params.values())


def test_net_leaves_inputs_untouched():
    net = small_net()
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((3, 2, 7, 6)), np.array([0, 1, 3])
    x0, t0 = x.copy(), t.copy()
    net.predict(x)
    net.gradient(x, t)
    net.accuracy(x, t, batch_size=2)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


# ---------------------------------------------------------------------------------- accuracy --

def test_accuracy_counts_the_last_partial_batch():
    net = small_net(dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((250, 2, 7, 6)).astype(np.float32)
    pred = net.predict(x).argmax(axis=1)
    t = pred.copy()
    t[:200] = (pred[:200] + 1) % 4                 # only the last (partial) batch is right
    assert net.accuracy(x, t, batch_size=100) == pytest.approx(50 / 250)   # book: 0.0
    assert net.accuracy(x, pred, batch_size=100) == 1.0                    # book: 0.8
    for bs in (1, 7, 100, 250, 1000):
        assert net.accuracy(x, t, batch_size=bs) == pytest.approx(0.2)
    one_hot = np.eye(4)[t]
    assert net.accuracy(x, one_hot, batch_size=100) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------- seeding --

def test_seed_reproducibility():
    a, b, c = small_net(seed=7), small_net(seed=7), small_net(seed=8)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    g1, g2 = small_net(seed=np.random.default_rng(5)), small_net(seed=np.random.default_rng(5))
    np.testing.assert_array_equal(g1.params["W2"], g2.params["W2"])


# ------------------------------------------------------------------------ saving and loading --

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    a = small_net(dtype=dtype, seed=1)
    path = tmp_path / "params.npz"
    a.save_params(str(path))
    b = small_net(dtype=dtype, seed=2)
    assert not np.array_equal(a.params["W1"], b.params["W1"])
    arrays_before = {k: id(v) for k, v in b.params.items()}
    assert b.load_params(str(path)) is b
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert b.params[k].dtype == dtype
        assert id(b.params[k]) == arrays_before[k]          # loaded in place
    x = np.random.default_rng(0).random((2, 2, 7, 6))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert not list(tmp_path.glob("*.tmp*"))                 # no temporary left behind


@pytest.mark.parametrize("make", [
    lambda: small_net(dtype=np.float64, conv_param=dict(filter_size=(2, 3), stride=2)),
    lambda: Net((1, 9, 8), [("conv", dict(filter_num=2, filter_size=3)), ("sigmoid", {}),
                            ("lrn", dict(n=3)), ("pool", dict(size=2, mode="avg")),
                            ("affine", dict(size=3))], seed=0, dtype=np.float64),
    lambda: LeNet(modern=True, seed=0, dtype=np.float64),
])
def test_load_net_rebuilds(tmp_path, make):
    a = make()
    path = str(tmp_path / "net.npz")
    a.save_params(path)
    b = load_net(path, dtype=np.float64)
    assert type(b) is type(a)
    assert b.shapes == a.shapes
    x = np.random.default_rng(0).random((2,) + a.input_dim)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_build_net_names_and_other_nets_run():
    x = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    for name in ("simple", "lenet", "lenet-modern", "alexnet", "deep"):
        net = build_net(name, seed=0)
        out = net.predict(x)
        assert out.shape == (2, 10) and out.dtype == np.float32, name
    with pytest.raises(ValueError, match="net"):
        build_net("resnet")


# ------------------------------------------------------------------------------- the registry --

def test_registry_is_the_one_source_of_names_and_configs(tmp_path):
    """Every registered net describes itself by its registry name and its constructor arguments
    (nothing hand-written per class), and load_net rebuilds it from that alone."""
    from convlab.cli import NET_NAMES
    from convlab.nets import NETS
    assert list(NET_NAMES) == list(NETS) == ["simple", "lenet", "lenet-modern", "alexnet", "deep"]
    for name, (cls, fixed) in NETS.items():
        net = build_net(name, seed=0, input_dim=(1, 16, 16), output_size=3,
                        **({"width": 0.25} if name == "alexnet" else {}))
        assert type(net) is cls and net.config["net"] == name
        assert not set(fixed) & set(net.config["kwargs"])
        assert net.config["kwargs"]["input_dim"] == [1, 16, 16]
        assert net.config["kwargs"]["output_size"] == 3
        path = str(tmp_path / f"{name}.npz")
        net.save_params(path)
        back = load_net(path)
        assert type(back) is cls and back.config == net.config and back.shapes == net.shapes
    # built directly, a net finds its registry name too
    assert LeNet(modern=True).config["net"] == "lenet-modern"
    assert LeNet().config == {"net": "lenet", "kwargs": {"input_dim": [1, 28, 28], "output_size": 10}}
    with pytest.raises(ValueError, match=r"fixes \['modern'\]"):
        build_net("lenet-modern", modern=False)


def test_unregistered_nets_are_stored_as_their_layers(tmp_path):
    class Tiny(Net):
        def __init__(self, seed=None, dtype=np.float64):
            super().__init__((1, 4, 4), [("affine", dict(size=3))], 0.1, seed, dtype)

    a = Tiny(seed=0)
    assert a.config["net"] is None and a.config["kwargs"]["spec"] == [["affine", {"size": 3}]]
    a.save_params(str(tmp_path / "t.npz"))
    b = load_net(str(tmp_path / "t.npz"), dtype=np.float64)
    assert type(b) is Net and b.shapes == a.shapes
    np.testing.assert_array_equal(b.params["W1"], a.params["W1"])


@pytest.mark.parametrize("old, name", [
    ({"class": "LeNet", "kwargs": {"input_dim": [1, 28, 28], "output_size": 10, "modern": True}},
     "lenet-modern"),
    ({"class": "SimpleConvNet", "kwargs": {"input_dim": [1, 28, 28], "hidden_size": 7}}, "simple"),
])
def test_configs_written_before_the_registry_still_load(tmp_path, old, name):
    import json
    net = build_net(name, seed=0, **{k: v for k, v in old["kwargs"].items()
                                     if k not in ("modern", "input_dim")})
    path = tmp_path / "old.npz"
    np.savez(path, __config__=np.array(json.dumps(old)), **net.params)
    back = load_net(str(path))
    assert back.config["net"] == name
    np.testing.assert_array_equal(back.params["W1"], net.params["W1"])


# ------------------------------------------------------------------ initialisation scale --

def _fan_in(W):
    """Inputs feeding one output unit: C*FH*FW for a conv filter (FN, C, FH, FW), D for (D, M)."""
    return int(np.prod(W.shape[1:])) if W.ndim == 4 else W.shape[0]


@pytest.mark.parametrize("rule, gain", [("he", 2.0), ("xavier", 1.0)])
@pytest.mark.parametrize("C, FH, FW", [(1, 3, 3), (8, 3, 5), (16, 2, 2)])
def test_init_scale_counts_every_input_channel(rule, gain, C, FH, FW):
    """std = sqrt(gain / (C*FH*FW)) for conv filters, sqrt(gain / D) for affine weights. With
    C = 8 or 16, a fan_in of FH*FW would give a std sqrt(C) = 2.8-4 times too large, and
    FH*FH instead of FH*FW (3x5) 1.3 times too small; the tolerance is 6 %, while the sampling
    error of a std from >= 1,400 values is under 2 %."""
    spec = [("conv", dict(filter_num=64, filter_size=(FH, FW))), ("relu", {}),
            ("conv", dict(filter_num=32, filter_size=3, pad=1)), ("relu", {}),
            ("affine", dict(size=40)), ("affine", dict(size=10))]
    net = Net((C, 9, 9), spec, weight_init_std=rule, seed=0, dtype=np.float64)
    for k in ("W1", "W2", "W3", "W4"):
        W = net.params[k]
        expected = np.sqrt(gain / _fan_in(W))
        assert W.std() == pytest.approx(expected, rel=0.06), (k, W.shape)
        assert abs(W.mean()) < 4 * expected / np.sqrt(W.size)
    assert _fan_in(net.params["W2"]) == 64 * 3 * 3                 # the first conv's 64 channels


def test_he_init_keeps_the_signal_scale_through_a_conv_with_many_channels():
    """The reason for the rule: with He init, relu(conv(x)) keeps E[y^2] close to E[x^2]
    (for x with unit variance, E[relu(z)^2] = var(z) / 2 = E[x^2]) whatever C is."""
    rng = np.random.default_rng(1)
    for C in (1, 4, 32):
        net = Net((C, 12, 12), [("conv", dict(filter_num=64, filter_size=3)), ("relu", {}),
                                ("affine", dict(size=2))], weight_init_std="he", seed=2, dtype=np.float64)
        x = rng.standard_normal((20, C, 12, 12))
        y = net.layers["Relu1"].forward(net.layers["Conv1"].forward(x))
        assert np.mean(y ** 2) == pytest.approx(np.mean(x ** 2), rel=0.15), C


@pytest.mark.parametrize("name", ["lenet", "lenet-modern", "alexnet", "deep"])
def test_registered_nets_use_their_rule_on_every_layer(name):
    net = build_net(name, seed=0, dtype=np.float64)
    gain = 1.0 if name == "lenet" else 2.0                           # xavier for the 1998 LeNet
    checked = 0
    for k, W in net.params.items():
        if k.startswith("W") and W.size >= 1000:
            assert W.std() == pytest.approx(np.sqrt(gain / _fan_in(W)), rel=0.08), (k, W.shape)
            checked += 1
    assert checked >= 3
