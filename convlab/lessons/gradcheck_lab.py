"""A gradient check that can fail: break a layer on purpose and watch the relative errors.

``gradcheck_view(...)`` runs a real gradient check (backward against central differences,
``convlab.gradcheck``) of a Convolution layer and a max Pooling layer on one small seeded case
and shows each gradient's relative error against the threshold 1e-7. Each switch breaks
something, by subclassing the layers (``convlab.layers`` itself is never touched):

    break_col2im     col2im overwrites (=) where windows overlap instead of adding (+=): dx wrong
    drop_bias_grad   the bias gradient is dropped (db = 0): db wrong
    pool_every_cell  max pooling sends dout to every cell of its window, not only to the maximum
    float32          the layers, the data and the differences in float32 instead of float64

What it teaches: in float64 a correct layer's errors are rounding noise (about 1e-10), a bug's
are about 1e-1 to 1, and the threshold 1e-7 sits between them with a wide margin on each side.
In float32 even a correct layer scores about 1e-2: the loss is only accurate to about 1e-7, and
dividing its change by 2h magnifies that noise, so a float32 check cannot tell a bug from
rounding. ``h`` (the difference step) shows the other trade-off: too small and rounding noise
grows as 1/h; too large and a window's maximum can change within +-h (pooling has kinks).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..gradcheck import numerical_gradient, rel_error
from ..im2col import fold
from ..layers import Convolution, Pooling
from . import ui
from .implement import col2im_overwriting

__all__ = ["THRESHOLD", "BrokenConvolution", "BrokenPooling", "gradcheck_rows", "gradcheck_view",
           "gradcheck_explorer"]

THRESHOLD = 1e-7        # the lessons' pass line for a float64 gradient check

#: The small case every check runs on: x (N, C, H, W), W (FN, C, FH, FW), stride and pad of the
#: convolution (3x3 filters, stride 1, pad 1: windows overlap everywhere), the pooling window.
SHAPES = {"x": (2, 2, 5, 5), "W": (3, 2, 3, 3), "stride": 1, "pad": 1, "pool": (2, 2, 1)}


class BrokenConvolution(Convolution):
    """A Convolution whose backward can be broken: ``overwrite_col2im`` folds dx with an
    overwriting col2im (the book's with = for +=); ``drop_db`` leaves db at zero."""

    def __init__(self, W, b, stride=1, pad=0, overwrite_col2im=False, drop_db=False):
        super().__init__(W, b, stride, pad)
        self.overwrite_col2im, self.drop_db = overwrite_col2im, drop_db

    def backward(self, dout):
        dx = super().backward(dout)                                     # dW and db are right
        if self.drop_db:
            self.db = np.zeros_like(self.db)                            # (FN,) forgotten
        if self.overwrite_col2im:
            FN, C, FH, FW = self.W.shape
            dcol = dout.transpose(0, 2, 3, 1).reshape(-1, FN) @ self.W.reshape(FN, -1)
            #                                                           # (N*OH*OW, C*FH*FW)
            dx = col2im_overwriting(dcol, self.x_shape, FH, FW, self.stride[0], self.pad[0])
        return dx


class BrokenPooling(Pooling):
    """Max pooling whose backward, with ``every_cell``, sends each dout to every cell of its
    window instead of only to the window's maximum."""

    def __init__(self, pool_h, pool_w, stride=None, pad=0, every_cell=False):
        super().__init__(pool_h, pool_w, stride, pad)
        self.every_cell = every_cell

    def backward(self, dout):
        if not self.every_cell:
            return super().backward(dout)
        win = np.broadcast_to(dout[..., None, None], dout.shape + (self.pool_h, self.pool_w))
        return fold(win, self.x_shape, self.stride, self.pad)          # (N, C, H, W)


def _check(layer, x, params, dout, h):
    """{name: relative error} of backward against central differences of sum(forward(x)*dout),
    in the arrays' own dtype."""
    layer.forward(x)
    analytic = {"x": np.array(layer.backward(dout), dtype=np.float64)}
    for p in params:
        analytic[p] = np.array(getattr(layer, "d" + p), dtype=np.float64)

    def loss():
        return float(np.sum(layer.forward(x) * dout))

    arrays = {"x": x, **{p: getattr(layer, p) for p in params}}
    return {k: rel_error(analytic[k], numerical_gradient(loss, arrays[k], h)) for k in analytic}


def gradcheck_rows(break_col2im=False, drop_bias_grad=False, pool_every_cell=False, float32=False,
                   h=1e-5, seed=0):
    """[(layer, gradient, shape, relative error)] for the Convolution's x, W, b and the max
    Pooling's x, each layer broken as the switches say. Seeded: the same numbers every run."""
    dtype = np.float32 if float32 else np.float64
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SHAPES["x"]).astype(dtype)                  # (N, C, H, W)
    W = rng.standard_normal(SHAPES["W"]).astype(dtype)                  # (FN, C, FH, FW)
    b = rng.standard_normal(SHAPES["W"][0]).astype(dtype)               # (FN,)
    conv = BrokenConvolution(W, b, SHAPES["stride"], SHAPES["pad"], break_col2im, drop_bias_grad)
    dout = rng.standard_normal(conv.forward(x).shape).astype(dtype)     # (N, FN, OH, OW)
    rows = [("Convolution", k, (x if k == "x" else getattr(conv, k)).shape, e)
            for k, e in _check(conv, x.copy(), ("W", "b"), dout, h).items()]
    ph, pw, ps = SHAPES["pool"]
    pool = BrokenPooling(ph, pw, ps, every_cell=pool_every_cell)
    dpool = rng.standard_normal(pool.forward(x).shape).astype(dtype)    # (N, C, OH, OW)
    rows.append(("Pooling max", "x", x.shape, _check(pool, x.copy(), (), dpool, h)["x"]))
    return rows


def _sci(v):
    """7.3e-11 -> '7e-11' (one significant digit)."""
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def gradcheck_view(break_col2im=False, drop_bias_grad=False, pool_every_cell=False, float32=False,
                   h=1e-5, exact=True) -> ui.View:
    """The table of relative errors and a bar chart of log10(error) with the pass line, for the
    layers broken as the switches say. ``exact=False`` leaves the error values out of the text
    (their last digits depend on the CPU) and keeps the pass/FAIL column and the explanation."""
    rows = gradcheck_rows(break_col2im, drop_bias_grad, pool_every_cell, float32, h)
    dt = "float32" if float32 else "float64"
    lines = [f"Gradient check in {dt}, h = {_sci(h)}: Convolution W {SHAPES['W']} (stride "
             f"{SHAPES['stride']}, pad {SHAPES['pad']}) and 2x2 max pooling (stride 1) on x "
             f"{SHAPES['x']}",
             f"{'layer':<12s} {'grad':<5s}" + (f" {'rel. error':>10s}" if exact else "") +
             f"  < {_sci(THRESHOLD)}?"]
    for layer, k, _, e in rows:
        lines.append(f"{layer:<12s} {k:<5s}" + (f" {_sci(e):>10s}" if exact else "") +
                     f"  {'pass' if e < THRESHOLD else 'FAIL'}")
    lines += _explain(rows, break_col2im, drop_bias_grad, pool_every_cell, float32, h)
    fig = _figure([(f"{layer} {k}", e) for layer, k, _, e in rows], f"{dt}, h = {_sci(h)}")
    return ui.View("\n".join(lines), fig)


LOW = -16           # the bars start here: log10 of the smallest error drawn


def _figure(rows, title):
    """Bars of log10(relative error) per gradient, from 1e-16 up: green below the pass line,
    red above; the bands where float64 rounding and bugs land are shaded."""
    labels = [r[0] for r in rows]
    logs = np.log10([max(e, 10.0 ** LOW) for _, e in rows])
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.4))
    ax.axvspan(-12, -9, color="C2", alpha=0.15, lw=0, label="float64 rounding (correct layer)")
    ax.axvspan(-1.5, 0.5, color="C3", alpha=0.15, lw=0, label="bugs")
    ax.barh(range(len(rows)), logs - LOW, left=LOW, height=0.6,
            color=["C2" if v < np.log10(THRESHOLD) else "C3" for v in logs])
    ax.axvline(np.log10(THRESHOLD), color="k", ls="--", lw=1, label=f"pass line {_sci(THRESHOLD)}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(LOW, 1)
    ax.set_xlabel("log10(relative error): shorter is better")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _explain(rows, break_col2im, drop_bias_grad, pool_every_cell, float32, h):
    """The sentences under the table: what broke, what it did, why the threshold sits there."""
    err = {f"{layer.split()[0]} {k}": e for layer, k, _, e in rows}
    broken = {"Convolution x": break_col2im, "Convolution W": False,
              "Convolution b": drop_bias_grad, "Pooling x": pool_every_cell}
    out = []
    if break_col2im:
        out.append(f"col2im overwrites: each pixel keeps only the LAST window's contribution, so "
                   f"dx misses the rest (error {_sci(err['Convolution x'])}); dW and db do not use "
                   f"col2im and stay right.")
    if drop_bias_grad:
        out.append("db dropped: backward leaves db = 0, so max|0 - db| / max|db| = 1 exactly.")
    if pool_every_cell:
        out.append(f"Pooling sends dout to every cell of the window: cells that are not the "
                   f"maximum get gradient they never earned (error {_sci(err['Pooling x'])}).")
    worst = max(e for name, e in err.items() if not broken[name])     # W is never broken
    if float32:
        out.append(f"float32: even the gradients nothing broke score up to {_sci(worst)}. A "
                   f"float32 loss is accurate to about 1e-7 of its size; a central difference "
                   f"divides its change by 2h, which magnifies that noise, so a float32 check "
                   f"cannot tell a bug from rounding" + (" (a larger h, 1e-3, shrinks the noise but never "
                   "to 1e-7)" if h < 1e-4 else "") + ". Gradient checks run in float64.")
    elif worst < THRESHOLD:
        rest = "Nothing else is broken: those" if any(broken.values()) else "Nothing is broken: the"
        out.append(f"{rest} errors (at most {_sci(worst)}) are float64 "
                   f"rounding. The threshold {_sci(THRESHOLD)} sits between that noise "
                   f"(about 1e-10) and what a bug gives (about 1e-1 to 1), far from both.")
    else:
        out.append(f"Nothing is broken, yet an error reaches {_sci(worst)}: with h = {_sci(h)} "
                   + ("rounding noise, which grows as 1/h, swamps the difference"
                      if h < 1e-6 else "a window's maximum can change within +-h, where the "
                      "max has a kink, so the difference straddles it") + ". The default h = "
                   "1e-5 balances the two.")
    return out


def gradcheck_explorer():
    """Switches that break the layers, float32, and the step h: the check redraws at once."""
    return ui.explorer(gradcheck_view, {
        "break_col2im": ui.toggle("col2im overwrites (= not +=)"),
        "drop_bias_grad": ui.toggle("db dropped"),
        "pool_every_cell": ui.toggle("pooling grad to every cell"),
        "float32": ui.toggle("float32"),
        "h": ui.log_slider("step h", 1e-5, -9, -1, step=1.0)})
