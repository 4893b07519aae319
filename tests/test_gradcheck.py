"""convlab.gradcheck, the harness every layer and net test relies on: it must be able to fail.

rel_error is symmetric and calls a backward that returns zeros wrong (error 1, not 0), and
layer_gradcheck's central differences are accurate enough on a curved layer that its default step
meets the 1e-7 tolerance the layer tests use, while a backward off by 1e-4 stays far above it."""
import numpy as np
import pytest

from convlab.gradcheck import layer_gradcheck, numerical_gradient, rel_error


def test_rel_error_is_symmetric_and_zeros_against_a_gradient_count_as_wrong():
    g = np.array([1.0, -2.0, 3.0])
    assert rel_error(np.zeros(3), g) == 1.0                     # a backward that forgot everything
    assert rel_error(g, np.zeros(3)) == 1.0
    a, b = np.array([0.5, 4.0]), np.array([1.0, 2.0])
    assert rel_error(a, b) == rel_error(b, a) == pytest.approx(0.5)


class _Sine:
    """out = sin(W * x) elementwise: curved everywhere, so a too-coarse step shows."""

    def __init__(self, W):
        self.W = W

    def forward(self, x):
        self.x = x
        return np.sin(self.W * x)

    def backward(self, dout, nudge=0.0):
        c = np.cos(self.W * self.x) * dout
        self.dW = (c * self.x) * (1 + nudge)
        return c * self.W


def test_layer_gradcheck_is_accurate_at_its_default_step_and_can_fail():
    rng = np.random.default_rng(0)
    x, W = rng.uniform(-2, 2, (3, 4)), rng.uniform(0.5, 2, (3, 4))
    errs = layer_gradcheck(_Sine(W.copy()), x, params=("W",))
    assert set(errs) == {"x", "W"} and max(errs.values()) < 1e-8, errs

    class Nudged(_Sine):
        def backward(self, dout):
            return super().backward(dout, nudge=1e-4)
    errs = layer_gradcheck(Nudged(W.copy()), x, params=("W",))
    assert errs["x"] < 1e-8 and errs["W"] > 1e-5, errs


def test_numerical_gradient_leaves_x_as_it_was():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    before = x.copy()
    g = numerical_gradient(lambda: float(np.sum(np.exp(x))), x)
    np.testing.assert_allclose(g, np.exp(before), rtol=1e-9)
    np.testing.assert_array_equal(x, before)
