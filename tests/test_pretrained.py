"""Shipped weights (convlab/weights): every file small, loadable without pickle, float32, with a
consistent history; on the 10,000 MNIST test images each scores what its history says, and the
SimpleConvNet at least 0.989 (the chapter's 0.9868, beaten).

MNIST tests skip when the data is absent, unless CONVLAB_REQUIRE_MNIST=1 (then they fail)."""
import os
from pathlib import Path

import numpy as np
import pytest

from convlab.data import FILES, load_mnist
from convlab.nets import NETS
from convlab.pretrained import WEIGHTS_DIR, available, load_history, load_pretrained, weights_path

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


def test_every_registered_net_is_shipped():
    assert list(NETS) == EXPECTED                     # the registry's names are the CLI's
    assert available() == EXPECTED


def test_every_weights_file_is_small_and_named_after_the_registry():
    files = sorted(os.listdir(WEIGHTS_DIR))
    for f in files:
        assert os.path.getsize(os.path.join(WEIGHTS_DIR, f)) < 2 * 1024 * 1024, f
    history_only = ["simple-chapter_history.json"]    # lesson 6's plain-recipe run: no weights
    assert files == sorted([n + s for n in NETS for s in (".npz", "_history.json", "_accuracy.png")]
                           + history_only)


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
def test_scores_what_its_history_says(name, mnist_test):
    x, t = mnist_test
    acc = load_pretrained(name).accuracy(x, t, batch_size=500)
    # the same float32 arithmetic up to summation order: at most a few images may flip
    assert acc == pytest.approx(load_history(name)["test_acc"][-1], abs=5e-4)


def test_simple_beats_the_chapter(mnist_test):
    x, t = mnist_test
    assert len(t) == 10000
    assert load_pretrained("simple").accuracy(x, t, batch_size=500) >= 0.989


@pytest.mark.skipif("deep" not in SHIPPED, reason="deep net not shipped")
def test_deep_net_is_the_best(mnist_test):
    x, t = mnist_test
    deep = load_pretrained("deep").accuracy(x, t, batch_size=500)
    simple = load_pretrained("simple").accuracy(x, t, batch_size=500)
    assert deep > simple
