"""convlab/fast/infer.py: LayerPlan's forward-only evaluation gives net.predict's scores (float32
rounding; float64 1e-12) for every registry net and hypothesis-drawn nets, on one thread and on
threads; nets it cannot take fall back to the training twins."""
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from test_fast_plan import KINDS, SMALL, batch, random_spec, threaded

from convlab.fast import LayerPlan, compile_net, infer
from convlab.fast.infer import Inference, inference_for
from convlab.layers import Convolution, Pooling
from convlab.nets import NETS, Net, build_net
from convlab.train import Trainer


def assert_scores(got, want, dtype):
    """Equal to float rounding, relative to the largest score (float64: 1e-12)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = np.nanmax(np.abs(want)) if np.isfinite(want).any() else 1.0
    tol = 1e-12 if dtype == np.float64 else 64 * float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("name", [n for n in NETS if n != "simple"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_registry_net_is_evaluated_forward_only_with_its_numbers(name, dtype):
    net = build_net(name, seed=1, dtype=dtype, **SMALL.get(name, {}))
    plan = LayerPlan(net, threads=1)
    assert isinstance(plan.inference, Inference)          # not the fallback
    x, t = batch(net, N=23, seed=1)
    assert_scores(plan.predict(x), net.predict(x), dtype)
    assert plan.accuracy(x, t, batch_size=5) == net.accuracy(x, t)


@pytest.mark.parametrize("name", ["lenet", "alexnet", "deep"])
def test_on_threads_and_in_uneven_chunks(name):
    net = build_net(name, seed=2, **SMALL.get(name, {}))
    plan = threaded(net, 2)
    x, t = batch(net, N=101, seed=2)
    want = net.predict(x)
    for per_thread in (16, 30, 200):           # each thread 16 or 30 at a time (and a rest), all
        assert_scores(plan._scores(x, per_thread), want, np.float32)
    assert plan.accuracy(x, t, batch_size=30) == net.accuracy(x, t)


def test_the_scores_do_not_depend_on_the_thread_count():
    """Each chunk of images is computed whole by whichever thread takes it: one thread and two
    give the same scores bit for bit (for the same images per chunk)."""
    net = build_net("lenet-modern", seed=8)
    x, _ = batch(net, N=97, seed=8)
    one = LayerPlan(net, threads=1)._scores(x, 20)
    np.testing.assert_array_equal(threaded(net, 2)._scores(x, 20), one)
    np.testing.assert_array_equal(threaded(net, 3)._scores(x, 20), one)


@pytest.mark.parametrize("name", [n for n in NETS if n != "simple"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunks_hold_about_eval_bytes_of_the_largest_map(name, dtype):
    net = build_net(name, seed=0, dtype=dtype)
    plan = LayerPlan(net, threads=1)
    images = plan.eval_batch
    assert images == plan.inference.images and images % 50 == 0 and 50 <= images <= 1000
    largest = max(int(np.prod(shape)) for _, shape in net.shapes) * np.dtype(dtype).itemsize
    assert images == 50 or images * largest <= infer.EVAL_BYTES
    assert images == 1000 or (images + 50) * largest > infer.EVAL_BYTES


def test_predict_runs_in_chunks_of_eval_batch_with_the_same_scores_on_any_thread_count():
    net = build_net("lenet-modern", seed=9, dtype=np.float64)      # chunks of 250
    x, _ = batch(net, N=2 * LayerPlan(net).eval_batch + 7, seed=9)
    one = LayerPlan(net, threads=1)
    sizes = []
    real = Inference.scores

    def spy(self, xi, *args):
        sizes.append(len(xi))
        return real(self, xi, *args)

    with mock.patch.object(Inference, "scores", spy):
        got = one.predict(x)
    assert sorted(sizes) == [7, one.eval_batch, one.eval_batch]
    assert_scores(got, net.predict(x), np.float64)
    np.testing.assert_array_equal(threaded(net, 2).predict(x), got)
    np.testing.assert_array_equal(threaded(net, 3).predict(x), got)


def test_trainer_evaluates_through_it():
    net = build_net("lenet", seed=3)
    x, t = batch(net, N=40, seed=3)
    trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=20, verbose=False)
    assert trainer.fast.inference is not None
    train_acc, test_acc = trainer.evaluate()
    assert test_acc == net.accuracy(x, t)


def test_it_reads_the_weights_as_they_train():
    net = build_net("lenet-modern", seed=4)
    plan = LayerPlan(net)
    x, _ = batch(net, N=8, seed=4)
    plan.predict(x)
    for p in net.params.values():
        p *= -1.5
    assert_scores(plan.predict(x), net.predict(x), np.float32)


SPECIAL = st.sampled_from(["dilated", "overlap", "avgpad", "maxpad"])


def special_spec(kinds, seed, size):
    """random_spec's layers, plus: a dilated conv (3x3, dilation 2, pad 2: the size of pad 1),
    overlapping max pooling (3x3 windows 2 apart, pad 1), average and max pooling with pad 1."""
    spec, dilated = [], []
    for kind in kinds:
        if kind == "dilated":
            dilated.append(sum(k == "conv" for k, _ in spec))
            kind = "conv"
        if kind == "overlap" and size >= 2:
            spec.append(("pool", dict(size=3, stride=2, pad=1)))
            size = (size - 1) // 2 + 1
        elif kind in ("avgpad", "maxpad") and size >= 2:
            spec.append(("pool", dict(size=2, pad=1, mode=kind[:3])))
            size = size // 2 + 1
        elif kind in ("overlap", "avgpad", "maxpad"):
            continue
        else:
            part = random_spec([kind], seed, size)
            spec += part
            if kind == "conv":
                size = (size - 1) // (1 + seed % 2) + 1
            elif part and kind in ("pool", "avgpool"):
                size //= 2
    return spec, dilated


def with_dilation(net, which):
    """Set dilation 2 and pad 2 on net's convolutions number ``which`` (3x3, pad 1: the output
    size stays the same)."""
    convs = [layer for layer in net.layers.values() if type(layer) is Convolution]
    for i in which:
        convs[i].dilation, convs[i].pad = (2, 2), (2, 2)
    return net


@settings(max_examples=25, deadline=None)
@given(kinds=st.lists(KINDS | SPECIAL, min_size=1, max_size=6), seed=st.integers(0, 2**16),
       N=st.integers(1, 40), threads=st.integers(1, 3),
       dtype=st.sampled_from([np.float64, np.float32]), row_blocks=st.booleans())
def test_random_nets_have_predicts_numbers(kinds, seed, N, threads, dtype, row_blocks):
    """... also with every convolution one output row at a time (``row_blocks``: its pooling
    then runs a few rows at a time too)."""
    spec, dilated = special_spec(kinds, seed, 12)
    spec += [("affine", dict(size=5)), ("relu", {}), ("dropout", dict(ratio=0.5)),
             ("affine", dict(size=4))]
    net = with_dilation(Net((2, 12, 12), spec, weight_init_std=0.3, seed=seed, dtype=dtype),
                        dilated)
    plan = LayerPlan(net, threads=threads)
    assert plan.inference is not None
    x, _ = batch(net, N=N, seed=seed)
    x -= 0.5                                               # negative inputs too
    with mock.patch.object(infer, "CHUNK_BYTES", 1 if row_blocks else infer.CHUNK_BYTES):
        assert_scores(plan.predict(x), net.predict(x), dtype)


def test_max_pooling_moves_before_a_monotone_activation_only():
    net = Net((1, 8, 8), [("conv", dict(filter_num=2, filter_size=3)), ("sigmoid", {}),
                          ("dropout", dict(ratio=0.5)), ("relu", {}), ("pool", dict(size=2)),
                          ("lrn", dict(n=3)), ("pool", dict(size=2, mode="avg")), ("relu", {}),
                          ("affine", dict(size=3))], seed=0)
    conv, pool, affine = inference_for(net).steps          # the max pooling inside the conv
    assert conv.pool is not None and conv.pool.layer.mode == "max" and not conv.epilogue
    assert [type(op.layer).__name__ for op in conv.pool.epilogue] == ["Sigmoid", "Relu", "LRN"]
    assert pool.layer.mode == "avg"
    assert [type(op.layer).__name__ for op in pool.epilogue] == ["Relu"]
    assert type(affine.layer).__name__ == "Affine"
    x, _ = batch(net, N=9)
    assert_scores(LayerPlan(net).predict(x), net.predict(x), np.float32)


@pytest.mark.parametrize("name", ["lenet", "alexnet"])
def test_nan_and_inf_go_through_as_in_the_layers(name):
    net = build_net(name, seed=5, dtype=np.float64, **SMALL.get(name, {}))
    x, _ = batch(net, N=4, seed=5)
    x[0, 0, 3, 3] = np.nan
    x[1, 0, 10, 10] = np.inf
    x[2, 0, 5, 5] = -np.inf
    with np.errstate(all="ignore"):
        want = net.predict(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(invalid="ignore"):
            got = LayerPlan(net, threads=1).predict(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[~ok & ~np.isnan(want)], want[~ok & ~np.isnan(want)])


def test_a_sigmoid_after_a_conv_or_affine_layer_takes_its_input_negated_with_the_same_bits():
    net = build_net("lenet", seed=10)
    inference = inference_for(net)
    negated = [any(op.negated for op in step.epilogue) for step in inference.steps]
    assert negated == [True, True, True, True, False]
    x, _ = batch(net, N=30, seed=10)
    x -= 0.5
    plain_steps = inference_for(net)
    for step in plain_steps.steps:                         # negating in the sigmoid instead
        for op in step.epilogue:
            op.negated = False
    got, want = (np.empty((30, 10), np.float32) for _ in range(2))
    inference.scores(x, got, {}, inference.weights())
    plain_steps.scores(x, want, {}, plain_steps.weights())
    np.testing.assert_array_equal(got, want)               # -(W x + b) is exact


def test_a_saturated_sigmoid_raises_no_overflow_warning():
    net = build_net("lenet", seed=6)
    x, _ = batch(net, N=3)
    x *= -1e4                                              # exp(-x) overflows in float32
    want = net.predict(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="warn", divide="warn", invalid="warn"):
            got = LayerPlan(net, threads=1).predict(x)
    assert_scores(got, want, np.float32)


def test_a_net_it_cannot_take_falls_back_to_the_twins():
    # LRN after an affine layer: the layers refuse the 2-D input; so does the plan, the same way
    net = Net((1, 6, 6), [("affine", dict(size=4)), ("lrn", dict(n=3)), ("affine", dict(size=3))],
              seed=0)
    plan = compile_net(net)
    assert inference_for(net) is None and plan.inference is None
    x, _ = batch(net, N=2)
    with pytest.raises(ValueError, match="4-D"):
        net.predict(x)
    with pytest.raises(ValueError, match="4-D"):
        plan.predict(x)


def test_the_fallback_still_gives_the_nets_numbers():
    net = build_net("deep", seed=7)
    plan = LayerPlan(net)
    plan.inference = None                                  # the training twins' evaluation
    x, t = batch(net, N=40, seed=7)
    np.testing.assert_allclose(plan.predict(x), net.predict(x), rtol=1e-5, atol=1e-5)
    assert plan.accuracy(x, t) == net.accuracy(x, t)
    assert type(net.layers["Pool1"]) is Pooling
