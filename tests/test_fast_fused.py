"""convlab.fast.fused: the fused SimpleConvNet step computes what the layers compute.

The reference is always the plain path of the same net: ``net.gradient`` / ``net.loss`` /
``net.predict`` (themselves checked against loop references, PyTorch and numerical gradients).
"""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.fast.fused import FusedSimpleConvNet, fused_for
from convlab.nets import AlexNetStyle, LeNet, SimpleConvNet
from convlab.optim import Adam
from convlab.train import Trainer


def plain(net, x, t):
    """(loss, grads) of the layer-by-layer path."""
    grads = net.gradient(x, t)
    return float(net.last_layer.forward(net.predict(x), t)), {k: g.copy() for k, g in grads.items()}


def make(dtype=np.float64, C=1, H=12, W=12, filters=4, size=3, pad=0, pool=2, hidden=7, out=5, seed=0):
    net = SimpleConvNet(input_dim=(C, H, W), conv_param={"filter_num": filters, "filter_size": size,
                        "pad": pad, "stride": 1}, hidden_size=hidden, output_size=out,
                        weight_init_std=0.3, seed=seed, dtype=dtype, pool_size=pool)
    return net


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 5), C=st.integers(1, 3), filters=st.integers(1, 5), size=st.integers(1, 4),
       pad=st.integers(0, 2), pool=st.integers(1, 3), hidden=st.integers(1, 6), seed=st.integers(0, 99))
def test_gradient_equals_the_layers_float64(N, C, filters, size, pad, pool, hidden, seed):
    # choose H, W so that the conv output splits into whole pooling windows
    OH, OW = pool * (1 + seed % 3), pool * (1 + seed % 2)
    while OH + size - 1 - 2 * pad < 1 or OW + size - 1 - 2 * pad < 1:
        OH, OW = OH + pool, OW + pool
    H, W = OH + size - 1 - 2 * pad, OW + size - 1 - 2 * pad
    net = make(C=C, H=H, W=W, filters=filters, size=size, pad=pad, pool=pool, hidden=hidden, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    t = rng.integers(0, 5, N)
    loss, grads = plain(net, x, t)
    floss, fgrads = FusedSimpleConvNet(net).gradient(x, t)
    assert floss == pytest.approx(loss, rel=1e-13, abs=1e-13)
    assert set(fgrads) == set(grads)
    for k in grads:
        assert fgrads[k].shape == grads[k].shape and fgrads[k].dtype == grads[k].dtype
        np.testing.assert_allclose(fgrads[k], grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_ties_go_to_the_first_maximum_exactly():
    # Small integers: the conv outputs are exact and tie inside many windows (zero rows of the
    # image, repeated values), so another tie rule would change dW1 and db1 by whole units of
    # the upstream gradient, far beyond the rounding allowed here.
    net = make(filters=3, size=2, H=9, W=9, hidden=4)
    rng = np.random.default_rng(1)
    for p in net.params.values():
        p[...] = rng.integers(-2, 3, p.shape)
    x = rng.integers(0, 2, (6, 1, 9, 9)).astype(np.float64)
    x[:, :, :4] = 0                                          # whole windows of equal outputs
    t = rng.integers(0, 5, 6)
    loss, grads = plain(net, x, t)
    ties = FusedSimpleConvNet(net, threads=1)
    floss, fgrads = ties.gradient(x, t)
    c, m = ties._slices[0].c, ties._slices[0].m             # (FN, p*p, Q): ties really happen
    assert np.sum(c[:, 0] == c[:, 1]) > 50
    assert np.sum((c[:, 0] == c[:, 1]) & (m > 0)) > 20       # ... also where gradient flows
    assert floss == loss
    for k in ("W1", "b1"):
        np.testing.assert_allclose(fgrads[k], grads[k], rtol=1e-13, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_float32_forward_is_bit_identical_and_gradients_agree(threads):
    net = SimpleConvNet(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    fused = FusedSimpleConvNet(net, threads=threads)
    np.testing.assert_array_equal(fused.predict(x), net.predict(x))
    loss, grads = plain(net, x, t)
    floss, fgrads = fused.gradient(x, t)
    assert floss == loss                                   # the same forward, bit for bit
    for k in ("W2", "b2", "W3", "b3"):                       # the same backward above the conv
        if threads == 1:
            np.testing.assert_array_equal(fgrads[k], grads[k], err_msg=k)
        else:                                                # slices' sums added: rounding
            np.testing.assert_allclose(fgrads[k], grads[k], rtol=1e-5, atol=1e-6 * np.abs(grads[k]).max())
    for k in ("W1", "b1"):                                   # summed in another order
        assert fgrads[k].dtype == np.float32
        np.testing.assert_allclose(fgrads[k], grads[k], rtol=2e-5, atol=2e-6 * np.abs(grads[k]).max())


def test_threads_give_the_same_numbers_run_after_run():
    net = SimpleConvNet(seed=1)
    rng = np.random.default_rng(1)
    x = rng.random((101, 1, 28, 28), dtype=np.float32)        # an odd batch: unequal slices
    t = rng.integers(0, 10, 101)
    assert [hi - lo for _, lo, hi in FusedSimpleConvNet(net, threads=2)._jobs(101)] in ([50, 51], [101])
    fused = FusedSimpleConvNet(net, threads=2)
    first = {k: g.copy() for k, g in fused.gradient(x, t)[1].items()}
    for _ in range(3):
        again = fused.gradient(x, t)[1]
        for k in first:
            np.testing.assert_array_equal(again[k], first[k], err_msg=k)
    loss, grads = plain(net, x, t)
    assert fused.gradient(x, t)[0] == loss                  # the mean over all images, as the layers
    small = FusedSimpleConvNet(net, threads=4)               # 20 images: one slice of 16 or more
    assert len(small._jobs(20)) == 1 and len(small._jobs(1)) == 1
    assert small.gradient(x[:20], t[:20])[0] == plain(net, x[:20], t[:20])[0]


def test_threads_passed_on_and_validated():
    """The thread count reaches the shared Workers (whose defaults tests/test_fast_threads.py
    checks) and a bad one is refused."""
    from convlab.fast.blas import thread_local_control
    net = SimpleConvNet(seed=0)
    assert FusedSimpleConvNet(net, threads=2).threads == (2 if thread_local_control() else 1)
    with pytest.raises(ValueError, match="threads"):
        FusedSimpleConvNet(net, threads=0)


def test_predict_and_accuracy_match_the_net():
    net = SimpleConvNet(seed=3)
    rng = np.random.default_rng(3)
    x = rng.random((250, 1, 28, 28), dtype=np.float32)
    for N in (1, 2, 5, 31, 32, 33, 64, 101):                # any slicing: the layers' scores
        np.testing.assert_array_equal(FusedSimpleConvNet(net, threads=2).predict(x[:N]), net.predict(x[:N]))
    one = FusedSimpleConvNet(net, threads=1)
    for N in (50, 51, 52, 101, 151):                         # a slice predicts in pieces (PIECE)
        np.testing.assert_array_equal(one.predict(x[:N]), net.predict(x[:N]))
    t = rng.integers(0, 10, 250)
    fused = FusedSimpleConvNet(net)
    np.testing.assert_array_equal(fused.predict(x), net.predict(x))   # every thread count
    assert fused.accuracy(x, t) == net.accuracy(x, t)
    assert fused.accuracy(x, t, batch_size=7) == net.accuracy(x, t)
    assert fused.accuracy(x.reshape(250, -1), t) == net.accuracy(x, t)        # flat rows too


def test_the_fused_step_shares_the_nets_parameters():
    net = SimpleConvNet(seed=0)
    fused = FusedSimpleConvNet(net)
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    before = fused.predict(x)
    net.params["W3"] *= 2                                    # an optimiser updates in place
    np.testing.assert_array_equal(fused.predict(x), net.predict(x))
    assert not np.array_equal(fused.predict(x), before)


@pytest.mark.parametrize("net, why", [
    (LeNet(), "layers"),
    (AlexNetStyle(width=0.25), "layers"),
    (SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 4, "pad": 0, "stride": 1}), "whole"),
    (SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 2}), "stride"),
])
def test_other_nets_are_refused_with_a_reason(net, why):
    assert why in FusedSimpleConvNet.why_not(net)
    assert fused_for(net) is None
    with pytest.raises(ValueError, match="cannot use the fused step"):
        FusedSimpleConvNet(net)


def train_both(dtype, steps=100):
    """The per-step losses of Trainer runs with and without the fused step, from the same start."""
    rng = np.random.default_rng(0)
    x = rng.random((20 * steps, 1, 28, 28)).astype(dtype)
    t = rng.integers(0, 10, 20 * steps)
    x[t == 3, :, 5:20, 10:14] += 1                           # something learnable
    runs = {}
    for fused in (True, False):
        trainer = Trainer(SimpleConvNet(seed=0, dtype=dtype), x, t, x[:300], t[:300], epochs=2,
                          mini_batch_size=20 * steps // 100, seed=0, verbose=False, fused=fused)
        assert isinstance(trainer.fast, FusedSimpleConvNet) == fused
        runs[fused] = trainer.train()
    return np.array(runs[True]["loss"]), np.array(runs[False]["loss"]), runs


@pytest.mark.slow
def test_trainer_uses_it_and_the_losses_match_the_plain_path_float64():
    a, b, _ = train_both(np.float64)
    assert len(a) == 200
    np.testing.assert_allclose(a, b, rtol=1e-9)             # 200 Adam steps apart only by rounding


@pytest.mark.slow
def test_trainer_float32_losses_start_identical_and_stay_close():
    # float32: the first step is bit for bit the same. Rounding differences in dW1 (another
    # summation order) then grow, as any change of summation order would: Adam divides every
    # gradient entry by its own running size, so an entry that is nearly zero moves by about
    # lr whatever its rounding. docs/speed.md gives the measured gap over the first 100 steps.
    a, b, runs = train_both(np.float32)
    assert a[0] == b[0]
    np.testing.assert_allclose(a[:100], b[:100], rtol=1e-2)
    assert runs[True]["test_acc"][-1] == pytest.approx(runs[False]["test_acc"][-1], abs=0.02)


def test_trainer_runs_other_nets_through_their_layer_plan():
    from convlab.fast.plan import LayerPlan
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 20)
    assert isinstance(Trainer(LeNet(), x, t, x, t, epochs=1, verbose=False).fast, LayerPlan)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_loss_is_softmax_with_losss_when_probabilities_underflow(dtype):
    """Scores 1000 and more apart (W3 = 0, b3 extreme): the fused step's loss, over two slices,
    is the layers' SoftmaxWithLoss loss and torch's cross_entropy."""
    torch = pytest.importorskip("torch")
    net = make(dtype=dtype, out=5)
    net.params["W3"][...] = 0
    net.params["b3"][...] = [0, 1000, -1000, 3, 1000]
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((10, 1, 12, 12)).astype(dtype), np.arange(10) % 5
    scores = np.tile(net.params["b3"], (10, 1))
    oracle = torch.nn.functional.cross_entropy(torch.from_numpy(scores), torch.from_numpy(t)).item()
    eps = float(np.finfo(dtype).eps)
    layers_loss = float(net.loss(x, t))
    assert layers_loss == pytest.approx(oracle, rel=4 * eps) and layers_loss > 800  # not -log(tiny)
    fused = FusedSimpleConvNet(net, threads=2)
    assert fused.gradient(x, t)[0] == layers_loss
    assert fused.step(x, t, Adam()) == layers_loss


def test_subnormal_output_gradients_are_flushed():
    # A very confident net: wrong-class probabilities underflow below the smallest normal
    # float32, so the layers' output gradient holds subnormal numbers; the fused step zeroes
    # them (slow on x86 CPUs), which changes no gradient beyond float32 rounding.
    net = SimpleConvNet(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    t = np.argmax(net.predict(x), axis=1)                   # its own answers: confident and right
    net.params["W3"] *= 3e4
    tiny = np.finfo(np.float32).tiny
    net.gradient(x, t)
    y = net.last_layer.y
    assert np.sum((y > 0) & (y < tiny)) > 10                 # subnormal probabilities, really
    loss, grads = plain(net, x, t)
    floss, fgrads = FusedSimpleConvNet(net, threads=1).gradient(x, t)
    subnormal = {k: int(np.sum((g != 0) & (np.abs(g) < tiny))) for k, g in grads.items()}
    assert sum(subnormal.values()) > 0                       # the layers' gradients have them ...
    for k, g in fgrads.items():
        assert not np.any((g != 0) & (np.abs(g) < tiny)), k  # ... the fused step's none
        np.testing.assert_allclose(g, grads[k], rtol=1e-4, atol=1e-6 * (np.abs(grads[k]).max() + tiny))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_step_equals_gradient_then_update(threads, opt):
    # step() computes dW2 on the workers and, with Adam, updates each worker's rows at once:
    # the parameters must be those of gradient() followed by a plain update(), bit for bit
    from convlab.optim import make_optimizer
    rng = np.random.default_rng(5)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 64)
    nets = [SimpleConvNet(seed=2), SimpleConvNet(seed=2)]
    fused = [FusedSimpleConvNet(net, threads=threads) for net in nets]
    opts = [make_optimizer(opt, lr=0.01), make_optimizer(opt, lr=0.01)]
    for _ in range(3):
        loss = fused[0].step(x, t, opts[0])
        loss2, grads = fused[1].gradient(x, t)
        opts[1].update(nets[1].params, grads)
        assert loss == loss2
    for k in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[k], nets[1].params[k], err_msg=k)


def test_the_fused_step_runs_its_jobs_on_the_shared_workers():
    """FusedSimpleConvNet.split is convlab.fast.threads.Workers.split (whose Ctrl-C and failure
    handling tests/test_fast_threads.py checks): the same pool, not a copy."""
    fused = FusedSimpleConvNet(SimpleConvNet(seed=0), threads=2)
    if fused.threads < 2:
        pytest.skip("no per-thread BLAS control: one thread")
    names = []
    fused.split(lambda i, n: names.append((i, n, threading.current_thread().name)))
    assert sorted(i for i, _, _ in names) == [0, 1] and all(n == 2 for _, n, _ in names)
    assert any(name.startswith("convlab-fast") for _, _, name in names)


def test_a_bigger_head_has_every_gradient_split_by_rows_and_still_the_layers_numbers():
    """hidden=1700: W3 (17,000 numbers) is big enough to be split over the threads too, so each
    thread computes its own rows of dW3 (``_gradient_rows``); the numbers stay the layers'."""
    from convlab.fast.optim import SPLIT_MIN
    net = SimpleConvNet(seed=4, hidden_size=1700)
    assert net.params["W3"].size >= SPLIT_MIN
    rng = np.random.default_rng(4)
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 40)
    loss, grads = plain(net, x, t)
    for threads in (1, 2, 3):
        floss, fgrads = FusedSimpleConvNet(net, threads=threads).gradient(x, t)
        assert floss == loss
        for k in grads:
            np.testing.assert_allclose(fgrads[k], grads[k], rtol=2e-5, atol=2e-6 * np.abs(grads[k]).max(),
                                       err_msg=f"{k}, {threads} threads")
    nets = [SimpleConvNet(seed=4, hidden_size=1700) for _ in range(2)]
    fused = [FusedSimpleConvNet(n, threads=2) for n in nets]
    opts = [Adam(lr=0.01), Adam(lr=0.01)]
    fused[0].step(x, t, opts[0])
    opts[1].update(nets[1].params, fused[1].gradient(x, t)[1])
    for k in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[k], nets[1].params[k], err_msg=k)


@pytest.mark.parametrize("failing_slice", [0, 1])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failing_slice_raises_its_own_error_and_the_next_step_runs(failing_slice, error, monkeypatch):
    """The slices meet at a barrier: a slice that fails (or is interrupted) must not leave the
    other one waiting there forever, and the error raised is the failing slice's own, on
    whichever thread it happened. Nothing is updated; the next step works as usual."""
    net = SimpleConvNet(seed=0)
    fused = FusedSimpleConvNet(net, threads=2)
    if fused.threads < 2:
        pytest.skip("no per-thread BLAS control: one thread")
    rng = np.random.default_rng(0)
    x, t = rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64)
    before = {k: p.copy() for k, p in net.params.items()}
    real = fused._slice_gradient

    def failing(S, *args):
        if S is fused._slices[failing_slice]:
            raise error("slice failed")
        return real(S, *args)
    monkeypatch.setattr(fused, "_slice_gradient", failing)
    with pytest.raises(error, match="slice failed"):
        fused.step(x, t, Adam())
    for k, p in net.params.items():
        np.testing.assert_array_equal(p, before[k], err_msg=k)
    monkeypatch.setattr(fused, "_slice_gradient", real)
    assert fused.step(x, t, Adam()) == plain(SimpleConvNet(seed=0), x, t)[0]
