"""A catalogue of bad inputs. Each must raise ValueError or TypeError whose message names the
offending argument -- never a raw NumPy broadcasting/indexing error, never a silent wrong result."""
import pickle

import numpy as np
import pytest

from convlab.layers import (LRN, Affine, Convolution, Dropout, Pooling, SoftmaxWithLoss, check_labels)
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
