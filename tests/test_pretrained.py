"""Shipped weights (convlab/weights): every file small, loadable without pickle, float32, with a
consistent history; on the 10,000 MNIST test images each scores what its history says, and the
SimpleConvNet at least 0.989 (the chapter's 0.9868, beaten). Fashion-MNIST's (weights/fashion-mnist/)
likewise, its SimpleConvNet at least 0.90; names, datasets and recipes come from the registries.

Tests that need data skip when it is absent, unless CONVLAB_REQUIRE_MNIST=1 (then they fail)."""
import os
from pathlib import Path

import numpy as np
import pytest

from convlab.data import DATASETS, FILES, available as data_available, load_dataset, load_mnist
from convlab.fast import compile_net
from convlab.nets import NETS, params_digest
from convlab.npz import read_npz
from convlab.pretrained import (RECIPES, WEIGHTS_DIR, available, load_history, load_pretrained,
                                shipped, weights_path)

REPO = Path(__file__).resolve().parents[1]
EXPECTED = ["simple", "lenet", "lenet-modern", "alexnet", "deep"]
SHIPPED = [n for n in EXPECTED if n in available()]


@pytest.fixture(scope="module")
def mnist_test():
    env = os.environ.get("CONVLAB_MNIST_DIR", "").strip()
    d = Path(env) if env else REPO.parent / "shared" / "data" / "mnist"
    if all((d / f"{n}.gz").is_file() or (d / n).is_file() for n in FILES):
        return load_mnist(flatten=False, data_dir=d, download=False)[1]
    message = f"MNIST not found in {d} (set CONVLAB_MNIST_DIR)"
    if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
        pytest.fail(message + " and CONVLAB_REQUIRE_MNIST=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def fashion_test():
    if data_available("fashion-mnist"):
        return load_dataset("fashion-mnist", flatten=False, download=False)[1]
    message = ("Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or "
               "python -m convlab.data fashion-mnist)")
    if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
        pytest.fail(message + " and CONVLAB_REQUIRE_MNIST=1")
    pytest.skip(message)


FASHION = [(n, r) for n, d, r in shipped() if d == "fashion-mnist"]


def score(net, x, t):
    """The accuracy of ``net`` on (x, t) as training evaluates it: through its fast plan
    (``convlab.fast.compile_net``: the layers' numbers to float rounding, faster; the fused
    plan is checked against the layers below), else through the layers."""
    return (compile_net(net, warn=False) or net).accuracy(x, t, batch_size=100)
FASHION_EXPECTED = [("simple", None), ("simple", "chapter"), ("deep", None)]


def test_every_registered_net_is_shipped():
    assert list(NETS) == EXPECTED                     # the registry's names are the CLI's
    assert available() == EXPECTED


def test_fashion_mnist_nets_are_shipped():
    assert FASHION == FASHION_EXPECTED
    assert available("fashion-mnist") == ["simple", "deep"]
    assert available("fashion-mnist", recipe="chapter") == ["simple"]


def _every_file():
    for root, _, files in os.walk(WEIGHTS_DIR):
        for f in files:
            yield os.path.relpath(os.path.join(root, f), WEIGHTS_DIR)


def test_every_weights_file_is_small_and_named_after_the_registries():
    named = {os.path.relpath(weights_path(n, k, d, r), WEIGHTS_DIR)
             for k in ("params", "history", "curve") for n, d, r in shipped(k)}
    for f in _every_file():
        assert os.path.getsize(os.path.join(WEIGHTS_DIR, f)) < 2 * 1024 * 1024, f
        assert f in named, f"{f} is not named after a net, dataset and recipe"
    for n, d, r in shipped():                          # params ship with their history and curve
        assert os.path.isfile(weights_path(n, "history", d, r))
        assert os.path.isfile(weights_path(n, "curve", d, r))
    for entry in os.listdir(WEIGHTS_DIR):              # files, and a folder per other dataset
        assert os.path.isfile(os.path.join(WEIGHTS_DIR, entry)) or entry in set(DATASETS) - {"mnist"}


def test_file_names_follow_dataset_and_recipe():
    assert weights_path("simple") == os.path.join(WEIGHTS_DIR, "simple.npz")
    if ("simple", "fashion-mnist", "chapter") in shipped():
        assert weights_path("simple", "history", "fashion-mnist", "chapter") == os.path.join(
            WEIGHTS_DIR, "fashion-mnist", "simple-chapter_history.json")
    with pytest.raises(ValueError, match="dataset must be one of") as e:
        load_pretrained("simple", dataset="cifar10")
    assert "'cifar10'" in str(e.value)
    with pytest.raises(ValueError, match="recipe must be None") as e:
        load_history("simple", recipe="fast")
    assert "'fast'" in str(e.value) and "chapter" in str(e.value)
    with pytest.raises(ValueError, match="shipped") as e:
        load_pretrained("lenet", dataset="fashion-mnist")
    assert "'lenet'" in str(e.value) and "simple" in str(e.value)
    assert RECIPES == ("chapter",)


@pytest.mark.skipif(("simple", "mnist", "chapter") not in shipped("history"),
                    reason="MNIST's chapter-recipe history not shipped")
def test_the_mnist_chapter_history_is_found():
    h = load_history("simple", recipe="chapter")
    assert h["config"]["shift"] == 0 and h["config"]["lr_decay"] == 1.0
    assert h["command"].startswith("python -m convlab train --net simple ")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="lenet-modern") as e:
        load_pretrained("resnet")
    assert "'resnet'" in str(e.value)
    with pytest.raises(ValueError, match="kind"):
        weights_path("simple", "weights")


@pytest.mark.parametrize("name", SHIPPED)
def test_loads_float32_with_consistent_history(name):
    net = load_pretrained(name)
    assert type(net) is NETS[name][0] and net.config["net"] == name
    assert all(p.dtype == np.float32 and np.all(np.isfinite(p)) for p in net.params.values())
    with np.load(weights_path(name), allow_pickle=False) as z:
        assert all(z[k].dtype == np.float32 for k in z.files if k != "__config__")
    h = load_history(name)
    epochs = len(h["test_acc"])
    assert epochs >= 1 and len(h["train_acc"]) == len(h["epoch_seconds"]) == epochs
    assert len(h["loss"]) == epochs * h["config"]["steps_per_epoch"]
    assert h["config"]["train_size"] == 60000 and h["config"]["test_size"] == 10000
    assert h["command"].startswith(f"python -m convlab train --net {name} ")
    assert os.path.isfile(weights_path(name, "curve"))


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.slow
def test_scores_what_its_history_says(name, mnist_test):
    x, t = mnist_test
    acc = score(load_pretrained(name), x, t)
    # the same float32 arithmetic up to summation order: at most a few images may flip
    assert acc == pytest.approx(load_history(name)["test_acc"][-1], abs=5e-4)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n == "simple"])
@pytest.mark.slow
def test_the_fused_step_scores_the_shipped_weights_like_the_layers(name, mnist_test):
    from convlab.fast import fused_for
    x, t = mnist_test
    net = load_pretrained(name)
    fused = fused_for(net)                  # what Trainer.evaluate uses for this net
    assert fused is not None
    assert fused.accuracy(x, t) == net.accuracy(x, t, batch_size=500)
    assert fused.accuracy(x, t) == pytest.approx(load_history(name)["test_acc"][-1], abs=5e-4)


@pytest.mark.slow
def test_simple_beats_the_chapter(mnist_test):
    x, t = mnist_test
    assert len(t) == 10000
    assert score(load_pretrained("simple"), x, t) >= 0.989


@pytest.mark.parametrize("name, recipe", FASHION)
def test_fashion_loads_float32_with_consistent_history(name, recipe):
    net = load_pretrained(name, "fashion-mnist", recipe)
    assert type(net) is NETS[name][0] and net.dataset == "fashion-mnist"
    assert all(p.dtype == np.float32 and np.all(np.isfinite(p)) for p in net.params.values())
    arrays = read_npz(weights_path(name, "params", "fashion-mnist", recipe))
    assert str(arrays.pop("__dataset__")) == "fashion-mnist"
    assert all(a.dtype == np.float32 for k, a in arrays.items() if k != "__config__")
    h = load_history(name, "fashion-mnist", recipe)
    epochs = len(h["test_acc"])
    assert h["dataset"] == "fashion-mnist" and h["cli_args"]["dataset"] == "fashion-mnist"
    assert epochs >= 1 and len(h["train_acc"]) == len(h["epoch_seconds"]) == epochs
    assert len(h["loss"]) == epochs * h["config"]["steps_per_epoch"]
    assert h["config"]["train_size"] == 60000 and h["config"]["test_size"] == 10000
    assert h["command"].startswith(f"python -m convlab train --dataset fashion-mnist --net {name} ")
    # the params are those of the history's last epoch
    assert params_sha(net) == h["params_sha256"][-1]
    chapter = recipe == "chapter"
    assert (h["config"]["shift"] == 0 and h["config"]["lr_decay"] == 1.0) == chapter


def params_sha(net):
    return params_digest(net.params)


@pytest.mark.parametrize("name, recipe", FASHION)
@pytest.mark.slow
def test_fashion_scores_what_its_history_says(name, recipe, fashion_test):
    x, t = fashion_test
    acc = score(load_pretrained(name, "fashion-mnist", recipe), x, t)
    assert acc == pytest.approx(load_history(name, "fashion-mnist", recipe)["test_acc"][-1], abs=5e-4)


@pytest.mark.slow
def test_fashion_simple_reaches_090(fashion_test):
    x, t = fashion_test
    assert len(t) == 10000
    assert score(load_pretrained("simple", "fashion-mnist"), x, t) >= 0.90


def test_fashion_is_harder_than_mnist():
    for name, recipe in FASHION:
        if (name, "mnist", recipe) in shipped("history"):
            mnist = load_history(name, recipe=recipe)["test_acc"][-1]
            assert load_history(name, "fashion-mnist", recipe)["test_acc"][-1] < mnist - 0.03


@pytest.mark.skipif("deep" not in SHIPPED, reason="deep net not shipped")
@pytest.mark.slow
def test_deep_net_is_the_best(mnist_test):
    x, t = mnist_test
    deep = score(load_pretrained("deep"), x, t)
    simple = score(load_pretrained("simple"), x, t)
    assert deep > simple
