"""bench/twins.py: the PyTorch twin built from a convlab net's own layers computes that net.

For every registry net (and a net of every option the twin maps), in float64 from the same
parameters with dropout off: the same logits and loss, and the same gradients after one backward,
to 1e-10. The benchmark's convlab / PyTorch ratios mean something only if this holds."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from convlab.layers import Convolution, Pooling, Relu
from convlab.nets import NETS, Net, build_net

torch = pytest.importorskip("torch")
torch.set_num_threads(1)           # the machine is shared; these batches are tiny
ATOL = 1e-10
BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load_twins():
    spec = importlib.util.spec_from_file_location("bench_twins", BENCH / "twins.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


twins = _load_twins()


def with_random_biases(net, seed):
    """The net with every bias set to small random numbers (at initialisation they are all 0,
    which would let a wrongly mapped bias pass unnoticed)."""
    rng = np.random.default_rng(seed)
    for k, p in net.params.items():
        if k.startswith("b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return net


def assert_same_net(net, n=4, seed=0):
    """Logits, loss and every parameter's gradient of ``net`` and its twin agree to ATOL."""
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + net.input_dim)
    t = rng.integers(0, net.output_size, n)
    model = twins.twin(net).eval()                        # eval: dropout off, as train_flg=False
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)
    scores = model(tx)
    np.testing.assert_allclose(net.predict(x), scores.detach().numpy(), rtol=0, atol=ATOL)
    loss = twins.loss_fn(scores, tt)
    assert abs(float(net.loss(x, t)) - loss.item()) < ATOL
    grads = net.gradient(x, t, train_flg=False)
    loss.backward()
    tgrads = twins.grads_like(model)
    assert set(tgrads) == set(grads) == set(net.params)
    for k in grads:
        assert tgrads[k].shape == grads[k].shape, k
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=0, atol=ATOL, err_msg=k)
        assert np.any(grads[k] != 0), f"{k}: a zero gradient proves nothing"


@pytest.mark.parametrize("name", list(NETS))
def test_twin_of_every_registry_net_computes_the_net(name):
    assert_same_net(with_random_biases(build_net(name, seed=1, dtype=np.float64), seed=2))


def test_twin_of_a_net_with_every_option():
    """Strided and padded convolution, average pooling with padding (convlab counts the padded
    zeros in the mean: count_include_pad), overlapping max pooling with padding, LRN with an even
    window (where the centring of the window matters) and other constants, sigmoid, dropout."""
    spec = [("conv", dict(filter_num=5, filter_size=3, stride=2, pad=1)), ("sigmoid", {}),
            ("pool", dict(size=3, stride=1, pad=1, mode="avg")),
            ("lrn", dict(n=4, k=1.5, alpha=0.3, beta=0.6)),
            ("conv", dict(filter_num=6, filter_size=(2, 3), pad=1)), ("relu", {}),
            ("pool", dict(size=3, stride=2, pad=1)),
            ("affine", dict(size=7)), ("relu", {}), ("dropout", dict(ratio=0.3)),
            ("affine", dict(size=4))]
    net = with_random_biases(Net((2, 11, 9), spec, weight_init_std=0.5, seed=3, dtype=np.float64), 4)
    assert_same_net(net, n=3, seed=5)


def test_twin_maps_each_option_to_torch():
    """What the table in bench/twins.py promises, read off the modules."""
    net = build_net("alexnet", seed=0)
    model = twins.twin(net)
    kinds = [type(m).__name__ for m in model]
    assert kinds.count("Conv2d") == 5 and kinds.count("Linear") == 3 and kinds.count("Flatten") == 3
    assert [m.p for m in model if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    lrn = [m for m in model if isinstance(m, torch.nn.LocalResponseNorm)]
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrn] == [(5, 1e-4, 0.75, 2.0)] * 2
    pools = [m for m in model if isinstance(m, torch.nn.MaxPool2d)]
    assert [(m.kernel_size, m.stride, m.padding) for m in pools] == [((3, 3), (2, 2), (0, 0))] * 3
    avg = [m for m in twins.twin(build_net("lenet", seed=0)) if isinstance(m, torch.nn.AvgPool2d)]
    assert len(avg) == 2 and all(m.count_include_pad for m in avg)
    assert model[0].weight.dtype == torch.float32                  # the net's dtype by default
    assert twins.twin(net, np.float64)[0].weight.dtype == torch.float64


def test_twin_of_a_dilated_strided_padded_convolution():
    """Dilation (no registry net uses it) maps too: forward and the x, W, b gradients."""
    rng = np.random.default_rng(6)
    conv = Convolution(rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3), stride=(2, 1),
                       pad=(1, 2), dilation=(2, 3))
    x = rng.standard_normal((2, 2, 9, 8))
    (m, params), = twins.twin_modules([conv], 2, np.float64)
    tx = torch.from_numpy(x).requires_grad_(True)
    out = m(tx)
    np.testing.assert_allclose(conv.forward(x), out.detach().numpy(), rtol=0, atol=ATOL)
    dout = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(conv.backward(dout), tx.grad.numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(conv.dW, params["W"][0].grad.numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(conv.db, params["b"][0].grad.numpy(), rtol=0, atol=ATOL)


def test_twin_refuses_a_layer_it_does_not_know():
    class Custom(Relu):
        pass
    with pytest.raises(ValueError, match="no PyTorch twin for a layer of class Custom"):
        twins.twin_modules([Pooling(2, 2), Custom()], 1, np.float32)
