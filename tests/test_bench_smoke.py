"""The benchmark's baseline is a real baseline, and convlab's speed tricks never change results.

Speed itself is not tested here (no timed unit tests): ``python bench/run.py`` measures it.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from convlab.layers import Convolution, Pooling, Relu
from convlab.nets import NETS, SimpleConvNet
from convlab.optim import Adam
from convlab.fast.plan import LayerPlan
from convlab.fast.workspace import Workspace

from bench_modules import BENCH
from bench_modules import load as _load


def test_textbook_baseline_matches_convlab_gradients():
    """bench/textbook.py and convlab compute the same gradients (float64, same weights, ties in
    max pooling included: after ReLU whole windows are 0)."""
    textbook = _load("textbook")
    rng = np.random.default_rng(3)
    x, t = rng.random((6, 1, 28, 28)), rng.integers(0, 10, 6)
    cnet = SimpleConvNet(seed=3, dtype=np.float64, weight_init_std=0.1)
    tnet = textbook.SimpleConvNet(params=cnet.params)
    cg, tg = cnet.gradient(x, t), tnet.gradient(x, t)
    assert set(cg) == set(tg) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for k in cg:
        np.testing.assert_allclose(cg[k], tg[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # the textbook adds 1e-7 inside the log; convlab's log-softmax is exact
    assert abs(cnet.loss(x, t) - tnet.loss(x, t)) < 1e-5


def test_textbook_adam_matches_convlab_adam():
    textbook = _load("textbook")
    rng = np.random.default_rng(4)
    p1 = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    p2 = {k: v.copy() for k, v in p1.items()}
    o1, o2 = Adam(lr=0.01), textbook.Adam(lr=0.01)
    for _ in range(3):
        g = {k: rng.standard_normal(v.shape) for k, v in p1.items()}
        o1.update(p1, g)
        o2.update(p2, g)
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-12, atol=1e-15)


def test_bench_agreement_check_and_epoch_runner():
    """The benchmark's own gate (run before it times anything) passes, and its epoch loop visits
    every full batch exactly once."""
    run = _load("run")
    worst, loss_diff = run.check_agreement(n=4)
    assert worst < 1e-9 and loss_diff < 1e-5
    seen = []
    x, t = np.arange(250, dtype=np.float32)[:, None], np.arange(250)
    run.epoch_runner(lambda xb, tb: seen.append(tb.copy()), lambda a: a, x, t, seed=0)()
    seen = np.concatenate(seen)
    assert len(seen) == 200 and len(set(seen.tolist())) == 200     # 2 full batches, no repeats


@pytest.mark.parametrize("make, shape", [
    (lambda: Relu(), (2, 3, 5, 5)),
    (lambda: Pooling(2, 2), (2, 3, 6, 6)),
    (lambda: Convolution(np.ones((2, 3, 3, 3)), np.zeros(2), pad=1), (2, 3, 5, 5)),
])
def test_results_a_caller_holds_are_never_overwritten(make, shape):
    """Without a workspace (convlab/fast/workspace.py) layers never reuse an array: an output or
    input gradient kept by the caller survives later calls unchanged."""
    layer = make()
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    y1 = layer.forward(x1)
    y1_copy = y1.copy()
    d1 = rng.standard_normal(y1.shape)
    g1 = layer.backward(d1)
    g1_copy = g1.copy()
    view = layer.forward(x2)[0]              # only a view of the second result is kept
    view_copy = view.copy()
    layer.backward(rng.standard_normal(y1.shape))
    layer.forward(x2)
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(g1, g1_copy)
    np.testing.assert_array_equal(view, view_copy)
    assert not np.shares_memory(layer.forward(x2), y1)


def test_repeated_training_steps_are_reproducible():
    """Buffer reuse leaves no state behind: two nets trained alike stay bit-identical, and a
    net's loss on fixed data does not depend on what it computed just before."""
    rng = np.random.default_rng(6)
    x, t = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    nets = [SimpleConvNet(seed=6), SimpleConvNet(seed=6)]
    opts = [Adam(), Adam()]
    plans = [LayerPlan(net) for net in nets]      # reused arrays, as in Trainer
    for step in range(3):
        for plan, opt in zip(plans, opts):
            plan.step(x, t, opt)
        nets[1].predict(rng.random((5, 1, 28, 28), dtype=np.float32))   # extra work on net 2
    for k in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[k], nets[1].params[k])


def test_profile_step_times_every_part_of_every_implementation():
    """What bench/profile_step.py times, checked on its timings themselves (not on its printout,
    which leaves out parts under 0.5 % of a step: how many those are depends on the load)."""
    profile_step = _load("profile_step")
    textbook = _load("textbook")
    rng = np.random.default_rng(8)
    x, t = rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 4)
    net = SimpleConvNet(seed=0)
    layers = ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    expected = {f"{n} {d}" for n in layers for d in ("forward", "backward")} | {
        "loss forward", "loss backward", "Adam update"}
    assert list(net.layers) == layers
    tnet = textbook.SimpleConvNet(params={k: v.copy() for k, v in net.params.items()})
    for times in (profile_step.profile(net, Adam(), x, t, steps=2, warmup=1, workspace=Workspace()),
                  profile_step.profile(tnet, textbook.Adam(), x, t, steps=2, warmup=1)):
        assert set(times) == expected
        assert all(len(v) == 2 and min(v) >= 0 for v in times.values())
    fused = profile_step.FusedSimpleConvNet(SimpleConvNet(seed=0), threads=1)
    times = profile_step.profile_fused(fused, Adam(), x, t, steps=2, warmup=1)
    assert set(times) == {"conv + pool forward (fused)", "ReLU, Affine1-2 forward (fused)",
                          "pool + conv backward (fused)", "loss, Affine backward (fused)",
                          "Adam update"}
    assert all(len(v) == 2 for v in times.values())


@pytest.mark.slow
def test_profile_step_runs_and_names_every_implementation(capsys):
    profile_step = _load("profile_step")
    profile_step.main(["--steps", "2"])
    out = capsys.readouterr().out
    assert "convlab fused step as Trainer runs it" in out
    for impl in ("convlab (fused step, one thread):", "convlab (layer by layer):", "textbook:"):
        assert out.count(impl) == 1, impl
    assert out.count("ms per step") == 4


def test_bench_convlab_and_layers_trainers_agree():
    """Every implementation's evaluation counts the same correct answers (the benchmark refuses
    to time them otherwise), and both convlab trainers (fused step, layers) run."""
    run = _load("run")
    rng = np.random.default_rng(7)
    x, t = rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64)
    params = run.initial_params()
    accs = {impl: run.make_evaluator(impl, params, x, t)() for impl in ("convlab", "layers", "textbook")}
    assert len(set(accs.values())) == 1, accs
    for impl in ("convlab", "layers"):                       # both step without error
        step, conv = run.make_trainer(impl, params)
        for _ in range(2):
            step(conv(x), conv(t))


def test_multiply_adds_of_simpleconvnet_by_hand():
    """bench/macs.py on the chapter's net, counted by hand per image: conv 24*24 positions x 30
    filters x 25 weights = 432,000; Affine1 4320 x 100 = 432,000; Affine2 100 x 10 = 1,000. A
    step: the conv twice (no gradient for the images), the affine layers three times."""
    macs = _load("macs")
    forward, step = macs.multiply_adds(SimpleConvNet(), batch=100)
    assert forward == 100 * (432_000 + 432_000 + 1_000)
    assert step == 100 * (2 * 432_000 + 3 * (432_000 + 1_000))
    assert macs.floor_ms(step, gflops=200) == pytest.approx(2.163)


TINY = ["--nets", "all", "--quick", "--batch", "8", "--eval-images", "40", "--data", "synthetic"]


@pytest.mark.slow
def test_per_net_mode_runs_every_registry_net(tmp_path, capsys, monkeypatch):
    """``bench/run.py --nets all --quick`` end to end on tiny sizes, in this process (one thread
    count), the chapter run included: a row for every registry net in the table and the JSON (no
    timing is asserted). Without torch the PyTorch columns are blank ('-')."""
    run = _load("run")
    monkeypatch.setenv("CONVLAB_THREADS", "1")      # main sets it; restored after the test
    path = tmp_path / "nets.json"
    out = run.main(TINY + ["--threads", "1", "--chapter-epochs", "1", "--chapter-images", "120",
                           "--json", str(path)])
    text = capsys.readouterr().out
    res = out["per_thread"]["1"]
    assert list(res["nets"]) == list(NETS)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    for name in NETS:
        assert sum(line.startswith(f"| {name} |") for line in table) == 1, name
    for r in res["nets"].values():
        assert r["step"]["convlab"]["wall"] > 0 and r["eval"]["convlab"]["wall"] > 0
        assert r["floor"] > 0 and r["step_multiply_adds"] > 0
        assert ("torch" in r["step"]) == (run.torch is not None)
    assert res["chapter"]["estimated"] and len(res["chapter"]["epoch_seconds"]) == 1
    assert "SimpleConvNet chapter run, 20 epochs" in text
    assert json.loads(path.read_text())["per_thread"]["1"]["nets"].keys() == set(NETS)
    run.main(["--markdown", str(path)])                              # the table again, from JSON
    assert capsys.readouterr().out.count("| deep |") == 1


@pytest.mark.slow
def test_per_net_mode_runs_each_thread_count_in_its_own_process(tmp_path):
    """Without --threads, one fresh process per thread count (OpenBLAS fixes its threads when
    NumPy loads), their results gathered in one JSON."""
    path = tmp_path / "both.json"
    subprocess.run([sys.executable, str(BENCH / "run.py"), *TINY[:1], "simple", *TINY[2:],
                    "--thread-counts", "1,2", "--json", str(path)], check=True,
                   capture_output=True, text=True, timeout=600)
    per = json.loads(path.read_text())["per_thread"]
    assert list(per) == ["1", "2"]
    assert [r["threads"] for r in per.values()] == [1, 2]
    assert all(list(r["nets"]) == ["simple"] and "chapter" not in r for r in per.values())


def test_per_net_mode_refuses_an_unknown_net():
    run = _load("run")
    with pytest.raises(SystemExit, match="unknown net"):
        run.main(["--nets", "simple,resnet", "--threads", "1"])


def test_floor_rate_per_thread_count():
    """The floor's GEMM rate is the two cores' shared out: one thread gets half, more threads
    than cores get no more; measure_gflops returns a positive rate (its size is not asserted)."""
    macs = _load("macs")
    assert macs.gflops_for(2) == macs.GEMM_GFLOPS
    assert macs.gflops_for(1) == macs.GEMM_GFLOPS / 2
    assert macs.gflops_for(8) == macs.GEMM_GFLOPS
    assert macs.floor_ms(100 * 10**9, gflops=macs.gflops_for(1)) == pytest.approx(2000.0)
    assert macs.measure_gflops(n=64, repeats=2) > 0
