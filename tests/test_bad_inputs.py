"""A catalogue of bad inputs. Each must raise ValueError or TypeError whose message names the
offending argument -- never a raw NumPy broadcasting/indexing error, never a silent wrong result."""
import pickle
import re

import numpy as np
import pytest

from convlab.layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss,
                            check_labels)
from convlab.nets import Net, SimpleConvNet, load_net

rng = np.random.default_rng(0)
W3 = rng.standard_normal((2, 3, 3, 3))          # FN=2, C=3, 3x3
B2 = np.zeros(2)
X3 = rng.standard_normal((2, 3, 6, 5))          # N=2, C=3, 6x5


def net():
    return SimpleConvNet(input_dim=(1, 8, 8), conv_param=dict(filter_num=2, filter_size=3, pad=0, stride=1),
                         hidden_size=4, output_size=3, seed=0, dtype=np.float64)


X_NET = rng.random((4, 1, 8, 8))

# (id, callable, regex the message must match) -- regexes name the argument
CASES = [
    # ---- Convolution
    ("conv x 3-D", lambda: Convolution(W3, B2).forward(X3[0]), r"\bx\b.*4-D"),
    ("conv x 5-D", lambda: Convolution(W3, B2).forward(X3[None]), r"\bx\b.*4-D"),
    ("conv W 3-D", lambda: Convolution(W3[0], B2), r"\bW\b.*4-D"),
    ("conv b wrong shape", lambda: Convolution(W3, np.zeros(3)), r"\bb\b.*shape"),
    ("conv channel mismatch", lambda: Convolution(W3, B2).forward(rng.random((2, 4, 6, 5))), r"\bx\b.*channel.*\bC = 3"),
    ("conv kernel > padded input", lambda: Convolution(W3, B2).forward(rng.random((1, 3, 2, 5))), r"kernel 3.*padded input"),
    ("conv kernel > padded input (pad)", lambda: Convolution(rng.random((1, 1, 6, 1)), np.zeros(1), pad=1).forward(rng.random((1, 1, 3, 3))), r"kernel 6.*padded input"),
    ("conv stride 0", lambda: Convolution(W3, B2, stride=0), r"stride.*>= 1.*got 0"),
    ("conv stride (1, 0)", lambda: Convolution(W3, B2, stride=(1, 0)), r"stride\[1\]"),
    ("conv negative pad", lambda: Convolution(W3, B2, pad=-1), r"pad.*>= 0.*got -1"),
    ("conv float stride", lambda: Convolution(W3, B2, stride=1.5), r"stride.*integer"),
    ("conv bool pad", lambda: Convolution(W3, B2, pad=True), r"pad.*integer"),
    ("conv dilation 0", lambda: Convolution(W3, B2, dilation=0), r"dilation"),
    # ---- Pooling
    ("pool x 2-D", lambda: Pooling(2, 2).forward(rng.random((4, 4))), r"\bx\b.*4-D"),
    ("pool stride 0", lambda: Pooling(2, 2, stride=0), r"stride.*got 0"),
    ("pool negative pad", lambda: Pooling(2, 2, pad=-1), r"pad.*got -1"),
    ("pool pad > half window", lambda: Pooling(2, 2, pad=2), r"pad.*half"),
    ("pool window > padded input", lambda: Pooling(3, 3).forward(rng.random((1, 1, 2, 5))), r"kernel 3.*padded input"),
    ("pool size 0", lambda: Pooling(0, 2), r"pool_h"),
    ("pool bad mode", lambda: Pooling(2, 2, mode="min"), r"mode"),
    # ---- Affine / LRN / Dropout
    ("affine x wrong width", lambda: Affine(np.zeros((10, 3)), np.zeros(3)).forward(rng.random((2, 9))), r"\bx\b.*\bD = 10"),
    ("affine x 1-D", lambda: Affine(np.zeros((10, 3)), np.zeros(3)).forward(rng.random(10)), r"\bx\b.*2-D"),
    ("affine W 1-D", lambda: Affine(np.zeros(10), np.zeros(3)), r"\bW\b.*2-D"),
    ("affine b wrong shape", lambda: Affine(np.zeros((10, 3)), np.zeros(4)), r"\bb\b.*shape"),
    ("lrn x 3-D", lambda: LRN().forward(rng.random((2, 3, 4))), r"\bx\b.*4-D"),
    ("lrn n 0", lambda: LRN(n=0), r"\bn\b"),
    ("dropout ratio 1", lambda: Dropout(1.0), r"ratio"),
    ("dropout ratio < 0", lambda: Dropout(-0.1), r"ratio"),
    # ---- labels
    ("label out of range", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.array([0, 4, 1])), r"\bt\b.*label 4.*\[0, 3\]"),
    ("label negative", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.array([0, -1, 1])), r"\bt\b.*label -1"),
    ("labels too few", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.array([0, 1])), r"\bt\b.*\(3,\)"),
    ("labels too many", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.array([0, 1, 2, 3])), r"\bt\b.*\(3,\)"),
    ("labels 3-D", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.zeros((3, 4, 1), int)), r"\bt\b"),
    ("one-hot wrong width", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.eye(5)[:3]), r"\bt\b.*one-hot.*\(3, 4\)"),
    ("one-hot wrong rows", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.eye(4)[:2]), r"\bt\b.*one-hot"),
    ("fractional labels", lambda: SoftmaxWithLoss().forward(rng.random((3, 4)), np.array([0.5, 1, 2])), r"\bt\b.*integer"),
    ("string labels", lambda: check_labels(np.array(["a", "b"]), 2, 3), r"\bt\b"),
    ("scores 1-D", lambda: SoftmaxWithLoss().forward(rng.random(4), np.array([0])), r"\bx\b.*2-D"),
    # ---- nets
    ("net x channel mismatch", lambda: net().predict(rng.random((2, 3, 8, 8))), r"\bx\b.*\(N, 1, 8, 8\)"),
    ("net x wrong size", lambda: net().predict(rng.random((2, 1, 8, 9))), r"\bx\b"),
    ("net x 3-D", lambda: net().predict(rng.random((1, 8, 8))), r"\bx\b"),
    ("net loss labels short", lambda: net().loss(X_NET, np.array([0, 1])), r"\bt\b"),
    ("net gradient label range", lambda: net().gradient(X_NET, np.array([0, 1, 2, 3])), r"\bt\b.*label 3"),
    ("net accuracy labels long", lambda: net().accuracy(X_NET, np.arange(5) % 3), r"\bt\b"),
    ("net accuracy one-hot width", lambda: net().accuracy(X_NET, np.eye(4)), r"\bt\b.*one-hot"),
    ("item 6: net accuracy on 0 images", lambda: net().accuracy(X_NET[:0], np.zeros(0, int)), r"\bx\b must not be empty.*\(0, 1, 8, 8\)"),
    ("item 6: net predict on 0 images", lambda: net().predict(X_NET[:0]), r"\bx\b must not be empty.*\(0, 1, 8, 8\)"),
    ("net accuracy batch_size 0", lambda: net().accuracy(X_NET, np.zeros(4, int), batch_size=0), r"batch_size"),
    ("net filter > input", lambda: SimpleConvNet(input_dim=(1, 4, 4), conv_param=dict(filter_num=2, filter_size=5)), r"kernel 5.*padded input"),
    ("net conv stride 0", lambda: SimpleConvNet(input_dim=(1, 8, 8), conv_param=dict(filter_num=2, filter_size=3, stride=0)), r"stride"),
    ("net conv pad -1", lambda: SimpleConvNet(input_dim=(1, 8, 8), conv_param=dict(filter_num=2, filter_size=3, pad=-1)), r"pad"),
    ("net filter_num 0", lambda: SimpleConvNet(input_dim=(1, 8, 8), conv_param=dict(filter_num=0, filter_size=3)), r"filter_num"),
    ("net conv_param typo", lambda: SimpleConvNet(conv_param=dict(filter_num=2, filtersize=3)), r"conv_param.*filtersize"),
    ("net hidden_size 0", lambda: SimpleConvNet(input_dim=(1, 8, 8), hidden_size=0), r"hidden_size"),
    ("net output_size 0", lambda: SimpleConvNet(input_dim=(1, 8, 8), output_size=0), r"output_size"),
    ("net input_dim 2-D", lambda: SimpleConvNet(input_dim=(28, 28)), r"input_dim"),
    ("net input_dim 0", lambda: SimpleConvNet(input_dim=(0, 28, 28)), r"input_dim"),
    ("net dtype float16", lambda: SimpleConvNet(input_dim=(1, 8, 8), dtype=np.float16), r"dtype"),
    ("net weight_init_std < 0", lambda: SimpleConvNet(input_dim=(1, 8, 8), weight_init_std=-1), r"weight_init_std"),
    ("net weight_init_std name", lambda: SimpleConvNet(input_dim=(1, 8, 8), weight_init_std="kaiming"), r"weight_init_std"),
    ("net unknown layer kind", lambda: Net((1, 8, 8), [("convolution", {}), ("affine", dict(size=2))]), r"kind"),
    ("net spec not ending in affine", lambda: Net((1, 8, 8), [("conv", dict(filter_num=2, filter_size=3))]), r"spec"),
]


@pytest.mark.parametrize("call, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----------------------------------------------------------------------- bad params files --

def saved(tmp_path, **changes):
    """Save a good params file, then apply changes: {key: array} to set, {key: None} to drop."""
    a = net()
    arrays = dict(a.params)
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    path = tmp_path / "params.npz"
    np.savez(path, **arrays)
    return str(path)


def test_params_missing_key(tmp_path):
    path = saved(tmp_path, W2=None)
    with pytest.raises(ValueError, match=r"lacks parameter\(s\) \['W2'\]"):
        net().load_params(path)


def test_params_wrong_shape(tmp_path):
    path = saved(tmp_path, W3=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"parameter W3 .*shape \(4, 2\).*\(4, 3\)"):
        net().load_params(path)


def test_params_extra_key(tmp_path):
    path = saved(tmp_path, W4=np.zeros(3))
    with pytest.raises(ValueError, match=r"unexpected parameter\(s\) \['W4'\]"):
        net().load_params(path)


def test_failed_load_changes_nothing(tmp_path):
    """A file that fails the check must not half-load: W1 stays as it was."""
    path = saved(tmp_path, W1=np.ones((2, 1, 3, 3)), W3=np.zeros((4, 2)))
    b = net()
    w1 = b.params["W1"].copy()
    with pytest.raises(ValueError, match="W3"):
        b.load_params(path)
    np.testing.assert_array_equal(b.params["W1"], w1)


def test_pickle_file_refused(tmp_path):
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump(dict(net().params), f)
    with pytest.raises(ValueError, match=r"file_name .*pickle"):
        net().load_params(str(path))
    with pytest.raises(ValueError, match=r"file_name .*pickle"):
        load_net(str(path))


def test_object_array_in_npz_refused(tmp_path):
    path = saved(tmp_path, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"file_name .*pickle"):
        net().load_params(path)


def test_npy_file_refused(tmp_path):
    path = tmp_path / "W1.npy"
    np.save(path, net().params["W1"])
    with pytest.raises(ValueError, match=r"file_name .*\.npy"):
        net().load_params(str(path))


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not an archive", b"PK\x03\x04 truncated zip"])
def test_garbage_file_refused(tmp_path, content):
    path = tmp_path / "params.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"file_name .*not an \.npz"):
        net().load_params(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        net().load_params(str(tmp_path / "nope.npz"))


def test_load_net_needs_config(tmp_path):
    path = saved(tmp_path)                 # plain np.savez of params: no __config__
    with pytest.raises(ValueError, match=r"file_name .*__config__"):
        load_net(path)


# ------------------------------------------------------ layer misuse (issue 13, item 9) --

def every_layer():
    """(name, layer, a valid x, forward) for every layer class."""
    sm = SoftmaxWithLoss()
    return [
        ("Convolution", Convolution(W3, B2), X3, None),
        ("Pooling max", Pooling(2, 2), X3, None),
        ("Pooling avg", Pooling(3, 2, stride=1, mode="avg"), X3, None),
        ("Relu", Relu(), X3, None),
        ("Sigmoid", Sigmoid(), X3, None),
        ("Affine", Affine(np.zeros((3 * 6 * 5, 4)), np.zeros(4)), X3, None),
        ("Dropout", Dropout(0.5, rng=0), X3, None),
        ("LRN", LRN(3), X3, None),
        ("SoftmaxWithLoss", sm, rng.random((3, 4)), lambda x: sm.forward(x, np.array([0, 1, 2]))),
    ]


LAYER_IDS = [c[0] for c in every_layer()]


@pytest.mark.parametrize("i", range(len(LAYER_IDS)), ids=LAYER_IDS)
def test_backward_before_forward_is_a_clear_error(i):
    name, layer, x, _ = every_layer()[i]
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        layer.backward(np.ones(3) if name != "SoftmaxWithLoss" else 1)


@pytest.mark.parametrize("i", [i for i, n in enumerate(LAYER_IDS) if n != "SoftmaxWithLoss"],
                         ids=[n for n in LAYER_IDS if n != "SoftmaxWithLoss"])
def test_dout_of_the_wrong_shape_is_refused_naming_the_expected_shape(i):
    """Same size but another shape (a transposed dout) too: it used to give a wrong dW."""
    name, layer, x, _ = every_layer()[i]
    out = layer.forward(x)
    shape = out.shape
    wrong = [shape[::-1], (shape[0], int(np.prod(shape[1:]))), shape[:-1] + (shape[-1] + 1,)]
    for w in wrong:
        if w == shape:
            continue
        with pytest.raises(ValueError, match=rf"dout must have the shape of the forward output "
                                             rf"{re.escape(str(shape))}, got {re.escape(str(w))}"):
            layer.backward(np.ones(w))
    layer.backward(np.ones(shape))            # the right shape still works afterwards


def test_softmax_with_loss_dout_must_be_a_scalar():
    sm = SoftmaxWithLoss()
    sm.forward(rng.random((3, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"dout must be a scalar.*\(3, 4\)"):
        sm.backward(np.ones((3, 4)))


@pytest.mark.parametrize("i", range(len(LAYER_IDS)), ids=LAYER_IDS)
def test_empty_batch_is_a_clear_error(i):
    name, layer, x, fwd = every_layer()[i]
    with pytest.raises(ValueError, match=r"x must not be empty.*N >= 1.*got shape \(0, "):
        (fwd or layer.forward)(x[:0])


@pytest.mark.parametrize("i", range(len(LAYER_IDS)), ids=LAYER_IDS)
def test_complex_input_is_refused(i):
    name, layer, x, fwd = every_layer()[i]
    with pytest.raises(ValueError, match=r"x must hold real numbers.*complex"):
        (fwd or layer.forward)(x + 1j)


@pytest.mark.parametrize("i", [i for i, n in enumerate(LAYER_IDS) if n != "SoftmaxWithLoss"],
                         ids=[n for n in LAYER_IDS if n != "SoftmaxWithLoss"])
def test_complex_dout_is_refused(i):
    name, layer, x, _ = every_layer()[i]
    out = layer.forward(x)
    with pytest.raises(ValueError, match=r"dout must hold real numbers.*complex"):
        layer.backward(np.ones(out.shape, complex))


@pytest.mark.parametrize("call, match", [
    (lambda: Convolution(W3 + 0j, B2), r"\bW\b must hold real numbers.*complex"),
    (lambda: Convolution(W3, B2 + 0j), r"\bb\b must hold real numbers.*complex"),
    (lambda: Affine(np.zeros((3, 2), complex), np.zeros(2)), r"\bW\b must hold real numbers"),
    (lambda: Convolution(W3.astype(str), B2), r"\bW\b must hold real numbers.*dtype <U"),
    (lambda: Relu().forward(np.array([["a", "b"]])), r"\bx\b must hold real numbers.*dtype <U"),
])
def test_complex_or_text_parameters_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("args, match", [
    (((2, 3), 2), r"pool_h must be one integer.*height.*pool_w.*\(2, 3\)"),
    ((2, [2, 3]), r"pool_w must be one integer.*width.*\[2, 3\]"),
    ((np.array([2, 3]), 2), r"pool_h must be one integer"),
])
def test_pool_sizes_given_as_pairs_are_refused(args, match):
    """Pooling((2, 3), 2, stride=1) used to become a 2x2 pool without a word."""
    with pytest.raises(ValueError, match=match):
        Pooling(*args, stride=1)


def test_net_pool_size_as_a_pair_is_refused():
    with pytest.raises(ValueError, match=r"pool_h must be one integer"):
        Net((1, 8, 8), [("pool", dict(size=(2, 3))), ("affine", dict(size=2))])


# ----------------------------------------------------------- labels (issue 13, item 8) --

@pytest.mark.parametrize("t, row", [
    (np.array([[0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]), 0),          # soft label
    (np.array([[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0]]), 1),          # soft, sums to 1
    (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]), 2),              # all zero
    (np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0], [0, 0, 1, 0]]), 1),         # NaN
    (np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0]]), 1),              # two classes
    (np.array([[1, 0, 0, 0], [0, 2, -1, 0], [0, 0, 1, 0]]), 1),             # sums to 1, not 0/1
])
def test_two_d_labels_must_be_one_hot(t, row):
    """Soft labels are refused (not silently argmaxed) by every user of check_labels."""
    x = rng.random((3, 4))
    with pytest.raises(ValueError, match=rf"\bt\b \(one-hot\) row {row} must hold exactly one 1"):
        SoftmaxWithLoss().forward(x, t)
    with pytest.raises(ValueError, match=rf"row {row}.*soft labels"):
        check_labels(t, 3, 4)


def test_one_hot_in_any_numeric_dtype_is_accepted():
    t = np.eye(4)[[2, 0, 3]]
    for dtype in (bool, np.uint8, np.int64, np.float32, np.float64):
        np.testing.assert_array_equal(check_labels(t.astype(dtype), 3, 4), [2, 0, 3])
