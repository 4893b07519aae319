"""convlab/fast/blocks.py: LeNet-shaped nets (conv - activation - pooling blocks, then affine
layers) train through BlockPlan with the layers' numbers, on one thread and on two, the same
numbers run after run; any other net gets the plan it had before."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from convlab.fast import BlockPlan, FusedSimpleConvNet, LayerPlan, compile_net
from convlab.fast import blocks
from convlab.fast.blocks import blocks_for
from convlab.nets import Net, build_net
from convlab.optim import Adam
from convlab.train import Trainer


def batch(net, N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((N,) + net.input_dim).astype(net.dtype), rng.integers(0, net.output_size, N)


def plan_on(net, threads):
    """BlockPlan(net, threads), or a skip where this machine cannot run that many threads with
    one BLAS thread each."""
    plan = BlockPlan(net, threads)
    if plan.threads < threads:
        pytest.skip("no per-thread BLAS control here: every plan runs on one thread")
    return plan


def assert_layers_numbers(net, plan, x, t, float64_tol=1e-9):
    """The plan's loss and gradients against net.gradient's: the loss to float rounding
    (float32: 8 eps; float64: 1e-12), every gradient to float rounding of its largest entry."""
    g1 = {k: v.copy() for k, v in net.gradient(x, t).items()}
    loss1 = float(net.last_layer.loss)
    g2 = {k: v.copy() for k, v in plan.gradient(x, t).items()}
    eps = float(np.finfo(net.dtype).eps)
    assert plan.loss == pytest.approx(loss1, rel=1e-12 if net.dtype == np.float64 else 8 * eps)
    assert sorted(g2) == sorted(g1)
    for k in g1:
        assert g2[k].dtype == g1[k].dtype and g2[k].shape == g1[k].shape, k
        # the largest entry, at least 1e-6: a gradient that sums to about 0 (a constant net's
        # score gradient) carries rounding noise of its terms' size, not of the sum's
        scale = max(float(np.abs(g1[k]).max()), 1e-6)
        tol = float64_tol if net.dtype == np.float64 else 1e3 * eps
        np.testing.assert_allclose(g2[k], g1[k], rtol=0, atol=scale * tol, err_msg=k)


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
def test_compile_net_gives_lenet_the_block_plan_and_no_other_registry_net(name):
    assert isinstance(compile_net(build_net(name, seed=0)), BlockPlan)
    assert isinstance(compile_net(build_net("simple", seed=0)), FusedSimpleConvNet)
    for other in ("deep", "alexnet"):
        plan = compile_net(build_net(other, seed=0, **({"width": 0.25} if other == "alexnet" else {})))
        assert type(plan) is LayerPlan


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
def test_lenet_has_the_layers_numbers(name, dtype, threads):
    net = build_net(name, seed=1, dtype=dtype)
    x, t = batch(net, N=40, seed=1)
    assert_layers_numbers(net, plan_on(net, threads), x, t, float64_tol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 3, 33])
def test_any_batch_size(N):
    net = build_net("lenet", seed=2, dtype=np.float64)
    x, t = batch(net, N=N, seed=2)
    assert_layers_numbers(net, BlockPlan(net, 2), x, t, float64_tol=1e-12)


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_thread_count_repeats_its_numbers_bit_for_bit(name, threads):
    runs = []
    for _ in range(2):
        net = build_net(name, seed=3)
        plan, opt = plan_on(net, threads), Adam()
        x, t = batch(net, N=64, seed=3)
        losses = [plan.step(x, t, opt) for _ in range(3)]
        runs.append((losses, {k: p.copy() for k, p in net.params.items()}))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


def test_trainer_steps_lenet_through_the_block_plan():
    """One Trainer step against net.gradient + Adam.update: the loss to float32 rounding, the
    updated weights to Adam's step size; evaluation as the net's."""
    nets = [build_net("lenet", seed=4) for _ in range(2)]
    x, t = batch(nets[0], N=32, seed=4)
    trainer = Trainer(nets[0], x, t, x, t, epochs=1, mini_batch_size=32, verbose=False)
    assert isinstance(trainer.fast, BlockPlan)
    loss = trainer.train_step(x, t)
    assert loss == pytest.approx(float(nets[1].loss(x, t)), rel=1e-6)
    opt = Adam()
    opt.update(nets[1].params, nets[1].gradient(x, t))
    for k, p in nets[0].params.items():
        np.testing.assert_allclose(p, nets[1].params[k], rtol=0, atol=1e-5, err_msg=k)
    assert trainer.fast.accuracy(x, t) == nets[0].accuracy(x, t)


def test_max_pooling_ties_go_to_the_first_maximum():
    """Integer weights and images make many equal conv outputs in a pooling window: the
    gradient must go where Pooling sends it (the first maximum), with ReLU and with sigmoid."""
    for act in ("relu", "sigmoid"):
        spec = [("conv", dict(filter_num=3, filter_size=2, pad=1)), (act, {}), ("pool", dict(size=3)),
                ("affine", dict(size=4))]
        net = Net((2, 8, 8), spec, weight_init_std=1.0, seed=5, dtype=np.float64)
        for p in net.params.values():
            p[...] = np.round(p * 2)                                      # small integers
        rng = np.random.default_rng(5)
        x = rng.integers(-1, 2, (20, 2, 8, 8)).astype(np.float64)
        t = rng.integers(0, 4, 20)
        assert_layers_numbers(net, BlockPlan(net, 2), x, t, float64_tol=1e-12)


@pytest.mark.parametrize("spec, reason", [
    ([("conv", dict(filter_num=2, filter_size=3, stride=2)), ("relu", {}), ("pool", dict(size=2))],
     "stride and dilation"),
    ([("conv", dict(filter_num=2, filter_size=3)), ("relu", {}), ("pool", dict(size=3, stride=2))],
     "stride p"),
    ([("conv", dict(filter_num=2, filter_size=3)), ("relu", {}), ("pool", dict(size=3))],
     "whole pooling windows"),
    ([("conv", dict(filter_num=2, filter_size=3)), ("pool", dict(size=2)), ("relu", {})],
     "followed by Relu or Sigmoid"),
    ([("conv", dict(filter_num=2, filter_size=3)), ("relu", {}), ("pool", dict(size=2)),
      ("affine", dict(size=5)), ("dropout", {})], "Affine layers with Relu or Sigmoid"),
    ([("affine", dict(size=5)), ("relu", {})], "does not start with"),
])
def test_other_shapes_get_the_layer_plan_saying_why(spec, reason):
    net = Net((1, 10, 10), spec + [("affine", dict(size=3))], seed=0)
    assert reason in BlockPlan.why_not(net)
    assert blocks_for(net) is None
    assert type(compile_net(net)) is LayerPlan
    with pytest.raises(ValueError, match="cannot use the block plan"):
        BlockPlan(net)


def fits(H, blocks):
    """True if maps H wide pass blocks (filter size, pad, pool size) in whole pooling windows."""
    for fs, pad, p in blocks:
        H = H + 2 * pad - fs + 1                                          # the conv output
        if H < 1 or H % p:
            return False
        H //= p
    return True


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), n_blocks=st.integers(1, 2), hidden=st.integers(0, 2),
       data=st.data())
def test_random_block_nets_have_the_layers_numbers(seed, n_blocks, hidden, data):
    """Blocks of any filter size, pad, channel count, activation, pooling size and mode; any
    number of hidden affine layers; any batch on one or two threads (float64)."""
    spec, C = [], data.draw(st.integers(1, 3))
    shape_sizes = []
    for b in range(n_blocks):
        fs, pad, p = data.draw(st.integers(1, 4)), data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3))
        mode = data.draw(st.sampled_from(["max", "avg"]))
        spec += [("conv", dict(filter_num=data.draw(st.integers(1, 4)), filter_size=fs, pad=pad)),
                 (data.draw(st.sampled_from(["relu", "sigmoid"])), {}),
                 ("pool", dict(size=p, mode=mode))]
        shape_sizes.append((fs, pad, p))
    # one of the smallest input sizes (up to 60) that make every conv output whole windows
    sizes = [H for H in range(1, 61) if fits(H, shape_sizes)]
    assume(sizes)
    size = sizes[min(data.draw(st.integers(0, 3)), len(sizes) - 1)]
    for _ in range(hidden):
        spec += [("affine", dict(size=data.draw(st.integers(1, 6)))),
                 (data.draw(st.sampled_from(["relu", "sigmoid"])), {})]
    spec.append(("affine", dict(size=3)))
    net = Net((C, size, size), spec, weight_init_std=0.5, seed=seed, dtype=np.float64)
    assert BlockPlan.why_not(net) is None
    x, t = batch(net, N=data.draw(st.integers(1, 40)), seed=seed)
    assert_layers_numbers(net, BlockPlan(net, data.draw(st.integers(1, 2))), x, t)


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_step_in_one_job_per_thread_is_the_two_round_step_bit_for_bit(name, dtype):
    """BlockPlan.step (slice, barrier, rows of the sums, Adam's rows, one job per thread) against
    LayerPlan.step on the same plan (the slices, then the rows added and updated in a second
    round): the same losses and parameters, bit for bit, step after step."""
    runs = []
    for step in (BlockPlan.step, LayerPlan.step):
        net = build_net(name, seed=6, dtype=dtype)
        plan, opt = plan_on(net, 2), Adam()
        losses = [step(plan, *batch(net, N=48, seed=s), opt) for s in range(3)]
        runs.append((losses, {k: p.copy() for k, p in net.params.items()}, opt.iter))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2] == 3
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k], err_msg=k)


@pytest.mark.parametrize("failing", [0, 1])
def test_a_failing_slice_updates_nothing_and_the_next_step_works(failing):
    """A slice that raises (on the calling thread or on the worker) breaks the barrier: the error
    comes out, no parameter moved, Adam's step count is unchanged, and no thread is left
    waiting; the next step then matches a plan that never failed."""
    nets = [build_net("lenet-modern", seed=7) for _ in range(2)]
    plans, opts = [plan_on(net, 2) for net in nets], [Adam(), Adam()]
    x, t = batch(nets[0], N=40, seed=7)
    before = {k: p.copy() for k, p in nets[0].params.items()}
    real = plans[0]._slice_gradient

    def sometimes_fails(B, xs, ts, N):
        if B is plans[0]._bufs[failing]:
            raise RuntimeError("slice failed")
        return real(B, xs, ts, N)

    plans[0]._slice_gradient = sometimes_fails
    with pytest.raises(RuntimeError, match="slice failed"):
        plans[0].step(x, t, opts[0])
    assert opts[0].iter == 0
    for k, p in nets[0].params.items():
        np.testing.assert_array_equal(p, before[k], err_msg=k)
    plans[0]._slice_gradient = real
    assert plans[0].step(x, t, opts[0]) == plans[1].step(x, t, opts[1])
    for k, p in nets[0].params.items():
        np.testing.assert_array_equal(p, nets[1].params[k], err_msg=k)


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
@pytest.mark.parametrize("threads", [1, 2])
def test_both_folds_of_the_input_gradient_have_the_layers_numbers(name, threads, monkeypatch):
    """The input gradient folded in three calls (shifted rows, one sum) and in one add per kernel
    offset (where the rows exceed FOLD_BYTES): each the layers' numbers, and each other's to
    float64 rounding (not bit for bit: how ``np.sum`` orders a sum over rows depends on the
    NumPy version and the layout, and Python 3.10's NumPy ordered it otherwise)."""
    got = []
    for fold_bytes in (1 << 40, 0):
        monkeypatch.setattr(blocks, "FOLD_BYTES", fold_bytes)
        net = build_net(name, seed=8, dtype=np.float64)
        x, t = batch(net, N=40, seed=8)
        plan = plan_on(net, threads)
        assert_layers_numbers(net, plan, x, t, float64_tol=1e-12)
        got.append({k: g.copy() for k, g in plan.gradient(x, t).items()})
    for k in got[0]:
        scale = np.abs(got[0][k]).max()
        np.testing.assert_allclose(got[0][k], got[1][k], rtol=0, atol=1e-12 * scale, err_msg=k)
