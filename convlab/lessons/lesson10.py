"""Lesson 10, your own CNN: the helpers of notebooks/10_your_own_cnn.ipynb.

The learner writes the book's ``Convolution`` and ``Pooling`` classes (stubs:
``stubs.LAYER_STUBS``; checks: ``check_convolution_layer`` and ``check_pooling_layer`` from
``convlab.lessons.layer_checks``), gradient-checks them, then builds the book's SimpleConvNet
from them (``SimpleConvNet(Convolution, Pooling, ...)``: the learner's two classes with
convlab's Relu, Affine and SoftmaxWithLoss), and trains it.

    use_layers(Convolution, Pooling)  each of the learner's classes once written, else
                                      convlab's, with ONE line saying which
    with_db_as_mean(cls)              a copy of a Convolution class with a bug (db averaged)
    error_size(err)                   "a" (about 1e-10), "b" (about 1e-4) or "c" (about 1)
    train(net, x, t, steps, ...)      Adam steps on mini-batches with a progress bar
    steps_to_fit(net, x, t, ...)      steps until the training accuracy is 100 %
    time_per_step(net, x, t, ...)     the measured time of one training step
    side_by_side(Convolution, Pooling, x, t, steps)   the same seed and batches through these
                                      classes and through convlab's: both nets' losses
"""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from tqdm.auto import tqdm

from .. import layers
from ..optim import Adam
from ..platform import in_browser
from .layer_checks import check_convolution_layer, check_pooling_layer  # noqa: F401 (the lesson's)

__all__ = ["SimpleConvNet", "use_layers", "with_db_as_mean", "train", "steps_to_fit",
           "time_per_step", "side_by_side", "error_size", "check_convolution_layer",
           "check_pooling_layer", "OVERFIT_STEPS", "TRAIN_STEPS", "TRAIN_LR", "TARGET_ACCURACY",
           "run_size"]

#: Lesson 10 promises: the net over-fits 100 training images (100 % accuracy) within this many
#: full-batch Adam steps (lr 0.001); tests/test_lesson_10.py checks it with the solutions.
OVERFIT_STEPS = 60


def run_size(browser: bool) -> tuple[int, float]:
    """(steps, goal accuracy) of section 6's MNIST run. In the browser (the lessons' site: NumPy
    without BLAS, each step 10-30x slower) the run is shorter and the goal lower: 150 steps
    reached 0.936 here (measured with convlab's layers)."""
    return (150, 0.90) if browser else (500, 0.95)


#: Trained on MNIST for TRAIN_STEPS steps of 100 images (Adam, lr TRAIN_LR, float32) the net
#: reaches at least TARGET_ACCURACY on the 10,000 test images (the notebook prints whether it did).
TRAIN_STEPS, TARGET_ACCURACY = run_size(in_browser())
TRAIN_LR = 0.002


# ----------------------------------------------------------------------------- the network --

class SimpleConvNet:
    """The book's SimpleConvNet built from the Convolution and Pooling classes you pass:
    conv - relu - pool - affine - relu - affine - softmax.

    Convolution(W, b, stride, pad) and Pooling(pool_h, pool_w, stride, pad) follow the book's
    contract (forward(x), backward(dout); Convolution sets dW and db); the other layers are
    convlab's. The same ``seed`` gives the same weights whatever the classes, so two nets built
    from different classes can be compared step by step.
    """

    def __init__(self, Convolution, Pooling, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006
                 hidden_size=100, output_size=10, weight_init_std=0.01, seed=0, dtype=np.float64):
        C, H, W = input_dim
        FN, F = conv_param["filter_num"], conv_param["filter_size"]
        S, P = conv_param["stride"], conv_param["pad"]
        OH, OW = (H + 2 * P - F) // S + 1, (W + 2 * P - F) // S + 1      # the convolution's output
        pool_out = FN * (OH // 2) * (OW // 2)                           # after 2x2 pooling, stride 2
        rng = np.random.default_rng(seed)

        def weights(*shape):
            return (weight_init_std * rng.standard_normal(shape)).astype(dtype)
        self.params = {"W1": weights(FN, C, F, F), "b1": np.zeros(FN, dtype),
                       "W2": weights(pool_out, hidden_size), "b2": np.zeros(hidden_size, dtype),
                       "W3": weights(hidden_size, output_size), "b3": np.zeros(output_size, dtype)}
        p = self.params
        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(p["W1"], p["b1"], S, P)
        self.layers["Relu1"] = layers.Relu()
        self.layers["Pool1"] = Pooling(2, 2, 2, 0)
        self.layers["Affine1"] = layers.Affine(p["W2"], p["b2"])
        self.layers["Relu2"] = layers.Relu()
        self.layers["Affine2"] = layers.Affine(p["W3"], p["b3"])
        self.last_layer = layers.SoftmaxWithLoss()
        self.dtype = dtype

    def predict(self, x):
        x = np.asarray(x, dtype=self.dtype)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return float(self.last_layer.forward(self.predict(x), t))

    def accuracy(self, x, t, batch_size=500):
        right = sum(int(np.sum(self.predict(x[i:i + batch_size]).argmax(axis=1) == t[i:i + batch_size]))
                    for i in range(0, len(x), batch_size))
        return right / len(x)

    def gradient(self, x, t):
        """Backprop: the loss's gradient for every parameter, keyed like ``params``."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        conv, a1, a2 = self.layers["Conv1"], self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": conv.dW, "b1": conv.db, "W2": a1.dW, "b2": a1.db, "W3": a2.dW, "b3": a2.db}


# ---------------------------------------------------------------------- which layer classes --

def _written(cls, probe):
    """False when ``probe(cls)`` meets a ``raise NotImplementedError`` (the stub), else True."""
    try:
        probe(cls)
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001 - written, if wrongly: the checks and the cells show it
        return True
    return True


def use_layers(Convolution, Pooling):
    """(Convolution, Pooling) to run the lesson's cells on: each of yours once it is written (no
    longer raises NotImplementedError), right or wrong, so that your own gradient check and the
    net's sanity checks test it; convlab's in place of one not written yet. Prints ONE line."""
    def conv(cls):
        cls(np.ones((1, 1, 2, 2)), np.zeros(1)).forward(np.ones((1, 1, 3, 3)))

    def pool(cls):
        cls(2, 2, 2, 0).forward(np.ones((1, 1, 2, 2)))
    mine_c, mine_p = _written(Convolution, conv), _written(Pooling, pool)
    if mine_c and mine_p:
        print("Your Convolution and Pooling are written: the cells below run on YOUR classes.")
    elif not (mine_c or mine_p):
        print("Your Convolution and Pooling are not written yet: the cells below run on convlab's "
              "classes (write yours in sections 1 and 2, then run these cells again).")
    else:
        mine, other = ("Convolution", "Pooling") if mine_c else ("Pooling", "Convolution")
        print(f"Your {mine} is written, your {other} not yet: the cells below run on your {mine} "
              f"and convlab's {other}.")
    return (Convolution if mine_c else layers.Convolution), (Pooling if mine_p else layers.Pooling)


def with_db_as_mean(Convolution):
    """A copy of the class ``Convolution`` with a bug: backward averages db instead of summing."""
    class DbAsMean(Convolution):
        def backward(self, dout):
            dx = super().backward(dout)
            self.db = self.db / (dout.size // dout.shape[1])            # the mean over N*OH*OW
            return dx
    DbAsMean.__name__ = DbAsMean.__qualname__ = f"{Convolution.__name__}WithDbAsMean"
    return DbAsMean


# ------------------------------------------------------------------------ predict, then check --
# The lesson's guess cells call check.compare_guess (the one way to check a guess); this gives
# the truth of the first one.

def error_size(err):
    """The size class of a relative error: "a" about 1e-10 (right), "b" about 1e-4, "c" about 1."""
    return "a" if err < 1e-7 else "b" if err < 1e-2 else "c"


# ------------------------------------------------------------------------------- training --

def train(net, x, t, steps, batch_size=100, lr=0.001, seed=0, progress=True):
    """``steps`` Adam steps on random mini-batches of (x, t) (an epoch-free loop, the order fixed
    by ``seed``). Returns the loss of each step's batch (before its update), a list."""
    rng = np.random.default_rng(seed)
    opt, losses = Adam(lr=lr), []
    for _ in tqdm(range(steps), disable=not progress, desc="training", unit="step"):
        idx = rng.choice(len(x), batch_size, replace=False)
        grads = net.gradient(x[idx], t[idx])
        losses.append(float(net.last_layer.loss))                       # the batch's loss
        opt.update(net.params, grads)
    return losses


def steps_to_fit(net, x, t, max_steps, lr=0.001):
    """Full-batch Adam steps on (x, t) until every training image is classified right: the
    number of updates it took (None if ``max_steps`` were not enough). The accuracy is read off
    each step's own forward pass, before its update."""
    opt = Adam(lr=lr)
    for k in range(max_steps + 1):
        grads = net.gradient(x, t)
        if np.all(net.last_layer.y.argmax(axis=1) == t):
            return k
        if k < max_steps:
            opt.update(net.params, grads)
    return None


def time_per_step(net, x, t, batch_size=100, steps=3):
    """Seconds per training step: the mean time of ``steps`` gradient computations on one
    mini-batch (the Adam update is cheap beside them); the weights are not changed."""
    start = time.perf_counter()
    for _ in range(steps):
        net.gradient(x[:batch_size], t[:batch_size])
    return (time.perf_counter() - start) / steps


def side_by_side(Convolution, Pooling, x, t, steps, batch_size=100, seed=1):
    """Two nets with the same seed, trained on the same batches in float64: one from
    ``Convolution`` and ``Pooling``, one from convlab's. Returns (their losses, convlab's)."""
    runs = []
    for conv, pool in ((Convolution, Pooling), (layers.Convolution, layers.Pooling)):
        net = SimpleConvNet(conv, pool, seed=seed, dtype=np.float64)
        runs.append(train(net, x, t, steps, batch_size, seed=seed, progress=False))
    return runs[0], runs[1]
