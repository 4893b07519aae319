"""bench/gemm_floor.py lists exactly the products bench/macs.py counts, and its tables say what its
numbers say. No timing is asserted (speed is measured by running the script, not here)."""
import json
import subprocess
import sys

import pytest

from convlab.nets import NETS, SimpleConvNet, build_net

from bench_modules import BENCH
from bench_modules import load as _load


@pytest.fixture(scope="module")
def gf():
    return _load("gemm_floor")


@pytest.mark.parametrize("name", list(NETS))
def test_products_count_the_multiply_adds_of_macs(gf, name):
    """Step (batch 100) and forward pass (10,000 images): the listed products' m*k*n add up
    to bench/macs.py's multiply-adds exactly."""
    macs = _load("macs")
    forward, step = macs.multiply_adds(build_net(name, seed=0), batch=100)
    net = build_net(name, seed=0)
    assert gf.multiply_adds(gf.products(net, 100)) == step
    assert gf.multiply_adds(gf.products(net, 10_000, train=False)) == forward * 100
    assert gf.multiply_adds(gf.products(net, 50)) * 2 == step         # halves: the split way


def test_products_of_the_chapter_net_by_hand(gf):
    """SimpleConvNet, 3 images: conv 30 filters of 1x5x5 on 24x24 positions, no dx (first layer);
    Affine 4320 -> 100 and 100 -> 10 with forward, dW and dx."""
    got = [(p["layer"], p["kind"], p["m"], p["k"], p["n"]) for p in gf.products(SimpleConvNet(), 3)]
    assert got == [("Conv1", "forward", 30, 25, 3 * 576), ("Conv1", "dW", 30, 3 * 576, 25),
                   ("Affine1", "forward", 3, 4320, 100), ("Affine1", "dW", 4320, 3, 100),
                   ("Affine1", "dx", 3, 100, 4320),
                   ("Affine2", "forward", 3, 100, 10), ("Affine2", "dW", 100, 3, 10),
                   ("Affine2", "dx", 3, 10, 100)]
    assert [p["kind"] for p in gf.products(SimpleConvNet(), 3, train=False)] == ["forward"] * 3


def _run(step_gemm, eval_gemm, torch_step, torch_eval):
    """A net's results in one run: each time on the wall clock, and twice that in CPU time."""
    times = {"step_gemm": step_gemm, "eval_gemm": eval_gemm, "torch_step": torch_step,
             "torch_eval": torch_eval}
    return {"step_multiply_adds": 10**9, "eval_multiply_adds": 10**11,
            **{k: {"wall": v, "cpu": 2 * v} for k, v in times.items()}}


def test_summary_medians_targets_and_verdicts(gf):
    runs = [{"1": {"nets": {"simple": _run(s, 1.0, 0.010, 4.0), "deep": _run(s, e, 0.010, 4.0)}}}
            for s, e in ((0.004, 1.5), (0.006, 2.5), (0.008, 2.0))]
    out = gf.summarize(runs)["1"]
    deep, simple = out["deep"], out["simple"]
    assert deep["step_gemm"] == 0.006 and deep["eval_gemm"] == 2.0              # medians
    assert deep["spread"]["step_gemm"] == pytest.approx(0.004 / 0.006)
    assert deep["step_target"]["seconds"] == pytest.approx(0.010)              # 1.0x PyTorch
    assert not deep["step_target"]["gemm_exceeds"]
    assert deep["eval_target"]["seconds"] == pytest.approx(2.0)                # 0.5x PyTorch
    assert not deep["eval_target"]["gemm_exceeds"]                             # 2.0 is not > 2.0
    assert simple["step_target"]["seconds"] == pytest.approx(0.005)            # 0.5x for simple
    assert simple["step_target"]["gemm_exceeds"] and simple["step_target"]["gemm/target"] == pytest.approx(1.2)
    assert deep["step_gemm_gflops"] == pytest.approx(2e9 / 0.006 / 1e9)
    assert gf.summarize(runs, "cpu")["1"]["deep"]["step_gemm"] == 0.012
    table = gf.markdown(gf.summarize(runs), 3)
    assert "| deep | 6.00 ms | 10.0 ms | 10.0 ms (1x) | no, 0.60x |" in table
    assert "| simple | 6.00 ms | 10.0 ms | 5.00 ms (0.5x) | **yes**, 1.20x |" in table


def test_one_process_smoke(gf, tmp_path):
    """The per-thread-count process end to end on a small net: every way timed, JSON written."""
    out = tmp_path / "floor.json"
    subprocess.run([sys.executable, str(BENCH / "gemm_floor.py"), "--nets", "lenet", "--threads", "2",
                    "--repeats", "1", "--no-torch", "--json", str(out)], check=True,
                   capture_output=True, text=True, cwd=BENCH.parent)
    res = json.loads(out.read_text())
    r = res["nets"]["lenet"]
    ways = set(r["eval_gemm_ways"])
    own = gf.eval_per_thread(build_net("lenet", seed=0))       # the plan's chunk per thread
    assert ways >= {f"one call, {2 * own} per pass", "one call, 1000 per pass"}
    if res["split_threads"] == 2:                    # thread-local BLAS control here
        assert set(r["step_gemm_ways"]) == {"one call", "split"}
        assert ways == {f"one call, {2 * own} per pass", f"split, {own} per thread",
                        "one call, 100 per pass", "split, 50 per thread",
                        "one call, 1000 per pass", "split, 500 per thread"}
    for clock in ("wall", "cpu"):
        assert r["step_gemm"][clock] == min(w[clock] for w in r["step_gemm_ways"].values()) > 0
        assert r["eval_gemm"][clock] == min(w[clock] for w in r["eval_gemm_ways"].values()) > 0
    assert sum(p["m"] * p["k"] * p["n"] for p in r["products"]) == r["step_multiply_adds"]


def test_reference_run_sets_its_own_targets(gf, tmp_path):
    """--reference: the same GEMM medians against another run's PyTorch times (bench/run.py's
    --nets JSON), in the results and in the table printed from a results file."""
    runs = [{"2": {"nets": {"deep": _run(0.030, 1.0, 0.100, 8.0)}}}]
    ref = tmp_path / "nets.json"
    ref.write_text(json.dumps({"per_thread": {"2": {"nets": {"deep": {
        "step": {"torch": {"wall": 0.020}}, "eval": {"torch": {"wall": 1.5}}}}}}}))
    res = {"runs": runs}
    gf.combine(res, ref)
    deep = res["median"]["wall"]["2"]["deep"]
    assert not deep["step_target"]["gemm_exceeds"]                     # 30 ms < this run's 100
    assert deep["reference"]["step_target"]["gemm_exceeds"]            # 30 ms > the reference's 20
    assert deep["reference"]["step_target"]["gemm/target"] == pytest.approx(1.5)
    assert deep["reference"]["eval_target"]["seconds"] == pytest.approx(0.75)
    assert "reference" not in res["median"]["cpu"]["2"]["deep"]        # wall clock only
    saved = tmp_path / "floor.json"
    saved.write_text(json.dumps(res))
    printed = subprocess.run([sys.executable, str(BENCH / "gemm_floor.py"), "--markdown", str(saved)],
                             check=True, capture_output=True, text=True, cwd=BENCH.parent).stdout
    assert f"PyTorch: {ref}'s" in printed
    assert "| deep | 30.0 ms | 20.0 ms | 20.0 ms (1x) | **yes**, 1.50x | 1.00 s | 1.50 s | 750.0 ms | **yes**, 1.33x |" in printed
