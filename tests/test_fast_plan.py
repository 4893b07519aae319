"""convlab/fast (plan.py, __init__.py): every registry net and nets of your own run through a
fast plan with the layers' numbers; Trainer uses it; a net it cannot plan falls back, saying why;
and it runs where no thread can start."""
import copy
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from convlab.fast import FusedSimpleConvNet, LayerPlan, compile_net, why_not
from convlab.layers import Affine, Relu, SoftmaxWithLoss
from convlab.nets import NETS, Net, build_net
from convlab.optim import Adam
from convlab.train import Trainer

SMALL = {"alexnet": {"width": 0.25}}          # the registry's nets, alexnet narrowed to stay quick


def batch(net, N=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((N,) + net.input_dim).astype(net.dtype), rng.integers(0, net.output_size, N)


def generators(net):
    """The state of every random generator in net's layers (the dropout masks' source)."""
    return {k: copy.deepcopy(layer.rng.bit_generator.state)
            for k, layer in net.layers.items() if hasattr(layer, "rng")}


def rewind(net, states):
    for k, s in states.items():
        net.layers[k].rng.bit_generator.state = s


def layers_vs_plan(net, x, t):
    """(loss, grads, dropout masks) of net.gradient and of LayerPlan(net).gradient, from the same
    generator states."""
    states = generators(net)
    g1 = {k: v.copy() for k, v in net.gradient(x, t).items()}
    y1 = net.last_layer.y.copy()
    masks1 = [None if getattr(l, "mask", None) is None else l.mask.copy()
              for l in net.layers.values() if hasattr(l, "rng")]
    rewind(net, states)
    plan = LayerPlan(net)
    g2 = plan.gradient(x, t)
    masks2 = [l.mask for l in plan.layers.values() if hasattr(l, "rng")]
    return (y1, g1, masks1), (plan.last_layer.y, g2, masks2)


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_registry_net_has_the_layers_numbers(name, dtype):
    net = build_net(name, seed=1, dtype=dtype, **SMALL.get(name, {}))
    x, t = batch(net)
    (y1, g1, m1), (y2, g2, m2) = layers_vs_plan(net, x, t)
    eps = float(np.finfo(dtype).eps)
    loss1 = -np.log(y1[np.arange(len(t)), t]).mean()
    loss2 = -np.log(y2[np.arange(len(t)), t]).mean()
    assert loss2 == pytest.approx(loss1, rel=1e-12 if dtype == np.float64 else 8 * eps)
    for k in g1:
        assert g2[k].dtype == g1[k].dtype and g2[k].shape == g1[k].shape
        scale = np.abs(g1[k]).max() + np.finfo(dtype).tiny
        np.testing.assert_allclose(g2[k], g1[k], rtol=0, atol=scale * 1e3 * eps, err_msg=k)
    for a, b in zip(m1, m2):                                  # the same dropout masks
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(NETS))
def test_trainer_steps_every_registry_net_through_its_plan(name):
    """One Trainer step (fast plan) against net.gradient + Adam.update (the layers): the loss
    to float32 rounding, the updated weights to Adam's step size."""
    nets = [build_net(name, seed=2, **SMALL.get(name, {})) for _ in range(2)]
    x, t = batch(nets[0], N=32, seed=2)
    trainer = Trainer(nets[0], x, t, x, t, epochs=1, mini_batch_size=32, verbose=False)
    assert isinstance(trainer.fast, FusedSimpleConvNet if name == "simple" else LayerPlan)
    loss = trainer.train_step(x, t)
    grads = nets[1].gradient(x, t)
    y = nets[1].last_layer.y
    assert loss == pytest.approx(-np.log(y[np.arange(32), t]).mean(), rel=1e-5)
    Adam(lr=0.001).update(nets[1].params, grads)
    for k, p in nets[0].params.items():
        np.testing.assert_allclose(p, nets[1].params[k], rtol=0, atol=2e-3, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fused", [True, False])
def test_trainer_reports_softmax_with_losss_loss_when_probabilities_underflow(dtype, fused):
    """Scores 1000 and more apart (the last Affine's W = 0, b extreme): the loss a Trainer step
    reports, through the plan (fused=True) or the layers, is SoftmaxWithLoss's and torch's."""
    torch = pytest.importorskip("torch")
    net = build_net("lenet-modern", seed=0, dtype=dtype)
    last = [layer for layer in net.layers.values() if isinstance(layer, Affine)][-1]
    last.W[...] = 0
    last.b[...] = [0, 1000, -1000, 3, 0, 0, 0, 0, 0, 1000]
    x, _ = batch(net, N=10)
    t = np.arange(10)
    trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=10, verbose=False, fused=fused)
    assert isinstance(trainer.fast, LayerPlan) if fused else trainer.fast is None
    loss = trainer.train_step(x, t)
    scores = np.tile(np.array([0, 1000, -1000, 3, 0, 0, 0, 0, 0, 1000], dtype=dtype), (10, 1))
    oracle = torch.nn.functional.cross_entropy(torch.from_numpy(scores), torch.from_numpy(t)).item()
    eps = float(np.finfo(dtype).eps)
    assert loss == pytest.approx(oracle, rel=4 * eps)
    assert loss == pytest.approx(float(SoftmaxWithLoss().forward(scores, t)), rel=4 * eps)
    assert loss > 900                                      # not a clipped -log(tiny) = 87 or 708


def test_a_plan_is_deterministic():
    runs = []
    for _ in range(2):
        net = build_net("deep", seed=3)
        plan, opt = LayerPlan(net), Adam()
        x, t = batch(net, N=8, seed=3)
        losses = [plan.step(x, t, opt) for _ in range(3)]
        runs.append((losses, {k: p.copy() for k, p in net.params.items()}))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


def test_plan_accuracy_and_predict_are_the_nets():
    net = build_net("lenet-modern", seed=4)
    x, t = batch(net, N=50, seed=4)
    plan = compile_net(net)
    np.testing.assert_allclose(plan.predict(x), net.predict(x), rtol=1e-5, atol=1e-6)
    assert plan.accuracy(x, t, batch_size=7) == net.accuracy(x, t, batch_size=7)


KINDS = st.sampled_from(["conv", "relu", "sigmoid", "pool", "avgpool", "lrn", "dropout"])


def random_spec(kinds, seed, size):
    """The layers ``kinds`` drawn by hypothesis as a spec for ``size`` x ``size`` images: convs
    of stride 1 or 2 (by ``seed``), pooling only while the maps are at least 2 wide."""
    spec = []
    for kind in kinds:
        if kind == "conv":
            spec.append(("conv", dict(filter_num=3, filter_size=3, pad=1, stride=1 + seed % 2)))
            size = (size - 1) // (1 + seed % 2) + 1
        elif kind in ("pool", "avgpool"):
            if size < 2:
                continue
            spec.append(("pool", dict(size=2, mode="avg" if kind == "avgpool" else "max")))
            size //= 2
        elif kind == "dropout":
            spec.append(("dropout", dict(ratio=0.3)))
        elif kind == "lrn":
            spec.append(("lrn", dict(n=3)))
        else:
            spec.append((kind, {}))
    return spec


@settings(max_examples=15, deadline=None)
@given(kinds=st.lists(KINDS, min_size=1, max_size=5), seed=st.integers(0, 2**16))
def test_random_nets_of_your_own_have_the_layers_numbers(kinds, seed):
    spec = random_spec(kinds, seed, 12)
    spec += [("affine", dict(size=5)), ("relu", {}), ("affine", dict(size=4))]
    net = Net((2, 12, 12), spec, weight_init_std=0.3, seed=seed, dtype=np.float64)
    x, t = batch(net, N=5, seed=seed)
    (y1, g1, m1), (y2, g2, m2) = layers_vs_plan(net, x, t)
    np.testing.assert_allclose(y2, y1, rtol=1e-12, atol=1e-15)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-9, atol=1e-12 * (np.abs(g1[k]).max() + 1e-300))
    for a, b in zip(m1, m2):
        np.testing.assert_array_equal(a, b)


class MyRelu(Relu):
    """A layer of your own: the fast path has no twin for it and cannot know what it does."""


def test_a_net_it_cannot_plan_trains_layer_by_layer_saying_why():
    net = Net((1, 8, 8), [("conv", dict(filter_num=2, filter_size=3)), ("relu", {}),
                          ("affine", dict(size=3))], seed=0)
    net.layers["Relu1"] = MyRelu()
    assert "layer Relu1 is a MyRelu" in why_not(net)
    x, t = batch(net, N=10)
    with pytest.warns(UserWarning, match="layer Relu1 is a MyRelu"):
        trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=5, verbose=False)
    assert trainer.fast is None
    assert len(trainer.train()["loss"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compile_net(net, warn=False) is None
    assert "not a convlab Net" in why_not(object())


def test_it_runs_where_no_thread_can_start(monkeypatch):
    """Pyodide: Thread.start raises RuntimeError. The fast path then runs on the calling thread,
    quietly, even where the BLAS could be controlled."""
    import convlab.fast.threads as threads

    def no_threads(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", no_threads)
    monkeypatch.setattr(threads, "thread_local_control", lambda: True)
    for name in ("simple", "lenet", "deep"):
        net = build_net(name, seed=0)
        x, t = batch(net, N=64)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            plan = compile_net(net, threads=2)
            assert plan.threads == 1
            trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=64, verbose=False)
            assert trainer.fast.threads == 1
            assert np.isfinite(trainer.train_step(x, t))
            trainer.evaluate()


def test_no_proc_means_no_blas_control(monkeypatch):
    """Where /proc/self/maps cannot be read (not Linux), the BLAS is left alone: no control."""
    import builtins

    from convlab.fast import blas
    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", no_proc)
    assert blas._set_local.__wrapped__() is None


def test_dropout_is_active_in_trainer_steps_and_not_in_evaluation():
    """A net with dropout trains with fresh masks at every step (train_flg=True) and is
    evaluated without them: a plan that ran in test mode would pass every other test."""
    net = build_net("deep", seed=5)
    x, t = batch(net, N=16, seed=5)
    trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=16, verbose=False)
    dropouts = [layer for layer in trainer.fast.layers.values() if hasattr(layer, "rng")]
    assert dropouts
    trainer.train_step(x, t)
    first = [d.mask.copy() for d in dropouts]
    assert all(m is not None and (m == 0).any() for m in first)
    trainer.train_step(x, t)
    assert any(not np.array_equal(a, d.mask) for a, d in zip(first, dropouts))   # fresh masks
    # test mode: evaluation's scores are the plain net's without dropout (a mask would zero
    # about half the hidden units and change them far beyond float rounding)
    scores = trainer.fast.predict(x)
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-4, atol=1e-5)
    assert trainer.fast.accuracy(x, t) == net.accuracy(x, t)


@pytest.mark.parametrize("input_dim", [(1, 28, 27), (1, 27, 28)])
def test_a_conv_output_odd_on_one_axis_only_gets_the_layer_plan(input_dim):
    """The fused step needs whole pooling windows on both axes; otherwise the net still gets
    the fast layer plan, with the layers' numbers."""
    from convlab.nets import SimpleConvNet
    net = SimpleConvNet(input_dim=input_dim, seed=0, dtype=np.float64)
    assert "must split into whole" in FusedSimpleConvNet.why_not(net)
    plan = compile_net(net)
    assert isinstance(plan, LayerPlan)
    x, t = batch(net, N=4)
    (y1, g1, _), (y2, g2, _) = layers_vs_plan(net, x, t)
    np.testing.assert_allclose(y2, y1, rtol=1e-12, atol=1e-15)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-9, atol=1e-12 * np.abs(g1[k]).max())


# -- on threads: the batch cut into one slice per thread (convlab.fast.threads) ----------------

def threaded(net, threads):
    """LayerPlan(net, threads), or a skip where this machine cannot run threads with one BLAS
    thread each (then every plan has one thread, which the tests above cover)."""
    plan = LayerPlan(net, threads=threads)
    if plan.threads < threads:
        pytest.skip("no per-thread BLAS control here: every plan runs on one thread")
    return plan


def layers_vs_threads(net, x, t, threads):
    """(loss, grads, dropout masks) of net.gradient, of the plan on one thread and of the plan on
    ``threads`` threads, all from the same generator states; also the plan on threads."""
    states = generators(net)
    runs = []
    for how in ("layers", 1, threads):
        rewind(net, states)
        if how == "layers":
            g = net.gradient(x, t)
            loss = float(net.last_layer.loss)
            masks = {k: net.layers[k].mask for k in states}
        else:
            plan = LayerPlan(net, threads=1) if how == 1 else threaded(net, threads)
            g = plan.gradient(x, t)
            loss = plan.loss
            if how == 1:
                masks = {k: plan.layers[k].mask for k in states}
            else:   # each slice's rows, one under the other
                masks = {k: np.concatenate([S.layers[k].mask for S in plan._slices[:len(
                    plan.workers.cuts(len(x)))]]) for k in states}
        runs.append((loss, {k: v.copy() for k, v in g.items()},
                     {k: None if m is None else m.copy() for k, m in masks.items()}))
    return runs, plan


def assert_same_numbers(runs, dtype, grad_tol=1e3):
    eps = float(np.finfo(dtype).eps)
    (loss0, g0, m0), *others = runs
    for loss, g, masks in others:
        assert loss == pytest.approx(loss0, rel=1e-12 if dtype == np.float64 else 8 * eps)
        assert set(g) == set(g0)
        for k in g0:
            assert g[k].dtype == g0[k].dtype and g[k].shape == g0[k].shape
            scale = np.abs(g0[k]).max() + np.finfo(dtype).tiny
            np.testing.assert_allclose(g[k], g0[k], rtol=0, atol=scale * grad_tol * eps, err_msg=k)
        assert set(masks) == set(m0)
        for k in m0:                                          # the same dropout masks
            np.testing.assert_array_equal(masks[k], m0[k], err_msg=k)


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_registry_net_on_threads_has_the_layers_numbers(name, dtype):
    net = build_net(name, seed=1, dtype=dtype, **SMALL.get(name, {}))
    x, t = batch(net, N=40, seed=1)                            # two slices of 20
    runs, plan = layers_vs_threads(net, x, t, threads=2)
    assert len(plan.workers.cuts(40)) == 2
    assert_same_numbers(runs, dtype)
    if any(hasattr(layer, "rng") for layer in net.layers.values()):
        assert any(m is not None and (m == 0).any() for m in runs[2][2].values())  # dropout ran


def test_three_threads_and_unequal_slices_have_the_layers_numbers():
    net = build_net("alexnet", seed=2, dtype=np.float64, width=0.25)
    x, t = batch(net, N=53, seed=2)
    runs, plan = layers_vs_threads(net, x, t, threads=3)
    assert [hi - lo for _, lo, hi in plan.workers.cuts(53)] == [17, 18, 18]
    assert_same_numbers(runs, np.float64)


@settings(max_examples=15, deadline=None)
@given(kinds=st.lists(KINDS, min_size=1, max_size=5), seed=st.integers(0, 2**16),
       N=st.integers(32, 40), threads=st.integers(2, 3))
def test_random_nets_on_threads_have_the_layers_numbers(kinds, seed, N, threads):
    spec = random_spec(kinds, seed, 8)
    spec += [("affine", dict(size=5)), ("dropout", dict(ratio=0.5)), ("affine", dict(size=4))]
    net = Net((2, 8, 8), spec, weight_init_std=0.3, seed=seed, dtype=np.float64)
    x, t = batch(net, N=N, seed=seed)
    runs, _ = layers_vs_threads(net, x, t, threads=threads)
    assert_same_numbers(runs, np.float64)


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_threads_repeat_their_numbers_bit_for_bit(opt):
    """Two runs of three steps on two threads from the same start: the same losses and weights,
    bit for bit; and each step is gradient() then the optimiser's own update, bit for bit."""
    from convlab.optim import make_optimizer
    runs = []
    for _ in range(2):
        net = build_net("deep", seed=3)
        plan, optimizer = threaded(net, 2), make_optimizer(opt, lr=0.01)
        x, t = batch(net, N=64, seed=3)
        losses = [plan.step(x, t, optimizer) for _ in range(3)]
        runs.append((losses, {k: p.copy() for k, p in net.params.items()}))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k], err_msg=k)
    net = build_net("deep", seed=3)
    plan, optimizer = threaded(net, 2), make_optimizer(opt, lr=0.01)
    for loss in runs[0][0]:
        grads = plan.gradient(x, t)
        assert plan.loss == loss
        optimizer.update(net.params, grads)
    for k, p in net.params.items():
        np.testing.assert_array_equal(p, runs[0][1][k], err_msg=k)


def test_predict_and_accuracy_on_threads_are_the_nets():
    net = build_net("alexnet", seed=4, width=0.25)
    x, t = batch(net, N=150, seed=4)
    plan = threaded(net, 2)
    assert plan.eval_batch is not None
    np.testing.assert_allclose(plan.predict(x), net.predict(x), rtol=1e-5, atol=1e-5)
    assert plan.accuracy(x, t, batch_size=20) == net.accuracy(x, t)
    assert plan.accuracy(x[:7], t[:7]) == net.accuracy(x[:7], t[:7])            # one slice
    plan.step(x[:64], t[:64], Adam())                     # training masks do not leak into predict
    np.testing.assert_allclose(plan.predict(x), net.predict(x), rtol=1e-5, atol=1e-5)


def test_ctrl_c_in_a_slice_leaves_no_worker_running():
    """KeyboardInterrupt in the calling thread's slice: the step raises it only when the other
    slice has finished (no worker left writing into arrays), and the plan trains on after."""
    import time
    net = build_net("lenet-modern", seed=6)
    plan = threaded(net, 2)
    x, t = batch(net, N=64, seed=6)
    done, first = threading.Event(), [True]
    relu0, relu1 = plan._slices[0].layers["Relu1"], plan._slices[1].layers["Relu1"]
    real0, real1 = relu0.forward, relu1.forward

    def interrupted(x):
        if first[0]:
            first[0] = False
            raise KeyboardInterrupt
        return real0(x)

    def slow(x):
        time.sleep(0.2)
        out = real1(x)
        done.set()
        return out
    relu0.forward, relu1.forward = interrupted, slow
    with pytest.raises(KeyboardInterrupt):
        plan.step(x, t, Adam())
    assert done.is_set()                                   # the worker's slice had finished
    assert np.isfinite(plan.step(x, t, Adam()))


def test_small_batches_run_as_one_slice():
    net = build_net("deep", seed=7)
    plan = threaded(net, 2)
    assert len(plan.workers.cuts(31)) == 1 and len(plan.workers.cuts(32)) == 2
    x, t = batch(net, N=31, seed=7)
    plan.gradient(x, t)
    assert plan.layers["Dropout1"].mask is not None        # the one-thread path ran
    assert all(S.layers["Dropout1"].mask is None for S in plan._slices)
