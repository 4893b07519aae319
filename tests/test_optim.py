"""Optimisers: each update rule against a step computed by hand, in place, Adam converges,
make_optimizer by name."""
import numpy as np
import pytest

from convlab.optim import SGD, AdaGrad, Adam, Momentum, make_optimizer


def tiny():
    return ({"W": np.array([1.0, 2.0]), "b": np.array([0.5])},
            {"W": np.array([0.1, -0.2]), "b": np.array([1.0])})


def test_sgd_step():
    p, g = tiny()
    SGD(lr=0.1).update(p, g)
    np.testing.assert_allclose(p["W"], [0.99, 2.02], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p["b"], [0.4], rtol=0, atol=1e-15)


def test_momentum_two_steps():
    p, g = tiny()
    opt = Momentum(lr=0.1, momentum=0.9)
    opt.update(p, g)            # v = -0.1 g = [-0.01, 0.02];  W = [0.99, 2.02]
    np.testing.assert_allclose(p["W"], [0.99, 2.02], atol=1e-15)
    opt.update(p, g)            # v = 0.9 v - 0.1 g = [-0.019, 0.038];  W = [0.971, 2.058]
    np.testing.assert_allclose(p["W"], [0.971, 2.058], atol=1e-15)
    np.testing.assert_allclose(p["b"], [0.5 - 0.1 - 0.19], atol=1e-15)


def test_adagrad_two_steps():
    p, g = tiny()
    opt = AdaGrad(lr=0.1)
    opt.update(p, g)            # h = g^2, step = lr * g / (|g| + 1e-7)
    np.testing.assert_allclose(p["W"], [1 - 0.1 * 0.1 / (0.1 + 1e-7), 2 + 0.1 * 0.2 / (0.2 + 1e-7)], atol=1e-15)
    opt.update(p, g)            # h = 2 g^2, step = lr * g / (sqrt(2)|g| + 1e-7)
    w0 = 1 - 0.1 * 0.1 / (0.1 + 1e-7) - 0.1 * 0.1 / (np.sqrt(2) * 0.1 + 1e-7)
    np.testing.assert_allclose(p["W"][0], w0, atol=1e-15)
    np.testing.assert_allclose(p["b"], [0.5 - 0.1 / (1 + 1e-7) - 0.1 / (np.sqrt(2) + 1e-7)], atol=1e-15)


def test_adam_three_steps_match_textbook_form():
    """The book folds bias correction into lr_t; written the textbook way the same update is
    W -= lr * m_hat / (sqrt(v_hat) + 1e-7 / sqrt(1 - beta2^t))."""
    p, _ = tiny()
    grads = [{"W": np.array([0.1, -0.2]), "b": np.array([1.0])},
             {"W": np.array([-0.3, 0.05]), "b": np.array([2.0])},
             {"W": np.array([0.2, 0.2]), "b": np.array([-1.0])}]
    lr, b1, b2 = 0.01, 0.9, 0.999
    expect = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(val) for k, val in p.items()}
    opt = Adam(lr=lr, beta1=b1, beta2=b2)
    for t, g in enumerate(grads, start=1):
        opt.update(p, g)
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            expect[k] = expect[k] - lr * m_hat / (np.sqrt(v_hat) + 1e-7 / np.sqrt(1 - b2 ** t))
            np.testing.assert_allclose(p[k], expect[k], rtol=1e-12, atol=1e-15)
    # first Adam step moves each weight by about lr, whatever the gradient's scale
    p2, g2 = tiny()
    Adam(lr=0.01).update(p2, {"W": 1000 * g2["W"], "b": g2["b"]})
    np.testing.assert_allclose(p2["W"], [0.99, 2.01], atol=1e-8)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_in_place_and_keep_dtype(name, dtype):
    p = {"W": np.ones((2, 3), dtype), "b": np.zeros(3, dtype)}
    g = {"W": np.full((2, 3), 0.5, dtype), "b": np.ones(3, dtype)}
    ids = {k: id(v) for k, v in p.items()}
    shared = p["W"]                             # a layer holding the same array sees the update
    g0 = {k: v.copy() for k, v in g.items()}
    opt = make_optimizer(name, lr=0.1)
    for _ in range(2):
        opt.update(p, g)
    assert {k: id(v) for k, v in p.items()} == ids
    assert np.all(shared < 1) and shared is p["W"]
    assert all(v.dtype == dtype for v in p.values())
    for k in g:                                 # gradients untouched
        np.testing.assert_array_equal(g[k], g0[k])


@pytest.mark.parametrize("name, kw, steps", [("adam", dict(lr=0.05), 2000), ("sgd", dict(lr=0.1), 500),
                                             ("momentum", dict(lr=0.05), 500),
                                             ("adagrad", dict(lr=0.5), 2000)])
def test_converges_on_a_quadratic(name, kw, steps):
    """f(w) = 0.5 * sum(a * (w - c)^2), minimum at c."""
    a, c = np.array([1.0, 4.0, 0.5]), np.array([3.0, -2.0, 1.0])
    p = {"w": np.zeros(3)}
    opt = make_optimizer(name, **kw)
    for _ in range(steps):
        opt.update(p, {"w": a * (p["w"] - c)})
    np.testing.assert_allclose(p["w"], c, atol=1e-2)


def test_make_optimizer():
    assert isinstance(make_optimizer("Adam", lr=0.002), Adam)
    assert make_optimizer("adam", lr=0.002).lr == 0.002
    assert isinstance(make_optimizer("SGD"), SGD)
    assert make_optimizer("momentum", momentum=0.5).momentum == 0.5
    with pytest.raises(ValueError, match=r"optimizer.*'rmsprop'"):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("")


# ------------------------------------------------------------- validation and saved state --

@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, 0, "0.1", None, True])
def test_learning_rates_are_validated_also_when_changed(name, lr):
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got"):
        make_optimizer(name, lr=lr)
    opt = make_optimizer(name, lr=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = lr
    assert opt.lr == 0.1


@pytest.mark.parametrize("name, kw", [("momentum", {"momentum": 1.0}), ("momentum", {"momentum": -0.1}),
                                      ("adam", {"beta1": 1.0}), ("adam", {"beta2": float("nan")})])
def test_other_hyperparameters_are_validated(name, kw):
    with pytest.raises(ValueError, match=f"{next(iter(kw))} must be a finite number in"):
        make_optimizer(name, **kw)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_state_round_trip_continues_bit_for_bit(name):
    """Two steps, state() into a fresh optimiser, two more: the same as four in one go."""
    rng = np.random.default_rng(0)
    grads = [{"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)} for _ in range(4)]
    p1 = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    p2 = {k: v.copy() for k, v in p1.items()}
    a = make_optimizer(name, lr=0.1)
    for g in grads:
        a.update(p1, g)
    b = make_optimizer(name, lr=0.1)
    for g in grads[:2]:
        b.update(p2, g)
    arrays, values = b.state()
    c = make_optimizer(name, lr=0.1)
    c.load_state(arrays, values, p2)
    for g in grads[2:]:
        c.update(p2, g)
    for k in p1:
        assert np.array_equal(p1[k], p2[k])
    assert set(arrays) == {f"{s}/{k}" for s in type(c).slots for k in p1}
    if arrays:                                    # a misfit array is refused, nothing changes
        bad = dict(arrays, **{sorted(arrays)[0]: np.zeros(1)})
        fresh = make_optimizer(name, lr=0.1)
        with pytest.raises(ValueError, match=f"state {sorted(arrays)[0]} must be finite"):
            fresh.load_state(bad, values, p2)
        assert fresh.state() == ({}, {c: 0 for c in type(fresh).counters})


def test_adam_state_holds_m_v_and_the_step_count():
    p, g = tiny()
    opt = Adam(lr=0.01)
    opt.update(p, g)
    arrays, values = opt.state()
    assert values == {"iter": 1} and sorted(arrays) == ["m/W", "m/b", "v/W", "v/b"]
    np.testing.assert_allclose(arrays["m/W"], 0.1 * g["W"])
    with pytest.raises(ValueError, match="iter must be an integer >= 0"):
        Adam().load_state(arrays, {"iter": -1}, p)
    with pytest.raises(ValueError, match="finite"):
        Adam().load_state(dict(arrays, **{"v/b": np.array([np.nan])}), values, p)


def test_adam_updates_a_0d_parameter_in_place():
    # a net of your own may hold a scalar parameter (e.g. a temperature)
    T = np.array(1.0)
    Adam(lr=0.1).update({"T": T}, {"T": np.array(2.0)})
    assert T.shape == () and T < 1.0
