"""convlab/fast/optim.py: the fast path's optimiser update is the plain rule's numbers, split
into row shares or not, and keeps Adam's m and v out of the subnormal range."""
import numpy as np
import pytest

from convlab.fast import optim as fast_optim
from convlab.fast.optim import SPLIT_MIN, share, update
from convlab.optim import SGD, AdaGrad, Adam, Momentum


@pytest.mark.parametrize("make", [lambda: Adam(lr=0.01), lambda: SGD(lr=0.1),
                                  lambda: Momentum(lr=0.1), lambda: AdaGrad(lr=0.1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_is_the_plain_rule_bit_for_bit(make, dtype):
    rng = np.random.default_rng(1)
    shapes = {"W": (40, 30), "b": (30,), "T": ()}
    params = [{k: np.asarray(rng.standard_normal(s), dtype) for k, s in shapes.items()}]
    params.append({k: p.copy() for k, p in params[0].items()})
    opts = [make(), make()]
    for _ in range(5):
        grads = {k: np.asarray(rng.standard_normal(s), dtype) for k, s in shapes.items()}
        opts[0].update(params[0], grads)
        update(opts[1], params[1], grads)
    for k in shapes:
        assert params[1][k].dtype == dtype
        np.testing.assert_array_equal(params[1][k], params[0][k], err_msg=k)
    assert opts[0].state()[1] == opts[1].state()[1]


def test_a_subclass_of_adam_keeps_its_own_rule():
    class Mine(Adam):
        def update(self, params, grads):
            params["W"][...] = 42
    W = np.zeros(3)
    update(Mine(), {"W": W}, {"W": np.ones(3)})
    assert np.all(W == 42)


def test_adam_split_into_shares_changes_nothing():
    rng = np.random.default_rng(0)
    shapes = {"W": (7, 5), "b": (5,), "big": (301, 13)}
    params = [{k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()} for _ in range(2)]
    params[1] = {k: p.copy() for k, p in params[0].items()}
    opts = [Adam(lr=0.01), Adam(lr=0.01)]
    calls = []

    def split(fn, n=3):                                      # a runner: shares 0, 1, 2 in turn
        calls.append(n)
        for i in range(n):
            fn(i, n)
    for step in range(5):
        grads = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        opts[0].update(params[0], grads)                       # the plain rule
        update(opts[1], params[1], grads, split=split)
    assert calls == [3] * 5
    for k in shapes:
        np.testing.assert_array_equal(params[1][k], params[0][k], err_msg=k)
        np.testing.assert_array_equal(opts[1].m[k], opts[0].m[k])
    # a parameter that is not contiguous is updated in place too (shares are rows)
    W = np.zeros((6, 4), np.float32)[:, ::2]
    update(Adam(), {"W": W}, {"W": np.ones_like(W)}, split=split)
    assert np.all(W < 0)


def test_share_gives_every_row_to_exactly_one_call():
    for shape in [(4320, 100), (30, 1, 5, 5), (10,), (SPLIT_MIN,), (7, SPLIT_MIN)]:
        a = np.empty(shape, np.float32)
        for n in (1, 2, 3, 8):
            rows = [share(a, i, n) for i in range(n)]
            covered = np.concatenate([np.arange(lo, hi) for lo, hi in rows])
            np.testing.assert_array_equal(covered, np.arange(len(a)))   # each row once, in order
            if a.size < SPLIT_MIN:
                assert rows[0] == (0, len(a))                  # small: whole to call 0


def test_adam_never_lets_m_or_v_become_subnormal_and_weights_do_not_notice(monkeypatch):
    """Adam flushes m and v entries below 1e-30 every 64 updates (fast.fast_optim.FLUSH_EVERY): a weight
    whose gradient stays 0 would otherwise drag its m into subnormal numbers (slow on x86)."""
    tiny, every = np.finfo(np.float32).tiny, fast_optim.FLUSH_EVERY

    def train(flush):
        monkeypatch.setattr(fast_optim, "FLUSH_EVERY", every if flush else 10**9)
        rng = np.random.default_rng(0)
        p = {"W": rng.standard_normal((50, 20)).astype(np.float32)}
        opt, subnormal = Adam(lr=0.001), False
        for step in range(1, 1201):
            g = rng.standard_normal((50, 20)).astype(np.float32) if step <= 5 else np.zeros((50, 20), np.float32)
            update(opt, p, {"W": g})
            m = opt.m["W"]
            subnormal |= bool(np.any((m != 0) & (np.abs(m) < tiny)))
            if flush and step % fast_optim.FLUSH_EVERY == 0:
                assert np.all((m == 0) | (np.abs(m) >= fast_optim.FLUSH_BELOW))
        return p["W"], subnormal

    w_plain, subnormal_plain = train(flush=False)
    w_flushed, subnormal_flushed = train(flush=True)
    assert subnormal_plain and not subnormal_flushed           # the test can tell them apart
    np.testing.assert_array_equal(w_flushed, w_plain)           # and no weight moved differently


