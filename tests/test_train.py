"""Trainer: shuffled epochs without replacement, fixed evaluation subset, history, bit-for-bit
reproducibility, callback, checkpoints, Ctrl-C, time limit, bad arguments; plot_history.

Synthetic 8x8 images (class = which quadrant is bright, plus noise) keep these fast and free of
MNIST; the real data is exercised in test_cli.py and test_pretrained.py."""
import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import convlab.train as train_mod  # noqa: E402
from convlab.nets import Net, load_net  # noqa: E402
from convlab.lessons.draw import plot_history  # noqa: E402
from convlab.train import Trainer, load_history  # noqa: E402

SPEC = [("conv", {"filter_num": 4, "filter_size": 3, "pad": 1}), ("relu", {}), ("pool", {"size": 2}),
        ("affine", {"size": 16}), ("relu", {}), ("dropout", {"ratio": 0.2}), ("affine", {"size": 4})]


def quadrant_data(n, seed):
    """n images (n, 1, 8, 8): class k has its k-th 4x4 quadrant bright."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    x = 0.3 * rng.random((n, 1, 8, 8)).astype(np.float32)
    for i, k in enumerate(t):
        r, c = divmod(int(k), 2)
        x[i, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 0.7
    return x, t


X_TRAIN, T_TRAIN = quadrant_data(203, 1)
X_TEST, T_TEST = quadrant_data(57, 2)


def make_net(seed=0):
    return Net((1, 8, 8), SPEC, weight_init_std="he", seed=seed)


def make_trainer(net=None, **kw):
    kw.setdefault("epochs", 3)
    kw.setdefault("mini_batch_size", 20)
    kw.setdefault("train_eval_size", 50)
    kw.setdefault("verbose", False)
    kw.setdefault("optimizer_param", {"lr": 0.01})
    return Trainer(net if net is not None else make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST, **kw)


class RecordingTrainer(Trainer):
    """Records which training images each step saw (pixel sums identify the images)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.seen = []

    def train_step(self, x_batch, t_batch):
        self.seen.append(x_batch.copy())
        return super().train_step(x_batch, t_batch)


# --------------------------------------------------------------------------------- epochs --

def test_every_epoch_is_a_fresh_permutation_with_a_smaller_last_batch():
    net = make_net()
    tr = RecordingTrainer(net, X_TRAIN, T_TRAIN, X_TEST, T_TEST, epochs=3, mini_batch_size=20,
                          train_eval_size=50, verbose=False)
    h = tr.train()
    steps = -(-203 // 20)                                   # 11: ten of 20 and one of 3
    assert tr.steps_per_epoch == steps and len(h["loss"]) == 3 * steps
    key = {X_TRAIN[i].tobytes(): i for i in range(len(X_TRAIN))}
    orders = []
    for e in range(3):
        batches = tr.seen[e * steps:(e + 1) * steps]
        assert [len(b) for b in batches] == [20] * 10 + [3]
        order = [key[img.tobytes()] for b in batches for img in b]
        assert sorted(order) == list(range(203))            # each image exactly once
        orders.append(order)
    assert orders[0] != orders[1] != orders[2]              # reshuffled every epoch


def test_fixed_train_eval_subset_from_the_seed():
    a, b, c = make_trainer(seed=5), make_trainer(seed=5), make_trainer(seed=6)
    assert np.array_equal(a.train_eval_idx, b.train_eval_idx)
    assert not np.array_equal(a.train_eval_idx, c.train_eval_idx)
    idx = a.train_eval_idx
    assert len(idx) == 50 and len(np.unique(idx)) == 50 and idx.min() >= 0 and idx.max() < 203
    assert make_trainer(train_eval_size=10**6).train_eval_size == 203   # clamped to the set


def test_evaluation_uses_full_test_set_and_the_subset():
    tr = make_trainer(epochs=2)
    h = tr.train()
    net = tr.network
    assert h["test_acc"][-1] == net.accuracy(X_TEST, T_TEST)
    idx = tr.train_eval_idx
    assert h["train_acc"][-1] == net.accuracy(X_TRAIN[idx], T_TRAIN[idx])


# -------------------------------------------------------------------------------- history --

def test_history_contents_and_learning():
    h = make_trainer(epochs=4).train()
    assert len(h["train_acc"]) == len(h["test_acc"]) == len(h["epoch_seconds"]) == 4
    assert all(s > 0 for s in h["epoch_seconds"])
    assert all(np.isfinite(h["loss"]))
    assert h["test_acc"][-1] > 0.9 and h["train_acc"][-1] > 0.9      # the task is easy
    assert np.mean(h["loss"][-5:]) < 0.5 * np.mean(h["loss"][:5])
    assert h["best_test_acc"] == max(h["test_acc"])
    assert h["test_acc"][h["best_epoch"] - 1] == h["best_test_acc"]
    assert h["config"]["mini_batch_size"] == 20 and h["config"]["optimizer"] == "adam"
    assert h["config"]["net"]["net"] is None and h["config"]["net"]["kwargs"]["spec"]
    assert not h["interrupted"] and not h["stopped_by_time_limit"]
    json.dumps(h)                                            # JSON-friendly as is


def test_loss_is_the_batch_loss():
    tr = make_trainer(epochs=1, mini_batch_size=203)         # one step on the whole set
    before = make_net()
    expected = float(before.loss(X_TRAIN, T_TRAIN, train_flg=False))
    tr.network.layers["Dropout1"].ratio = 0.0                # so the training loss is comparable
    h = tr.train()
    assert h["loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "adam"])
def test_same_seed_same_history_bit_for_bit(optimizer):
    kw = dict(epochs=2, seed=3, optimizer=optimizer)
    a = make_trainer(make_net(seed=1), **kw)
    b = make_trainer(make_net(seed=1), **kw)
    ha, hb = a.train(), b.train()
    for key in ("loss", "train_acc", "test_acc"):
        assert ha[key] == hb[key]
    for k in a.network.params:
        assert np.array_equal(a.network.params[k], b.network.params[k])
    c = make_trainer(make_net(seed=1), epochs=2, seed=4, optimizer=optimizer)
    assert c.train()["loss"] != ha["loss"]                    # the seed matters


def test_optimizer_object_and_params():
    from convlab.optim import SGD
    opt = SGD(lr=0.05)
    tr = make_trainer(optimizer=opt, epochs=1)
    assert tr.optimizer is opt and tr.history["config"]["optimizer"] == "SGD"
    assert make_trainer(optimizer="Momentum", optimizer_param={"lr": 0.02, "momentum": 0.5}).optimizer.momentum == 0.5


def test_lr_decay_per_epoch():
    seen = []

    class Spy(Trainer):
        def train_step(self, x, t):
            seen.append(self.optimizer.lr)
            return super().train_step(x, t)

    tr = Spy(make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST, epochs=3, mini_batch_size=100,
             verbose=False, optimizer_param={"lr": 0.01}, lr_decay=0.5)
    h = tr.train()
    assert h["lr"] == [0.01, 0.005, 0.0025] and h["config"]["lr_decay"] == 0.5
    assert seen == [0.01] * 3 + [0.005] * 3 + [0.0025] * 3
    assert make_trainer(epochs=2).train()["lr"] == [0.01, 0.01]      # constant by default
    with pytest.raises(ValueError, match="lr_decay"):
        make_trainer(lr_decay=1.5)


def test_random_shift_moves_each_image_within_bounds():
    rng = np.random.default_rng(0)
    x = np.zeros((50, 2, 9, 9), np.float32)
    x[:, :, 4, 4] = np.arange(1, 51)[:, None]                 # one marked pixel per image
    y = train_mod.random_shift(x, 2, rng)
    assert y.shape == x.shape and y.dtype == x.dtype
    offsets = set()
    for i in range(50):
        for ch in range(2):
            (r,), (c,) = np.nonzero(y[i, ch] == i + 1)       # still there, exactly once
            assert abs(r - 4) <= 2 and abs(c - 4) <= 2
            offsets.add((r - 4, c - 4))
        assert np.count_nonzero(y[i]) == 2                     # nothing else appears
    assert len(offsets) > 10                                    # offsets vary per image
    assert np.array_equal(train_mod.random_shift(x, 0, rng), x)
    edge = np.ones((1, 1, 5, 5), np.float32)
    assert train_mod.random_shift(edge, 2, np.random.default_rng(1)).sum() <= 25  # zeros fill in


def test_shift_augments_training_only_and_is_seeded():
    a = make_trainer(make_net(seed=1), epochs=2, shift=1, seed=2).train()
    b = make_trainer(make_net(seed=1), epochs=2, shift=1, seed=2).train()
    c = make_trainer(make_net(seed=1), epochs=2, shift=0, seed=2).train()
    assert a["loss"] == b["loss"] and a["loss"] != c["loss"] and a["config"]["shift"] == 1
    with pytest.raises(ValueError, match="shift"):
        make_trainer(shift=-1)


# ---------------------------------------------------------------- callback and checkpoints --

def test_callback_once_per_epoch_with_the_history():
    calls = []
    make_trainer(epochs=3, callback=lambda h: calls.append((len(h["train_acc"]), len(h["loss"])))).train()
    assert calls == [(1, 11), (2, 22), (3, 33)]


def test_checkpoints_last_best_and_history(tmp_path):
    snapshots = []
    tr = make_trainer(epochs=3, checkpoint_dir=tmp_path / "ck",
                      callback=lambda h: snapshots.append({k: p.copy() for k, p in tr.network.params.items()}))
    h = tr.train()
    last = load_net(tmp_path / "ck" / "last.npz")
    best = load_net(tmp_path / "ck" / "best.npz")
    for k, p in tr.network.params.items():
        assert np.array_equal(last.params[k], p)
        assert np.array_equal(best.params[k], snapshots[h["best_epoch"] - 1][k])
    assert best.accuracy(X_TEST, T_TEST) == h["best_test_acc"]
    assert load_history(tmp_path / "ck" / "history.json") == json.loads(json.dumps(h))


# ------------------------------------------------------------------ Ctrl-C and time limit --

def test_ctrl_c_from_callback_keeps_history_and_checkpoint(tmp_path):
    def cb(h):
        if len(h["train_acc"]) == 2:
            raise KeyboardInterrupt
    tr = make_trainer(epochs=5, callback=cb, checkpoint_dir=tmp_path)
    h = tr.train()                                            # returns, does not raise
    assert h["interrupted"] and len(h["test_acc"]) == 2 and len(h["loss"]) == 22
    saved = load_net(tmp_path / "last.npz")
    for k, p in tr.network.params.items():
        assert np.array_equal(saved.params[k], p)
    assert load_history(tmp_path / "history.json")["interrupted"] is True


class InterruptAt(Trainer):
    """Raises KeyboardInterrupt (as Ctrl-C would) before the given global step numbers."""

    def __init__(self, *a, at=(), **kw):
        super().__init__(*a, **kw)
        self.at, self.steps = set(at), 0

    def train_step(self, x, t):
        self.steps += 1
        if self.steps in self.at:
            raise KeyboardInterrupt
        return super().train_step(x, t)


def interrupt_trainer(at, **kw):
    kw.setdefault("epochs", 3)
    return InterruptAt(make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST, mini_batch_size=20,
                       train_eval_size=50, verbose=False, optimizer_param={"lr": 0.01}, at=at, **kw)


def test_ctrl_c_mid_epoch_goes_back_to_the_last_completed_epoch(tmp_path):
    after_epoch_1 = {}
    tr = interrupt_trainer(at=[16], checkpoint_dir=tmp_path,            # step 5 of epoch 2
                           callback=lambda h: after_epoch_1.update(
                               {k: p.copy() for k, p in tr.network.params.items()}))
    h = tr.train()
    assert h["interrupted"] and len(h["loss"]) == 11 and len(h["test_acc"]) == 1
    saved = load_net(tmp_path / "last.npz")
    for k in after_epoch_1:                                  # on disk and in memory: epoch 1
        assert np.array_equal(saved.params[k], after_epoch_1[k])
        assert np.array_equal(tr.network.params[k], after_epoch_1[k])
    assert load_history(tmp_path / "history.json") == json.loads(json.dumps(h))
    assert not list(tmp_path.glob("*.tmp"))


def test_ctrl_c_in_the_first_epoch_keeps_nothing(tmp_path):
    tr = interrupt_trainer(at=[3], epochs=2, checkpoint_dir=tmp_path / "new")
    first_w1 = tr.network.params["W1"].copy()
    h = tr.train()
    assert h["interrupted"] and h["loss"] == [] and h["test_acc"] == []
    assert np.array_equal(tr.network.params["W1"], first_w1)           # back to the start
    assert not (tmp_path / "new").exists() or not list((tmp_path / "new").iterdir())


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "adagrad", "sgd"])
def test_train_again_after_ctrl_c_is_bit_identical_to_no_interruption(optimizer):
    """Issue 13, item 7: train() again continues from the last complete epoch (not from the
    half-trained one), with the optimiser and random streams as they were, and resets
    ``interrupted``. Dropout (a random stream of its own), shift and lr_decay are all on."""
    kw = dict(epochs=4, optimizer=optimizer, shift=1, lr_decay=0.7)
    straight = interrupt_trainer(at=[], **kw)
    hs = straight.train()
    tr = interrupt_trainer(at=[1, 13, 14, 30, 44], **kw)                # twice in epoch 2 ...
    for _ in range(5):
        h = tr.train()
        assert h["interrupted"]
    h = tr.train()
    assert not h["interrupted"] and len(h["test_acc"]) == 4
    assert h["loss"] == hs["loss"] and h["test_acc"] == hs["test_acc"] and h["lr"] == hs["lr"]
    assert h["params_sha256"] == hs["params_sha256"]
    for k, p in straight.network.params.items():
        assert np.array_equal(tr.network.params[k], p), k


def test_resume_from_a_checkpoint_dir_is_bit_identical(tmp_path):
    """Two epochs, then a new Trainer with epochs=4 and resume(): the same as four straight."""
    kw = dict(optimizer="adam", shift=1, lr_decay=0.8, seed=5)
    straight = interrupt_trainer(at=[], epochs=4, **kw)
    hs = straight.train()
    interrupt_trainer(at=[], epochs=2, checkpoint_dir=tmp_path, **kw).train()
    net = make_net(seed=99)                                   # other weights: resume() loads them
    tr = InterruptAt(net, X_TRAIN, T_TRAIN, X_TEST, T_TEST, mini_batch_size=20, train_eval_size=50,
                     verbose=False, optimizer_param={"lr": 0.01}, epochs=4, checkpoint_dir=tmp_path, **kw)
    h = tr.resume().train()
    assert h["loss"] == hs["loss"] and h["test_acc"] == hs["test_acc"]
    assert h["params_sha256"] == hs["params_sha256"] and h["config"]["epochs"] == 4
    for k, p in straight.network.params.items():
        assert np.array_equal(net.params[k], p), k
    assert tr.optimizer.iter == straight.optimizer.iter == 4 * 11


def _resumable(tmp_path, **kw):
    interrupt_trainer(at=[], epochs=1, checkpoint_dir=tmp_path).train()
    kw.setdefault("epochs", 2)
    return interrupt_trainer(at=[], checkpoint_dir=tmp_path, **kw)


def test_resume_refuses_another_configuration(tmp_path):
    tr = _resumable(tmp_path, seed=1)
    with pytest.raises(ValueError, match=r"another configuration: seed is 0 there, 1 here"):
        tr.resume()
    tr = _resumable(tmp_path, optimizer="sgd")
    with pytest.raises(ValueError, match="optimizer is 'adam' there, 'sgd' here"):
        tr.resume()
    with pytest.raises(ValueError, match="no run to resume"):
        interrupt_trainer(at=[], checkpoint_dir=tmp_path / "empty").resume()
    with pytest.raises(ValueError, match="checkpoint_dir"):
        interrupt_trainer(at=[]).resume()


def test_resume_refuses_another_train_accuracy_subset(tmp_path):
    """train_eval_size picks the images of the train-accuracy curve: part of the configuration."""
    interrupt_trainer(at=[], epochs=1, checkpoint_dir=tmp_path).train()
    tr = InterruptAt(make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST, mini_batch_size=20,
                     train_eval_size=40, verbose=False, optimizer_param={"lr": 0.01}, at=[],
                     epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="train_eval_size is 50 there, 40 here"):
        tr.resume()
    assert {"net", "dtype", "mini_batch_size", "optimizer", "optimizer_param", "seed", "train_size",
            "test_size", "train_eval_size", "lr_decay", "shift"} <= set(tr.history["config"])


@pytest.mark.parametrize("damage", ["params of another epoch", "state of another epoch",
                                    "params of an earlier epoch", "state of an earlier epoch",
                                    "no last.npz", "no state.npz",
                                    "state missing an array", "garbage state"])
def test_resume_is_all_or_nothing(tmp_path, damage):
    import shutil
    interrupt_trainer(at=[], epochs=2, checkpoint_dir=tmp_path / "two").train()
    interrupt_trainer(at=[], epochs=1, checkpoint_dir=tmp_path).train()
    if damage == "params of another epoch":
        shutil.copy(tmp_path / "two" / "last.npz", tmp_path / "last.npz")
    elif damage == "state of another epoch":
        shutil.copy(tmp_path / "two" / "state.npz", tmp_path / "state.npz")
    elif damage.endswith("of an earlier epoch"):          # epoch 1's file in a run at epoch 2
        name = "last.npz" if damage.startswith("params") else "state.npz"
        shutil.copy(tmp_path / name, tmp_path / "one.npz")
        for f in ("last.npz", "state.npz", "history.json", "best.npz"):
            shutil.copy(tmp_path / "two" / f, tmp_path / f)
        shutil.copy(tmp_path / "one.npz", tmp_path / name)
    elif damage.startswith("no "):
        (tmp_path / damage[3:]).unlink()
    elif damage == "state missing an array":
        with np.load(tmp_path / "state.npz") as z:
            arrays = {k: z[k] for k in z.files if k != "optimizer/m/W1"}
        np.savez(tmp_path / "state.npz", **arrays)
    else:
        (tmp_path / "state.npz").write_bytes(b"PK\x03\x04 not really")
    tr = interrupt_trainer(at=[], epochs=3, checkpoint_dir=tmp_path)
    before = {k: p.copy() for k, p in tr.network.params.items()}
    with pytest.raises(ValueError, match="last.npz|state.npz"):
        tr.resume()
    for k, p in tr.network.params.items():
        assert np.array_equal(p, before[k])
    assert tr.history["test_acc"] == [] and tr.optimizer.iter == 0


# ------------------------------------------------------------------------------ divergence --

def test_divergence_stops_and_keeps_the_last_finite_epoch(tmp_path):
    """Issue 13, item 6: a learning rate so large that the loss overflows."""
    class Explode(Trainer):
        def train_step(self, x, t):
            if len(self.history["test_acc"]) == 2:            # epoch 3: lr becomes absurd
                self.optimizer.lr = 1e308
            return super().train_step(x, t)

    tr = Explode(make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST, epochs=4, mini_batch_size=20,
                 train_eval_size=50, verbose=False, optimizer="sgd", optimizer_param={"lr": 0.01},
                 checkpoint_dir=tmp_path)
    with pytest.raises(train_mod.TrainingDiverged, match=r"diverged in epoch 3, step \d+: .*"
                                                         r"end of epoch 2"):
        tr.train()
    h = load_history(tmp_path / "history.json")
    assert len(h["test_acc"]) == 2 and h["diverged"]["epoch"] == 3 and not h["interrupted"]
    assert all(np.isfinite(h["loss"])) and len(h["loss"]) == 22
    saved = load_net(tmp_path / "last.npz")                  # finite, and the epoch-2 params
    assert train_mod.params_digest(saved.params) == h["params_sha256"][-1]
    for k, p in tr.network.params.items():
        assert np.array_equal(p, saved.params[k])
    tr.optimizer.lr = 0.01                      # a learner lowers the rate and trains on
    tr.train_step = lambda x, t: Trainer.train_step(tr, x, t)
    h = tr.train()
    assert h["diverged"] is None and len(h["test_acc"]) == 4
    assert load_history(tmp_path / "history.json")["diverged"] is None


def test_the_time_limit_flag_says_whether_this_train_call_stopped_early():
    """max_seconds so small that any epoch exceeds it: stop after one epoch (no timing involved);
    train() again runs the last epoch, and a run that reached its last epoch was not stopped."""
    tr = make_trainer(epochs=2, max_seconds=1e-9)
    h = tr.train()
    assert h["stopped_by_time_limit"] is True and len(h["test_acc"]) == 1
    h = tr.train()
    assert h["stopped_by_time_limit"] is False and len(h["test_acc"]) == 2


def test_resume_refuses_a_history_whose_lists_disagree(tmp_path):
    interrupt_trainer(at=[], epochs=1, checkpoint_dir=tmp_path).train()
    h = load_history(tmp_path / "history.json")
    for key in ("test_acc", "epoch_seconds", "params_sha256"):
        broken = dict(h, **{key: h[key] + h[key]})               # two entries for one epoch
        (tmp_path / "history.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match="no complete epoch"):
            interrupt_trainer(at=[], epochs=2, checkpoint_dir=tmp_path).resume()


def test_divergence_in_the_first_epoch_with_a_huge_lr():
    with pytest.raises(train_mod.TrainingDiverged, match="epoch 1.*No epoch was completed"):
        make_trainer(optimizer_param={"lr": 1e308}).train()


@pytest.mark.parametrize("lr", [float("nan"), -1, 0, float("inf"), "0.1", True])
def test_bad_learning_rates_are_refused(lr):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        make_trainer(optimizer_param={"lr": lr})


def test_time_limit_stops_after_an_epoch(monkeypatch):
    clock = iter(np.arange(0.0, 1e6, 10.0))                   # every reading 10 s later
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: float(next(clock)))
    h = make_trainer(epochs=5, max_seconds=25).train()
    assert h["stopped_by_time_limit"] and len(h["train_acc"]) == 1
    clock2 = iter(np.arange(0.0, 1e6, 10.0))
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: float(next(clock2)))
    h = make_trainer(epochs=3, max_seconds=1e5).train()
    assert not h["stopped_by_time_limit"] and len(h["train_acc"]) == 3


def test_verbose_false_is_silent_and_verbose_reports(capsys):
    make_trainer(epochs=1).train()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    make_trainer(epochs=1, verbose=True).train()
    out = capsys.readouterr()
    assert "epoch   1/1" in out.out + out.err and "test acc" in out.out + out.err


# ---------------------------------------------------------------------------- bad input --

@pytest.mark.parametrize("kw, match", [
    ({"epochs": -1}, "epochs"), ({"epochs": 2.5}, "epochs"),
    ({"mini_batch_size": 0}, "mini_batch_size"), ({"train_eval_size": 0}, "train_eval_size"),
    ({"eval_batch_size": 0}, "eval_batch_size"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"optimizer": "adamw"}, "optimizer"), ({"max_seconds": 0}, "max_seconds"),
])
def test_bad_arguments_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        make_trainer(**kw)


def test_bad_types_and_data():
    with pytest.raises(TypeError, match="callback"):
        make_trainer(callback=3)
    with pytest.raises(TypeError, match="optimizer"):
        make_trainer(optimizer=3)
    with pytest.raises(ValueError, match="t_train"):
        Trainer(make_net(), X_TRAIN, T_TRAIN[:-1], X_TEST, T_TEST)
    with pytest.raises(ValueError, match="t_test"):
        Trainer(make_net(), X_TRAIN, T_TRAIN, X_TEST, T_TEST + 4)   # labels outside [0, 4)
    with pytest.raises(ValueError, match="x_train"):
        Trainer(make_net(), X_TRAIN[:0], T_TRAIN[:0], X_TEST, T_TEST)


# ---------------------------------------------------------------------------- the figure --

def test_plot_history_is_the_chapter_figure():
    import matplotlib.pyplot as plt
    h = {"train_acc": [0.9, 0.95, 0.97], "test_acc": [0.89, 0.93, 0.96]}
    ax = plot_history(h)
    train, test = ax.get_lines()[:2]
    assert train.get_marker() == "o" and test.get_marker() == "s"
    assert list(train.get_xdata()) == [1, 2, 3] and list(test.get_ydata()) == h["test_acc"]
    assert ax.get_ylim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    plt.close(ax.figure)


# ------------------------------------------------ a kill at any instant of a save (issue 20) --

def saves_killed_at_every_step(tmp_path, monkeypatch, epochs=2, **kw):
    """Train ``epochs`` epochs into tmp_path/"ck" and copy the folder just before every step of
    the last epoch's save: each copy is what a SIGKILL at that instant leaves."""
    import shutil
    import convlab.atomic as atomic
    shots = []
    tr = interrupt_trainer(at=[], epochs=epochs, checkpoint_dir=tmp_path / "ck", **kw)

    def hook(number, step):
        if len(tr.history["train_acc"]) == epochs:
            shots.append(tmp_path / f"shot{step:02d}")
            shutil.copytree(tmp_path / "ck", shots[-1])
    monkeypatch.setattr(atomic, "step_hook", hook)
    tr.train()
    monkeypatch.setattr(atomic, "step_hook", None)
    return tr, shots


def test_a_kill_at_any_step_of_an_epochs_save_resumes_bit_identically(tmp_path, monkeypatch):
    kw = dict(optimizer="adam", shift=1, lr_decay=0.8, seed=5)
    straight = interrupt_trainer(at=[], epochs=3, **kw)
    hs = straight.train()
    _, shots = saves_killed_at_every_step(tmp_path, monkeypatch, **kw)
    files = 4 if hs["test_acc"][1] > hs["test_acc"][0] else 3   # last, [best,] state, history
    assert len(shots) == 2 * files + 4                # writes, journal, its rename, renames, removal, end
    kept = []
    for shot in shots:
        tr = interrupt_trainer(at=[], epochs=3, checkpoint_dir=shot, **kw)
        kept.append(len(tr.resume().history["test_acc"]))
        h = tr.train()
        assert h["params_sha256"] == hs["params_sha256"] and h["loss"] == hs["loss"], shot.name
        for k, p in straight.network.params.items():
            assert np.array_equal(tr.network.params[k], p), (shot.name, k)
        assert sorted(p.name for p in shot.iterdir()) == ["best.npz", "history.json", "last.npz", "state.npz"]
    # before the journal is in place the folder keeps epoch 1; from then on, epoch 2
    assert kept == [1] * (files + 2) + [2] * (files + 2), kept


def test_the_history_is_committed_last(tmp_path, monkeypatch):
    """Whoever reads a checkpoint folder without recovering it (another program, a person) never
    finds a history that describes params or state not written yet."""
    _, shots = saves_killed_at_every_step(tmp_path, monkeypatch)
    for shot in shots:
        h = load_history(shot / "history.json")
        E = len(h["test_acc"])
        assert train_mod.params_digest(load_net(shot / "last.npz").params) == h["params_sha256"][E - 1] \
            or E == 1, shot.name                      # epoch 1's history may precede epoch 2's files
        if E == 2:
            state = json.loads(str(np.load(shot / "state.npz")["__state__"]))
            assert state["epoch"] == 2, shot.name


@pytest.mark.parametrize("entry, value, words", [
    ("test_acc", "ab", "'test_acc' must be a list of numbers"),
    ("loss", [0.5, "x"], "'loss' must be a list of numbers"),
    ("params_sha256", [5], "'params_sha256' must be a list of strings"),
    ("best_epoch", "1", "'best_epoch' must be an integer"),
    ("config", [], "not a training history"),
])
def test_resume_refuses_a_hand_edited_history_in_one_error(tmp_path, entry, value, words):
    tr = _resumable(tmp_path)
    h = load_history(tmp_path / "history.json")
    h[entry] = value
    (tmp_path / "history.json").write_text(json.dumps(h))
    with pytest.raises(ValueError, match=words):
        tr.resume()


def test_resume_refuses_json_nested_too_deeply(tmp_path):
    tr = _resumable(tmp_path)
    (tmp_path / "history.json").write_text('{"config": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(ValueError, match="nested too deeply"):
        tr.resume()
    with pytest.raises(ValueError, match="nested too deeply"):
        load_history(tmp_path / "history.json")


def test_the_constructor_refuses_what_would_fail_after_an_epoch(tmp_path):
    with pytest.raises(ValueError, match=r"shift must be at most 4 .* got 1000000"):
        make_trainer(shift=10**6)
    make_trainer(shift=4)                                       # half the 8x8 image: fine
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir must be a folder.*which is a file"):
        make_trainer(checkpoint_dir=tmp_path / "file")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_refused_up_front_naming_them(bad):
    x = X_TRAIN.copy()
    x[7, 0, 3, 3] = bad
    x[150, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=r"x_train must hold finite pixel values; 2 image\(s\) hold "
                                         r"NaN or infinity, e.g. x_train\[7\] and x_train\[150\]"):
        Trainer(make_net(), x, T_TRAIN, X_TEST, T_TEST)
    with pytest.raises(ValueError, match=r"x_test .*x_test\[7\]"):
        Trainer(make_net(), X_TRAIN, T_TRAIN, x[:57], T_TEST)


def test_a_step_far_larger_than_the_weights_warns(recwarn):
    make_trainer(epochs=1).train()                              # lr 0.01: no word
    assert not [w for w in recwarn if "learning rate" in str(w.message)]
    with pytest.warns(RuntimeWarning, match=r"first step changed \w+ by .* times its own size; the "
                                            r"learning rate \(1000.0\) is probably far too large"):
        try:
            make_trainer(epochs=1, optimizer="sgd", optimizer_param={"lr": 1000.0}).train()
        except train_mod.TrainingDiverged:
            pass


# ------------------------------------------------------ the training loop's bookkeeping --

def test_dropout_is_active_in_the_trainers_steps():
    """One step on the whole set: its loss is the loss with dropout on (train mode), with the
    very masks the Dropout layer's stream draws, not the test-mode loss."""
    import copy
    tr = make_trainer(epochs=1, mini_batch_size=203)
    tr.network.layers["Dropout1"].ratio = 0.5
    twin = copy.deepcopy(tr.network)                 # same weights, same dropout stream
    order = np.random.default_rng(np.random.SeedSequence(0).spawn(3)[1]).permutation(203)
    train_mode = float(twin.loss(X_TRAIN[order], T_TRAIN[order], train_flg=True))
    test_mode = float(twin.loss(X_TRAIN[order], T_TRAIN[order], train_flg=False))
    h = tr.train()
    assert h["loss"][0] == pytest.approx(train_mode, rel=1e-6)
    assert abs(train_mode - test_mode) > 1e-3       # so the two cannot be confused


def test_training_accuracy_is_measured_on_the_fixed_random_subset():
    """Labels that only the subset's images carry correctly: its accuracy is 1.0, any other
    choice of images (the first ones, a fresh sample) scores less."""
    tr = make_trainer(epochs=1)
    idx = tr.train_eval_idx
    assert not np.array_equal(idx, np.arange(len(idx)))     # a random subset, not the first images
    pred = tr.network.predict(X_TRAIN).argmax(axis=1)
    t = (pred + 1) % 4                                       # wrong everywhere ...
    t[idx] = pred[idx]                                       # ... except on the subset
    tr.t_train = t
    train_acc, test_acc = tr.evaluate()
    assert train_acc == 1.0
    assert test_acc == tr.network.accuracy(X_TEST, T_TEST)


def test_per_epoch_bookkeeping(tmp_path):
    """params_sha256 is each epoch's end, best_epoch the first of equal best accuracies, and
    best.npz is written only by a better epoch."""
    ends = []
    tr = make_trainer(epochs=3, checkpoint_dir=tmp_path,
                      callback=lambda h: ends.append(train_mod.params_digest(tr.network.params)))
    real = tr.evaluate
    tr.evaluate = lambda: (real()[0], 0.5)                   # every epoch ties
    h = tr.train()
    assert h["params_sha256"] == ends and len(set(ends)) == 3
    assert h["best_epoch"] == 1 and h["best_test_acc"] == 0.5 and h["test_acc"] == [0.5] * 3
    assert train_mod.params_digest(load_net(tmp_path / "best.npz").params) == ends[0]
    assert train_mod.params_digest(load_net(tmp_path / "last.npz").params) == ends[2]
    assert h["lr"] == [0.01] * 3 and len(h["epoch_seconds"]) == 3


@pytest.mark.parametrize("fused", [True, False])
def test_evaluate_gathers_the_training_subset_in_pieces_with_the_same_answer(fused, monkeypatch):
    """evaluate() scores the fixed training subset EVAL_GATHER images at a time through one
    reused array: the accuracy is the one of the whole subset at once, partial last piece
    included, epoch after epoch."""
    from convlab.nets import SimpleConvNet
    monkeypatch.setattr(train_mod, "EVAL_GATHER", 7)
    rng = np.random.default_rng(3)
    x = rng.random((60, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 60)
    net = SimpleConvNet(seed=3)
    tr = Trainer(net, x, t, x[:20], t[:20], epochs=1, train_eval_size=30, verbose=False, fused=fused)
    idx = tr.train_eval_idx
    whole = net.accuracy(x[idx], t[idx])
    assert 0 < whole < 1                                     # some right, some wrong: counts matter
    for _ in range(2):
        train_acc, test_acc = tr.evaluate()
        assert train_acc == whole
        assert test_acc == net.accuracy(x[:20], t[:20])
    assert tr._gathered(7).shape == (7, 1, 28, 28)
    assert np.shares_memory(tr._gathered(3), tr._gathered(7))  # one array, reused
