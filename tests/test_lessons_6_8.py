"""Lessons 6-8 (training, what the network sees, classic CNNs): the views behind every slider
never raise over their ranges, the figures and counts are right, and every check_* passes right
answers and fails wrong ones. Uses small random data and freshly built nets (no MNIST needed)."""
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convlab import exercises as ex  # noqa: E402
from convlab import plots, widgets  # noqa: E402
from convlab.layers import Convolution  # noqa: E402
from convlab.nets import DeepConvNet, LeNet, SimpleConvNet, AlexNetStyle  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fake_data():
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 28, 28), dtype=np.float32)
    t = np.arange(30) % 10
    return x[:20], t[:20], x[20:], t[20:]


# ---------------------------------------------------------------- lesson 6 ----

SL = widgets.SIMPLE_SLIDERS


def _range(name):
    lo, hi, step, _ = SL[name]
    return range(lo, hi + 1, step)


@pytest.mark.parametrize("filter_num,hidden_size", [(SL["filter_num"][0], SL["hidden_size"][0]),
                                                    (SL["filter_num"][1], SL["hidden_size"][1])])
def test_every_slider_combination_builds_a_valid_net(filter_num, hidden_size):
    for fs, s in itertools.product(_range("filter_size"), _range("stride")):
        text, net = widgets.simple_convnet_view(filter_num, fs, s, hidden_size)
        assert net is not None, text
        OH = (28 - fs) // s + 1
        assert dict(net.shapes)["Pool1"] == (filter_num, OH // 2, OH // 2)
        assert f"= {OH}" in text and f"{filter_num}*{OH // 2}*{OH // 2} = {filter_num * (OH // 2) ** 2}" in text
        assert net.predict(np.zeros((1, 1, 28, 28))).shape == (1, 10)


def test_view_mentions_uncovered_rows_and_odd_sizes():
    text, _ = widgets.simple_convnet_view(10, 6, 3, 50)      # (28 - 6) % 3 = 1 row unseen
    assert "leaves the last 1 row(s)" in text
    text, _ = widgets.simple_convnet_view(10, 4, 2, 50)      # conv 13x13: pooling drops a row
    assert "odd size" in text
    text, _ = widgets.simple_convnet_view(30, 5, 1, 100)
    assert "note" not in text and "odd" not in text and "433,890" in text


@given(st.integers(-3, 80), st.integers(-3, 40), st.integers(-2, 40), st.integers(-3, 400))
@settings(max_examples=60, deadline=None)
def test_simple_convnet_view_never_raises(filter_num, filter_size, stride, hidden_size):
    text, net = widgets.simple_convnet_view(filter_num, filter_size, stride, hidden_size)
    assert isinstance(text, str) and text
    assert (net is None) == text.startswith("Invalid combination")


def test_invalid_combinations_are_explained():
    text, net = widgets.simple_convnet_view(30, 28, 1, 100)
    assert net is None and "1 x 1" in text and "pooling" in text
    text, net = widgets.simple_convnet_view(30, 29, 1, 100)
    assert net is None and "larger than the padded input" in text
    text, net = widgets.simple_convnet_view(0, 5, 1, 100)
    assert net is None and "filter_num" in text


@pytest.mark.parametrize("filter_num,filter_size,stride,hidden_size,lr", [
    (SL["filter_num"][0], SL["filter_size"][0], SL["stride"][0], SL["hidden_size"][0], 1e-4),
    (SL["filter_num"][1], SL["filter_size"][1], SL["stride"][1], SL["hidden_size"][1], 1e-1),
    (7, 4, 2, 30, 1e-3)])
def test_train_briefly_over_slider_corners(fake_data, filter_num, filter_size, stride, hidden_size, lr):
    text, h = widgets.train_briefly(filter_num, filter_size, stride, hidden_size, lr, fake_data,
                                    mini_batch_size=10)
    assert h is not None and len(h["loss"]) == 2 and len(h["test_acc"]) == 1
    assert f"test acc {h['test_acc'][-1]:.2f}" in text
    again, h2 = widgets.train_briefly(filter_num, filter_size, stride, hidden_size, lr, fake_data,
                                      mini_batch_size=10)
    assert again == text and h2["loss"] == h["loss"]          # seeded


def test_train_briefly_refuses_bad_values_in_text(fake_data):
    for lr in (0.0, -1.0, float("nan"), "fast"):
        text, h = widgets.train_briefly(30, 5, 1, 100, lr, fake_data)
        assert h is None and "Invalid learning rate" in text
    text, h = widgets.train_briefly(30, 28, 1, 100, 1e-3, fake_data)
    assert h is None and text.startswith("Invalid combination")


def test_hyperparameter_explorer_button_trains(fake_data, capsys):
    box = widgets.hyperparameter_explorer(fake_data)
    sliders_box = box.children[0].children[0]
    descriptions = [w.description for w in sliders_box.children]
    assert descriptions == ["filter num", "filter size", "stride", "hidden size", "learning rate"]
    for w in sliders_box.children[:4]:                          # every slider to its maximum
        w.value = w.max
    button = box.children[1]
    capsys.readouterr()
    button.click()
    assert not button.disabled
    # Outside a kernel the Output widgets do not capture, so the report reaches stdout.
    assert "filters 64, size 12, stride 4, hidden 300, lr 1e-03: after 1 epoch(s) on 20 images" \
        in capsys.readouterr().out


def test_live_curves_callback_draws_each_epoch(fake_data, capsys):
    from convlab.train import Trainer
    calls = []
    cb = widgets.LiveCurves(epochs=2)

    def spy(h):
        calls.append(len(h["test_acc"]))
        cb(h)

    x, t, xt, tt = fake_data
    Trainer(SimpleConvNet(seed=0, conv_param={"filter_num": 2, "filter_size": 5, "pad": 0, "stride": 3},
                          hidden_size=10), x, t, xt, tt, epochs=2, mini_batch_size=10, verbose=False,
            callback=spy).train()
    assert calls == [1, 2]
    fig = widgets.draw_live_curves({"loss": [], "train_acc": [], "test_acc": []}, epochs=3)
    assert len(fig.axes) == 2


def test_confusion_matrix_counts_match_a_loop():
    rng = np.random.default_rng(1)
    t, y = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    cm = plots.confusion_matrix(t, y)
    ref = np.zeros((10, 10), int)
    for a, b in zip(t, y):
        ref[a, b] += 1
    assert np.array_equal(cm, ref) and cm.sum() == 500
    plots.plot_confusion_matrix(cm)


@pytest.mark.parametrize("t,y", [([0, 1], [0]), ([0, 10], [0, 1]), ([0.5, 1], [0, 1]), ([-1, 0], [0, 0])])
def test_confusion_matrix_refuses_bad_labels(t, y):
    with pytest.raises(ValueError, match="t|y"):
        plots.confusion_matrix(np.array(t), np.array(y))


def test_plot_mistakes_with_and_without_mistakes(fake_data):
    x, t, _, _ = fake_data
    y = t.copy()
    fig = plots.plot_mistakes(x, t, y)
    assert "0 of 0" in fig._suptitle.get_text()
    y[[3, 5]] = (y[[3, 5]] + 1) % 10
    fig = plots.plot_mistakes(x.reshape(len(x), -1), t, y, max_images=1)
    assert "1 of 2" in fig._suptitle.get_text()
    assert [a.get_title() for a in fig.axes if a.get_title()] == [f"#3: {t[3]}\u2192{y[3]}"]


def test_check_affine_input_size():
    assert ex.check_affine_input_size(4320)
    assert ex.check_affine_input_size(360, filter_num=10, filter_size=4, stride=2)
    assert not ex.check_affine_input_size(None)
    assert not ex.check_affine_input_size(4320.0)               # floats are what broke the book
    assert not ex.check_affine_input_size(10 * 6.5 * 6.5, filter_num=10, filter_size=4, stride=2)
    assert not ex.check_affine_input_size(4320, filter_size=3)
    assert not ex.check_affine_input_size(True)


def test_check_accuracy_from_confusion(capsys):
    toy = np.array([[50, 2, 0], [3, 40, 5], [0, 1, 49]])
    assert ex.check_accuracy_from_confusion(toy, 139 / 150)
    assert "PASS" in capsys.readouterr().out
    for wrong in (None, 0.5, 139, toy.sum() / np.trace(toy), "0.93"):
        assert not ex.check_accuracy_from_confusion(toy, wrong)
        assert "FAIL: not yet. Hint:" in capsys.readouterr().out


# ---------------------------------------------------------------- lesson 7 ----

def test_filter_responses_match_the_convolution_layer(fake_data):
    x = fake_data[0]
    net = SimpleConvNet(seed=3)
    W, b = net.params["W1"], net.params["b1"] + 0.5
    resp = plots.filter_responses(W, b, x[0])
    ref = Convolution(W, b).forward(x[:1])[0]
    assert resp.shape == (30, 24, 24) and np.allclose(resp, ref)
    assert np.allclose(plots.filter_responses(W, b, x[0].reshape(-1)), ref)   # flattened digit
    plots.plot_filter_responses(W, b, x[0], filters=[0, 29])
    plots.plot_filters(W, title="t")
    with pytest.raises(ValueError, match="image"):
        plots.filter_responses(W, b, np.zeros(5))


def test_check_filter_response(fake_data):
    x = fake_data[0]
    net = SimpleConvNet(seed=3)
    W, b = net.params["W1"], net.params["b1"] + 0.1
    right = Convolution(W[4:5], b[4:5]).forward(x[:1])[0, 0]
    assert ex.check_filter_response(right, W, b, x[0], 4)
    assert ex.check_filter_response(right[None, None], W, b, x[0], 4)     # (1, 1, 24, 24) is fine
    assert not ex.check_filter_response(None, W, b, x[0], 4)
    assert not ex.check_filter_response(right - 0.1, W, b, x[0], 4)        # bias forgotten
    assert not ex.check_filter_response(right, W, b, x[0], 5)              # another filter
    assert not ex.check_filter_response(right[:20], W, b, x[0], 4)


@pytest.mark.parametrize("net", [SimpleConvNet(seed=0), DeepConvNet(seed=0)], ids=["simple", "deep"])
def test_feature_map_view_over_the_slider_range(fake_data, net):
    x, t = fake_data[2], fake_data[3]
    for index in (0, len(x) - 1):                           # the slider's two ends
        text, fig = widgets.feature_map_view(net, x, t, index)
        assert text.startswith(f"Test image #{index}: label {t[index]}, predicted ")
        plt.close(fig)
    for index in (-1, len(x), 10 ** 6):                       # clipped, explained, no traceback
        text, fig = widgets.feature_map_view(net, x, t, index)
        assert "outside" in text
        plt.close(fig)


def test_feature_maps_follow_the_net_shapes(fake_data):
    net = DeepConvNet(seed=0)
    maps = plots.feature_maps(net, fake_data[0][0])
    assert [(n, a.shape) for n, a in maps] == [(n, s) for n, s in net.shapes[1:]]
    fig = plots.plot_feature_maps(net, fake_data[0][0], layers=["Conv1", "Pool3"], max_maps=3)
    assert len(fig.axes) == 3 * 4
    with pytest.raises(ValueError, match="Affine1"):
        plots.plot_feature_maps(net, fake_data[0][0], layers=["Affine1"])


def test_receptive_fields():
    assert [f for _, _, f in plots.receptive_fields(SimpleConvNet(seed=0))] == [5, 6]
    deep = plots.receptive_fields(DeepConvNet(seed=0))
    assert [f for _, _, f in deep] == [3, 5, 6, 10, 14, 16, 24, 32, 36]
    assert deep[-1][1] == (64, 3, 3)


def test_check_feature_map_shape():
    deep = DeepConvNet(seed=0)
    assert ex.check_feature_map_shape(deep, "Pool2", (32, 7, 7))
    assert ex.check_feature_map_shape(deep, "Pool2", [32, 7, 7])
    for wrong in (None, (7, 7, 32), (32, 14, 14), 32, "abc"):
        assert not ex.check_feature_map_shape(deep, "Pool2", wrong)
    assert not ex.check_feature_map_shape(deep, "Pool9", (32, 7, 7))


# ---------------------------------------------------------------- lesson 8 ----

def test_multiply_adds_from_shapes():
    assert plots.multiply_adds(SimpleConvNet(seed=0)) == [
        ("Conv1", 24 * 24 * 30 * 25), ("Affine1", 4320 * 100), ("Affine2", 100 * 10)]
    lenet = dict(plots.multiply_adds(LeNet(seed=0)))
    assert lenet["Conv1"] == 28 * 28 * 6 * 25 and lenet["Conv2"] == 10 * 10 * 16 * 6 * 25
    fig = plots.plot_costs({"a": SimpleConvNet(seed=0), "b": LeNet(seed=0)})
    assert len(fig.axes) == 2


def test_plot_histories():
    h = {"loss": list(np.linspace(2, 0.1, 120)), "train_acc": [0.5, 0.8, 0.9], "test_acc": [0.4, 0.7, 0.85]}
    fig = plots.plot_histories({"x": h, "y": dict(h, loss=[1.0])}, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4


def test_check_conv_multiply_adds():
    assert ex.check_conv_multiply_adds(117600, 1, 28, 28, 6, 5, 5, stride=1, pad=2)
    assert ex.check_conv_multiply_adds(2 * 2 * 4 * 3 * 9, 3, 5, 5, 4, 3, 3, stride=2)
    for wrong in (None, 117600.0, 24 * 24 * 6 * 25, 6 * 25, True):
        assert not ex.check_conv_multiply_adds(wrong, 1, 28, 28, 6, 5, 5, stride=1, pad=2)


def test_dropout_view_over_the_slider_range():
    for ratio, seed in [(r, 0) for r in np.round(np.arange(0.0, 0.95, 0.1), 1)] + \
            [(0.5, s) for s in range(1, 10)]:
        text, fig = widgets.dropout_view(float(ratio), seed)
        assert text.startswith(f"ratio {ratio:.2f}") and "mean 1.00" in text.split("Test:")[1]
        plt.close(fig)
    text, fig = widgets.dropout_view(1.0)
    assert fig is None and "Invalid ratio" in text


def test_dropout_view_keeps_the_mean_on_average():
    kept = [int(widgets.dropout_view(0.5, s)[0].split("keeps ")[1].split(" of")[0]) for s in range(10)]
    assert 20 < np.mean(kept) < 40                              # about half of 60


@pytest.mark.parametrize("alpha", 10.0 ** np.arange(-5, 1.01, 0.5))
def test_lrn_view_over_the_slider_range(alpha):
    for beta in np.arange(0, 2.01, 0.25):
        text, ratio = widgets.lrn_view(alpha=float(alpha), beta=float(beta))
        assert text.startswith("LRN(") and ratio.shape == (6,)
        assert np.all(ratio <= 2.0 ** -beta + 1e-12)              # k = 2: never amplified past k^-beta
    text, ratio = widgets.lrn_view(alpha=1.0)
    assert np.argmin(ratio) == 2                                 # the strongest channel is damped most
    text, ratio = widgets.lrn_view(n=0)
    assert ratio is None and "Invalid" in text


def test_explorers_build():
    assert widgets.dropout_explorer() is not None
    assert widgets.lrn_explorer() is not None
    net = SimpleConvNet(seed=0)
    x = np.zeros((3, 1, 28, 28), np.float32)
    assert widgets.feature_map_explorer(net, x, np.zeros(3, int)) is not None
    assert widgets.filter_response_explorer(net.params["W1"], net.params["b1"], x) is not None


def test_alexnet_dropout_differs_only_in_training():
    net = AlexNetStyle(seed=0, width=0.25)
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert not np.allclose(net.predict(x, train_flg=True), net.predict(x, train_flg=True))
    assert np.array_equal(net.predict(x), net.predict(x))
