"""Cross-check against PyTorch (optional: skipped, not failed, when torch is absent).
Convolution, Pooling and LRN outputs and gradients equal torch's to 1e-10 in float64."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from convlab.layers import LRN, Convolution, Pooling

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)           # the CI machine is shared; these tensors are tiny anyway
seeds = st.integers(0, 2**32 - 1)
ATOL = 1e-10


def close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=ATOL)


@st.composite
def conv_case(draw):
    N, C, FN = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    FH, FW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    D = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hmin, wmin = max(1, D[0] * (FH - 1) + 1 - 2 * P[0]), max(1, D[1] * (FW - 1) + 1 - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + 6)), draw(st.integers(wmin, wmin + 6))
    return (N, C, H, W), (FN, C, FH, FW), S, P, D


@given(case=conv_case(), seed=seeds)
@example(case=((2, 3, 7, 9), (4, 3, 3, 2), (2, 3), (1, 2), (2, 1)), seed=0)
def test_convolution_matches_torch(case, seed):
    xs, ws, S, P, D = case
    rng = np.random.default_rng(seed)
    x, Wt, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    layer = Convolution(Wt, b, S, P, D)
    out = layer.forward(x)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, Wt, b))
    tout = F.conv2d(tx, tW, tb, stride=S, padding=P, dilation=D)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    tout.backward(torch.tensor(dout))
    close(dx, tx.grad)
    close(layer.dW, tW.grad)
    close(layer.db, tb.grad)


@st.composite
def pool_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    S = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    P = (draw(st.integers(0, PH // 2)), draw(st.integers(0, PW // 2)))
    hmin, wmin = max(1, PH - 2 * P[0]), max(1, PW - 2 * P[1])
    H, W = draw(st.integers(hmin, hmin + 6)), draw(st.integers(wmin, wmin + 6))
    return (N, C, H, W), (PH, PW), S, P


@given(case=pool_case(), mode=st.sampled_from(["max", "avg"]), seed=seeds)
@example(case=((2, 2, 5, 6), (3, 2), (2, 1), (1, 1)), mode="max", seed=0)
@example(case=((2, 2, 5, 6), (3, 2), (2, 1), (1, 1)), mode="avg", seed=0)
def test_pooling_matches_torch(case, mode, seed):
    xs, (PH, PW), S, P = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs)
    layer = Pooling(PH, PW, S, P, mode)
    out = layer.forward(x)
    tx = torch.tensor(x, requires_grad=True)
    if mode == "max":
        tout = F.max_pool2d(tx, (PH, PW), stride=S, padding=P)
    else:
        tout = F.avg_pool2d(tx, (PH, PW), stride=S, padding=P, count_include_pad=True)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 4)),
       n=st.integers(1, 7), k=st.floats(0.5, 2.0), alpha=st.floats(1e-4, 1.0), beta=st.floats(0.25, 1.0),
       seed=seeds)
@example(shape=(2, 6, 3, 3), n=5, k=2.0, alpha=1e-4, beta=0.75, seed=0)     # AlexNet's values
def test_lrn_matches_torch(shape, n, k, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    layer = LRN(n, k, alpha, beta)
    out = layer.forward(x)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.LocalResponseNorm(n, alpha=alpha, beta=beta, k=k)(tx)
    close(out, tout)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    close(layer.backward(dout), tx.grad)
