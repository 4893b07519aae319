"""convlab/fast/workspace.py: a workspace changes no number, reuses its arrays from step to step,
never lends one array twice within a step, and is detached after the step."""
import numpy as np
import pytest

from convlab.fast.layers import Convolution, Pooling, Relu
from convlab.fast.plan import LayerPlan
from convlab.fast.workspace import Workspace, empty
from convlab.nets import Net, SimpleConvNet
from convlab.optim import Adam

from strategies import values


# ------------------------------------------------------------------------------ workspace --

def with_twins(net):
    """net, its layers swapped for their fast twins (those of its LayerPlan), so that
    ``net.gradient`` runs the layers a workspace lends to."""
    plan = LayerPlan(net)
    net.layers, net._owner = plan.layers, plan._owner
    return net


def small_net():
    return with_twins(SimpleConvNet(input_dim=(1, 10, 10), conv_param={
        "filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}, hidden_size=5,
        weight_init_std=0.3, seed=0, dtype=np.float64))


def train(steps, workspace):
    """The net and its losses after ``steps`` Adam steps, with or without a workspace."""
    rng = np.random.default_rng(3)
    net, opt, losses = small_net(), Adam(lr=0.01), []
    for _ in range(steps):
        x, t = values(rng, (4, 1, 10, 10), "digits"), rng.integers(0, 10, 4)
        if workspace is None:
            grads = net.gradient(x, t)
        else:
            with workspace.attached(net):
                grads = net.gradient(x, t)
        losses.append(float(net.loss(x, t)))
        opt.update(net.params, grads)
    return net, losses


def test_a_workspace_changes_no_number():
    ws = Workspace()
    (n1, l1), (n2, l2) = train(4, None), train(4, ws)
    assert l1 == l2
    for k in n1.params:
        np.testing.assert_array_equal(n1.params[k], n2.params[k], err_msg=k)
    assert ws.nbytes() > 0                        # it did lend arrays


def test_a_workspace_reuses_its_arrays_and_detaches():
    net, ws = small_net(), Workspace()
    x, t = np.random.default_rng(0).random((4, 1, 10, 10)), np.arange(4)
    firsts = []
    for _ in range(2):
        with ws.attached(net):
            net.gradient(x, t)
            conv, relu = net.layers["Conv1"], net.layers["Relu1"]
            firsts.append((conv.col, relu.mask))
    assert firsts[0][0] is firsts[1][0] and firsts[0][1] is firsts[1][1]     # reused
    assert all(getattr(layer, "workspace", None) is None for layer in net.layers.values())
    # without the workspace, layers allocate fresh arrays again
    net.gradient(x, t)
    assert net.layers["Conv1"].col is not firsts[1][0]


def test_detached_even_when_the_step_fails():
    net, ws = small_net(), Workspace()
    with pytest.raises(ValueError):
        with ws.attached(net):
            net.gradient(np.zeros((2, 1, 10, 10)), np.array([0, 10]))   # label 10 is out of range
    assert all(getattr(layer, "workspace", None) is None for layer in net.layers.values())


def test_no_array_is_lent_twice_within_a_step():
    """Inside one attached step every output, input gradient and stored array of every layer
    is its own memory: no layer writes into an array it handed out."""
    net = with_twins(Net((2, 9, 9), [("conv", dict(filter_num=3, filter_size=3, pad=1)), ("relu", {}),
                          ("pool", dict(size=2)), ("conv", dict(filter_num=4, filter_size=2, stride=2)),
                          ("relu", {}), ("affine", dict(size=5)), ("relu", {}), ("affine", dict(size=3))],
              weight_init_std=0.5, seed=1, dtype=np.float64, input_grad=True))
    ws = Workspace()
    rng = np.random.default_rng(2)
    x, t = values(rng, (3, 2, 9, 9), "digits"), np.array([0, 1, 2])
    for _ in range(2):                            # the second step runs on reused arrays
        handed = []
        with ws.attached(net):
            h = x
            for layer in net.layers.values():
                h = layer.forward(h)
                handed.append(h)
            net.last_layer.forward(h, t)
            d = net.last_layer.backward()
            for layer in reversed(list(net.layers.values())):
                d = layer.backward(d)
                handed.append(d)
            handed += [a for layer in net.layers.values()
                       for a in (getattr(layer, "col", None), getattr(layer, "mask", None),
                                 getattr(layer, "arg_max", None)) if a is not None]
        for i, a in enumerate(handed):
            for b in handed[i + 1:]:
                assert not np.shares_memory(a, b)


def test_a_network_of_another_kind_borrows_nothing():
    class Custom:                                 # e.g. the book's own net, or a user's
        layers = ["not a dict"]
    with Workspace().attached(Custom()) as ws:
        assert ws.nbytes() == 0
    with Workspace().attached(object()):
        pass


def test_workspace_get_and_empty():
    ws = Workspace()
    a, b = Relu(), Relu()
    x1 = ws.get(a, "out", (2, 3), np.float32)
    assert ws.get(a, "out", (2, 3), np.float32) is x1            # same owner, name, shape, dtype
    assert ws.get(b, "out", (2, 3), np.float32) is not x1        # another layer: its own
    assert ws.get(a, "mask", (2, 3), np.float32) is not x1       # another name: its own
    x2 = ws.get(a, "out", (3, 3), np.float32)                    # new shape: a new array
    assert x2.shape == (3, 3) and x2 is not x1
    assert ws.get(a, "out", (3, 3), np.float64).dtype == np.float64
    assert empty(a, "out", (2,), np.float32).shape == (2,)       # no workspace attached: np.empty
    a.workspace = ws
    assert empty(a, "out", (3, 3), np.float64) is ws.get(a, "out", (3, 3), np.float64)
    assert empty(None, "x", (1,), np.float64).shape == (1,)
    del a
    import gc
    gc.collect()
    assert len(ws._arrays) == 1                                  # a's arrays went with it


@pytest.mark.parametrize("make", [lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), pad=1),
                                  lambda: Pooling(2, 2), Relu])
def test_held_results_are_overwritten_only_by_the_next_attached_step(make):
    """The documented price of a workspace: results live until its next step."""
    layer, ws = make(), Workspace()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 1, 6, 6)), rng.standard_normal((2, 1, 6, 6))
    with ws.attached([layer]):
        y1 = layer.forward(x1)
    y1_copy = y1.copy()
    layer.forward(x2)                             # not attached: y1 untouched
    np.testing.assert_array_equal(y1, y1_copy)
    with ws.attached([layer]):
        y2 = layer.forward(x2)
    assert y2 is y1                               # the same array, now holding x2's result
