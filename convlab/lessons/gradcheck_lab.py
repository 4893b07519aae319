"""Lesson 5's gradient check (notebooks/05_forward_backward.ipynb): one view and one explorer,
with switches that break a layer so the learner sees what failure looks like.

``gradcheck_view(...)`` runs a real gradient check (backward against central differences,
``convlab.gradcheck``) of this chapter's layers on one small seeded case: a Convolution (its x,
W and b) with the filter size, stride and padding of the sliders, and 2x2 max and average
Pooling (the same stride, padding up to 1). Each gradient's relative error is shown against the
threshold 1e-7. Each switch breaks something, by subclassing the layers (``convlab.layers``
itself is never touched):

    break_col2im     col2im overwrites (=) where windows overlap instead of adding (+=): dx wrong,
                     but only where windows overlap (with stride >= filter the bug hides)
    drop_bias_grad   the bias gradient is dropped (db = 0): db wrong, error exactly 1
    pool_every_cell  max pooling sends dout to every cell of its window, not only to the maximum
    float32          the layers, the data and the differences in float32 instead of float64

What it teaches: in float64 a correct layer's errors are rounding noise (about 1e-10), a bug's
are about 1e-1 to 1, and the threshold 1e-7 sits between them with a wide margin on each side.
In float32 even a correct layer scores about 1e-3 to 1e-1: the loss is only accurate to about
1e-7 of its size, and dividing its change by 2h magnifies that noise, so a float32 check cannot
tell a bug from rounding. ``h`` (the difference step) shows the other trade-off: too small and
rounding noise grows as 1/h; too large and a window's maximum can change within +-h (max
pooling has kinks). ``exact=False`` prints no error value that depends on the machine (for
compared notebook cells); the figure always has them.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..arith import conv_output_size
from ..gradcheck import numerical_gradient, rel_error
from ..im2col import fold
from ..layers import Convolution, Pooling
from . import ui
from .implement import col2im_overwriting

__all__ = ["THRESHOLD", "X_SHAPE", "BrokenConvolution", "BrokenPooling", "gradcheck_rows",
           "gradcheck_view", "gradcheck_explorer", "plot_gradcheck"]

THRESHOLD = 1e-7        # the lessons' pass line for a float64 gradient check
X_SHAPE = (2, 2, 5, 5)  # the input every check runs on: (N, C, H, W); the Convolution has FN = 3


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
    """Pooling whose max backward, with ``every_cell``, sends each dout to every cell of its
    window instead of only to the window's maximum."""

    def __init__(self, pool_h, pool_w, stride=None, pad=0, mode="max", every_cell=False):
        super().__init__(pool_h, pool_w, stride, pad, mode)
        self.every_cell = every_cell and mode == "max"

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


def gradcheck_rows(filter_size=3, stride=1, pad=1, break_col2im=False, drop_bias_grad=False,
                   pool_every_cell=False, float32=False, h=1e-5, seed=0):
    """[(layer, gradient, shape, relative error)] for the Convolution's x, W, b (FN = 3 filters of
    filter_size x filter_size) and 2x2 max and average Pooling's x (same stride, pad at most 1),
    each layer broken as the switches say. Seeded: the same numbers on every run."""
    dtype = np.float32 if float32 else np.float64
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(X_SHAPE).astype(dtype)                      # (N, C, H, W)
    W = rng.standard_normal((3, X_SHAPE[1], filter_size, filter_size)).astype(dtype)  # (FN, C, FH, FW)
    b = rng.standard_normal(3).astype(dtype)                            # (FN,)
    conv = BrokenConvolution(W, b, stride, pad, break_col2im, drop_bias_grad)
    dout = rng.standard_normal(conv.forward(x).shape).astype(dtype)     # (N, FN, OH, OW)
    rows = [("Convolution", k, (x if k == "x" else getattr(conv, k)).shape, e)
            for k, e in _check(conv, x.copy(), ("W", "b"), dout, h).items()]
    for mode in ("max", "avg"):
        pool = BrokenPooling(2, 2, stride, min(pad, 1), mode, every_cell=pool_every_cell)
        dpool = rng.standard_normal(pool.forward(x).shape).astype(dtype)  # (N, C, OH, OW)
        rows.append((f"Pooling {mode}", "x", x.shape, _check(pool, x.copy(), (), dpool, h)["x"]))
    return rows


def _sci(v):
    """7.3e-11 -> '7e-11' (one significant digit)."""
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def gradcheck_view(filter_size=3, stride=1, pad=1, break_col2im=False, drop_bias_grad=False,
                   pool_every_cell=False, float32=False, h=1e-5, exact=True) -> ui.View:
    """The table of relative errors, what they mean, and a bar chart of log10(error) with the
    pass line. ``exact=False`` leaves out every error value whose digits depend on the CPU (the
    table's column, rounding noise in the text) and keeps pass/FAIL and the explanation."""
    rows = gradcheck_rows(filter_size, stride, pad, break_col2im, drop_bias_grad, pool_every_cell,
                          float32, h)
    dt = "float32" if float32 else "float64"
    lines = [f"Gradient check in {dt}, h = {_sci(h)}, x {X_SHAPE}: Convolution {filter_size}x"
             f"{filter_size} (stride {stride}, pad {pad}); 2x2 Pooling (stride {stride}, pad "
             f"{min(pad, 1)})",
             f"{'layer':<12s} {'grad':<5s} {'shape':<14s}" + (f" {'rel. error':>10s}" if exact else "")
             + f"  < {_sci(THRESHOLD)}?"]
    for layer, k, shape, e in rows:
        lines.append(f"{layer:<12s} {k:<5s} {str(shape):<14s}" + (f" {e:10.1e}" if exact else "")
                     + f"  {'pass' if e < THRESHOLD else 'FAIL'}")
    switches = {"break_col2im": break_col2im, "drop_bias_grad": drop_bias_grad,
                "pool_every_cell": pool_every_cell}
    lines += _explain(rows, filter_size, stride, pad, switches, float32, h, exact)
    fig = plot_gradcheck([(f"{layer} {k}", e) for layer, k, _, e in rows], f"{dt}, h = {_sci(h)}")
    return ui.View("\n".join(lines), fig)


def _explain(rows, F, S, P, switches, float32, h, exact):
    """The sentences under the table: what broke, what it did, why the threshold sits there."""
    err = {f"{layer} {k}": e for layer, k, _, e in rows}
    broken = {"Convolution x": switches["break_col2im"], "Convolution b": switches["drop_bias_grad"],
              "Pooling max x": switches["pool_every_cell"]}
    size = (lambda e: f" (error {_sci(e)})") if exact else (lambda e: "")
    out = []
    if switches["break_col2im"]:
        OH = conv_output_size(X_SHAPE[2], F, S, P)
        e = err["Convolution x"]
        if e < THRESHOLD and (S >= F or OH == 1):
            out.append(f"col2im overwrites, yet dx passes: with a {F}x{F} filter and stride {S} no "
                       f"two windows share a pixel, so = does what += does. A gradient check finds "
                       f"this bug only where windows overlap: check with stride < filter.")
        else:
            out.append(f"col2im overwrites: where windows overlap, each pixel keeps only the LAST "
                       f"window's contribution, so dx misses the rest{size(e)}; dW and db do not "
                       f"use col2im and stay right.")
    if switches["drop_bias_grad"]:
        out.append("db dropped: backward leaves db = 0, so max|0 - db| / max|db| = 1 exactly.")
    if switches["pool_every_cell"]:
        out.append(f"Max pooling sends dout to every cell of the window: cells that are not the "
                   f"maximum get gradient they never earned{size(err['Pooling max x'])}. Average "
                   f"pooling is meant to do that (with dout / 4) and still passes.")
    unbroken = [e for name, e in err.items() if not broken.get(name)]
    worst = max(unbroken)
    if float32:
        if worst > THRESHOLD:
            out.append(f"float32: even the gradients nothing broke fail" +
                       (f" (up to {_sci(worst)})" if exact else "") + ". A float32 loss is "
                       "accurate to about 1e-7 of its size; a central difference divides its change "
                       "by 2h, which magnifies that noise, so a float32 check cannot tell a bug from "
                       "rounding. Gradient checks run in float64.")
        else:
            out.append("float32, and still the unbroken gradients pass here: at this h the "
                       "rounding noise happens to stay small. Do not count on it: checks run in float64.")
    elif worst < THRESHOLD:
        rest = "Nothing else is broken: those" if any(switches.values()) else "Nothing is broken: the"
        noise = f"at most {_sci(worst)}" if exact else "far below the threshold"
        out.append(f"{rest} errors ({noise}) are float64 rounding. The threshold "
                   f"{_sci(THRESHOLD)} sits between that noise (about 1e-10 at h = 1e-5) and what "
                   f"a bug gives (about 1e-1 to 1), far from both.")
    else:
        out.append(f"Nothing is broken, yet a gradient fails with h = {_sci(h)}: " +
                   ("rounding noise, which grows as 1/h, swamps the difference" if h < 1e-6 else
                    "a window's maximum can change within +-h, where the max has a kink, so the "
                    "difference straddles it") + ". The default h = 1e-5 balances the two.")
    return out


LOW = -16           # the bars start here: log10 of the smallest error drawn


def plot_gradcheck(rows, title=""):
    """Bars of log10(relative error) per gradient, from 1e-16 up: green below the pass line,
    red above; the bands where float64 rounding and bugs land are shaded. ``rows``: list of
    (label, error). Returns the figure."""
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


def gradcheck_explorer():
    """Filter size, stride and padding; switches that break the layers; float32; the step h.
    The check redraws at once."""
    return ui.explorer(gradcheck_view, {
        "filter_size": ui.slider("filter", 3, 1, 4),
        "stride": ui.slider("stride", 1, 1, 3),
        "pad": ui.slider("padding", 1, 0, 2),
        "break_col2im": ui.toggle("col2im overwrites (= not +=)"),
        "drop_bias_grad": ui.toggle("db dropped"),
        "pool_every_cell": ui.toggle("max pooling grad to every cell"),
        "float32": ui.toggle("float32"),
        "h": ui.log_slider("step h", 1e-5, -9, -1, step=1.0)})
