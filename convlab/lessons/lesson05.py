"""Lesson 5, forward and backward: the views, explorer, figures and answer checks of
notebooks/05_forward_backward.ipynb.

Views (each returns a ``View``: text + figure): ``pool_backward_view`` (input with each window's
winner, dout and dx of one pooling channel) and ``gradcheck_view`` (backward against central
differences for Convolution and Pooling, with switches that break a layer). Explorer:
``gradcheck_explorer``. The gradient check lives in ``convlab.lessons.gradcheck_lab`` (imported
here). Checks: ``check_pool_backward`` and ``check_conv_db``; the implement-it checks
``check_conv_backward`` and ``check_max_pool_backward`` (on ``implement``'s machinery).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..im2col import fold, windows
from ..layers import Convolution, Pooling
from .check import answer_check, as_array, report
from .draw import cell_text, cells, finish
from .gradcheck_lab import gradcheck_explorer, gradcheck_rows, gradcheck_view, plot_gradcheck
from .implement import (col2im_overwriting, compare, conv_cases, fold_loop, pad_one_side,
                        pool_cases, run_check, size_cause)
from .ui import View

__all__ = ["POOL_BACKWARD_X", "POOL_BACKWARD_DOUT", "CONV_DB_DOUT", "pool_backward_view",
           "gradcheck_rows", "gradcheck_view", "gradcheck_explorer", "plot_pool_backward",
           "plot_gradcheck", "check_pool_backward", "check_conv_db", "check_conv_backward",
           "check_max_pool_backward"]

#: Exercise 1: 2x2 max pooling, stride 2, of this input (ties on purpose) and this dout.
POOL_BACKWARD_X = np.array([[1, 5, 2, 2],
                            [5, 0, 1, 0],
                            [3, 1, 4, 9],
                            [2, 3, 9, 1]], dtype=float)                 # (H, W)
POOL_BACKWARD_DOUT = np.array([[10, 20],
                               [30, 40]], dtype=float)                  # (OH, OW)

#: Exercise 2: the dout a Convolution layer with FN = 3 filters receives.
CONV_DB_DOUT = np.arange(24, dtype=float).reshape(2, 3, 2, 2) % 5 - 2   # (N, FN, OH, OW)


# ----------------------------------------------------------------------------------- views --

def pool_backward_view(x, dout, dx, mode="max", winners=()) -> View:
    """Pooling's backward pass on one channel, drawn: input x (2-D) with each window's winner
    shaded, dout and dx side by side. ``winners``: (row, col) in x of each window's winning cell
    (max pooling). The figure only; the notebook prints the numbers."""
    return View("", plot_pool_backward(x, dout, dx, mode, winners))


# --------------------------------------------------------------------------------- figures --

def plot_pool_backward(x, dout, dx, mode="max", winners=()):
    """Input x (winners shaded), dout and dx of one pooling channel in three panels.
    ``winners``: (row, col) of each window's winner in x. Returns the figure."""
    x, dout, dx = (np.asarray(a, dtype=float) for a in (x, dout, dx))
    winners = {tuple(int(v) for v in w) for w in winners}
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    panels = [(x, "input x", lambda i, j: (i, j) in winners),
              (dout, "dout (gradient from above)", lambda i, j: False),
              (dx, f"dx ({'to the first max' if mode == 'max' else 'spread evenly'})",
               lambda i, j: dx[i, j] != 0)]
    for ax, (m, title, marked) in zip(axes, panels):
        fc = [["#fde2a8" if marked(i, j) else "white" for j in range(m.shape[1])] for i in range(m.shape[0])]
        cells(ax, *m.shape, face=fc, values=m, fmt=cell_text, label=title, fontsize=9)
        finish(ax, max(m.shape[1], 4), max(m.shape[0], 4), above=1.4)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.03, wspace=0.15)
    return fig


# -------------------------------------------------------------------------------- exercises --

@answer_check
def check_pool_backward(answer) -> bool:
    """Exercise 1: dx of 2x2 max pooling, stride 2, for POOL_BACKWARD_X and POOL_BACKWARD_DOUT
    (ties go to the first maximum in row-major order), as a 4x4 list of lists or array."""
    layer = Pooling(2, 2, stride=2)
    layer.forward(POOL_BACKWARD_X[None, None])
    want = np.array(layer.backward(POOL_BACKWARD_DOUT[None, None])[0, 0])      # (H, W)
    got = as_array(answer, ndim=2)
    ok = got is not None and got.shape == want.shape and np.array_equal(got, want)
    return report(ok, "each window's gradient went to its first maximum; every other cell got 0.",
                  "dx has the input's shape (4, 4) and is 0 everywhere except one cell per window: the "
                  "position of that window's maximum (on a tie, the first one reading row by row), "
                  "which receives that window's dout.")


@answer_check
def check_conv_db(answer) -> bool:
    """Exercise 2: db of a Convolution layer for dout = CONV_DB_DOUT of shape (N, FN, OH, OW);
    three whole numbers (a list, tuple or array). Exact: db is a sum of whole numbers."""
    want = CONV_DB_DOUT.sum(axis=(0, 2, 3))                              # (FN,)
    got = as_array(answer, ndim=1)
    ok = got is not None and got.shape == want.shape and np.array_equal(got, want)
    return report(ok, f"db = dout summed over N, OH and OW = {want.astype(int).tolist()}: each bias "
                      f"was added at every position of every image.",
                  "db has one entry per filter (shape (FN,) = (3,)); sum dout over every axis "
                  "except the filter axis 1.")


# ----------------------------------------------------------------- lesson 5: conv_backward --

def _conv_grads(x, W, b, dout, S, P):
    layer = Convolution(W, b, S, P)
    layer.forward(x)
    dx = layer.backward(dout).copy()
    return dx, layer.dW.copy(), layer.db.copy()                        # shapes of x, W, b


def _dx_assign_windows(x, W, dout, S, P, per_filter):
    """dx by a loop that writes (=) each window's contribution, per window or per filter."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = dout.shape[2:]
    dxp = np.zeros((N, C, H + 2 * P, Wd + 2 * P))
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                y, xx = oy * S, ox * S
                if per_filter:
                    for f in range(FN):
                        dxp[n, :, y:y + FH, xx:xx + FW] = W[f] * dout[n, f, oy, ox]
                else:
                    dxp[n, :, y:y + FH, xx:xx + FW] = np.tensordot(dout[n, :, oy, ox], W, 1)
    return dxp[:, :, P:P + H, P:P + Wd]


def _conv_backward_explain(c, got, want):
    x, W, b, dout = c.args
    g, S, P = c.geo, c.geo["S"], c.geo["P"]
    N, FN = g["N"], g["FN"]
    OH, OW = dout.shape[2:]
    names = ("dx", "dW", "db")
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        what = (f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                else "None" if got is None else f"a {type(got).__name__}")
        return f"return the three gradients as a tuple (dx, dW, db); your function returned {what}"
    if any(a is None for a in got):
        missing = [n for n, a in zip(names, got) if a is None]
        said = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        return (f"{said} {'is' if len(missing) == 1 else 'are'} None: compute "
                f"every gradient and return them as (dx, dW, db)")
    shapes = [getattr(a, "shape", None) for a in got]
    wanted = [a.shape for a in want]
    if shapes != wanted and sorted(map(str, shapes)) == sorted(map(str, wanted)):
        order = [names[wanted.index(s)] for s in shapes]
        return f"return (dx, dW, db) in this order; yours looks like ({', '.join(order)})"
    dcol_W = lambda Wk: np.tensordot(dout, Wk, axes=(1, 0)).transpose(0, 3, 1, 2, 4, 5)  # noqa: E731
    #                                                   (N, C, OH, OW, FH, FW): window gradients
    assigned = ("dx: overlapping windows assigned instead of summed: a pixel in several windows "
                "gets the sum of their contributions (+=)")
    dx_variants = [
        (assigned, lambda: col2im_overwriting(dcol_W(W).transpose(0, 2, 3, 1, 4, 5).reshape(
            N * OH * OW, -1), x.shape, g["FH"], g["FW"], S, P)),
        (assigned, lambda: _dx_assign_windows(x, W, dout, S, P, per_filter=False)),
        (assigned + " (and over the FN filters)",
         lambda: _dx_assign_windows(x, W, dout, S, P, per_filter=True)),
        ("dx: kernel flipped: each output cell sends dout * W[f] back onto its window as it "
         "is, no flip", lambda: fold(dcol_W(W[:, :, ::-1, ::-1]), x.shape, S, P)),
        ("dx: stride ignored: the window of output (oy, ox) starts at row oy*stride, column "
         "ox*stride", lambda: fold_loop(dcol_W(W), x.shape, S, P, step=1)),
        ("dx: the padding cut off at the wrong place: drop `pad` rows and columns on EACH side",
         lambda: fold_loop(dcol_W(W), x.shape, S, P, crop_start=True)),
    ]
    v = windows(x, g["FH"], g["FW"], S, P)                                 # (N, C, OH, OW, FH, FW)
    dW_of = lambda vv, d: np.einsum("nfyx,ncyxij->fcij", d, vv)         # noqa: E731
    dW_variants = [
        ("dW: only the last image counts: sum over all N images (+=, not =)",
         lambda: dW_of(v[-1:], dout[-1:])),
        ("dW: only the first image counts: sum over all N images", lambda: dW_of(v[:1], dout[:1])),
        ("dW: divided by N: sum over the images, do not average", lambda: want[1] / N),
        ("dW: kernel flipped: dW[f, c, i, j] pairs dout with the window's pixel (i, j), no flip",
         lambda: want[1][:, :, ::-1, ::-1]),
        ("dW: stride ignored: the window of output (oy, ox) starts at row oy*stride",
         lambda: dW_of(windows(x, g["FH"], g["FW"], 1, P)[:, :, :OH, :OW], dout)),
        ("dW: padding on one side only: pad adds `pad` zeros on EACH side",
         lambda: dW_of(windows(pad_one_side(x, P), g["FH"], g["FW"], S, 0), dout)),
        ("dW: the bias's gradient got in: dW needs only dout and x's windows",
         lambda: want[1] + want[2][:, None, None, None]),
    ]
    db_variants = [
        ("db is all zeros: the bias gradient is dout summed over N, OH and OW", lambda: 0 * want[2]),
        ("db: only the last image counts: sum over N too, dout.sum(axis=(0, 2, 3))",
         lambda: dout[-1].sum(axis=(1, 2))),
        ("db: only the first image counts: sum over N too, dout.sum(axis=(0, 2, 3))",
         lambda: dout[0].sum(axis=(1, 2))),
        ("db: averaged: sum dout over N, OH and OW, do not take the mean",
         lambda: dout.mean(axis=(0, 2, 3))),
        ("db: divided by N: sum over the images, do not average", lambda: want[2] / N),
    ]

    def db_shape(s):
        if s == () or s == (1,) and FN > 1:
            return "db has one number per filter, not a single total: sum over axes (0, 2, 3) only"
        if len(s) > 1:
            return "db not summed over N, OH and OW: db = dout.sum(axis=(0, 2, 3))"
        return None

    def dW_shape(s):
        if tuple(s) == (g["C"], FN, g["FH"], g["FW"]):
            return "dW has W's shape (FN, C, FH, FW), filter first"
        if len(s) == 2:
            return "dW still in column form: reshape it to W's shape (FN, C, FH, FW)"
        return None

    def dx_shape(s):
        if len(s) != 4:
            return "dx must be 4-D (N, C, H, W)"
        return size_cause(s[2:], g, cropped_input=True)

    checks = [("dx", "(N, C, H, W)", dx_variants, dx_shape),
              ("dW", "(FN, C, FH, FW)", dW_variants, dW_shape),
              ("db", "(FN,)", db_variants, db_shape)]
    hints = {}
    for (name, layout, variants, shape_cause), a, w in zip(checks, got, want):
        hint = compare(name, layout, a, w, variants, shape_cause)
        if hint:
            hints[name] = hint if hint.startswith(name) else f"{name}: {hint}"
    if not hints:
        return None
    right = [n for n in names if n not in hints]
    note = f" ({' and '.join(right)} {'is' if len(right) == 1 else 'are'} right)" if right else ""
    return next(iter(hints.values())) + note


@answer_check
def check_conv_backward(fn):
    """Lesson 5: ``fn(x, W, b, dout, stride=1, pad=0) -> (dx, dW, db)`` (see
    STUBS['conv_backward']) against convlab's ``Convolution.backward``."""
    return run_check(fn, "conv_backward", conv_cases(backward=True), ("x", "W", "b", "dout"),
                     lambda c: _conv_grads(*c.args, c.geo["S"], c.geo["P"]), _conv_backward_explain,
                     "your conv_backward agrees with convlab's Convolution.backward (dx, dW and db)")


# ------------------------------------------------------------- lesson 5: max_pool_backward --

def _pool_grad(x, dout, PH, PW, S, P):
    layer = Pooling(PH, PW, S, P)
    layer.forward(x)
    return layer.backward(dout).copy()                                 # (N, C, H, W)


def _pool_backward_loop(x, dout, PH, PW, S, P, pad_value=-np.inf, tie="first", assign=None,
                        step=None, crop_start=False):
    """Max pooling backward by loops, with switchable mistakes: ``tie`` 'first'/'last'/'all',
    ``assign`` None (+=), 'max' (= into the max cell) or 'window' (= into the whole window),
    ``step`` the placement step, ``crop_start`` the wrong crop."""
    N, C, H, W = x.shape
    OH, OW = dout.shape[2:]
    step = S if step is None else step
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)), constant_values=pad_value)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    y, xx = oy * step, ox * step
                    w = xp[n, c, y:y + PH, xx:xx + PW]
                    mask = w == w.max()
                    if tie != "all":
                        k = int(np.flatnonzero(mask)[0 if tie == "first" else -1])
                        mask = np.zeros_like(mask)
                        mask.flat[k] = True
                    g = mask * dout[n, c, oy, ox]
                    if assign == "window":
                        dxp[n, c, y:y + PH, xx:xx + PW] = g
                    elif assign == "max":
                        dxp[n, c, y:y + PH, xx:xx + PW][mask] = dout[n, c, oy, ox]
                    else:
                        dxp[n, c, y:y + PH, xx:xx + PW] += g
    return dxp[:, :, :H, :W] if crop_start else dxp[:, :, P:P + H, P:P + W]


def _pool_backward_explain(c, got, want):
    x, dout, PH, PW = c.args
    S, P = c.geo["S"], c.geo["P"]
    loop = lambda **kw: _pool_backward_loop(x, dout, PH, PW, S, P, **kw)  # noqa: E731
    def every(d):                                                   # d to every cell of its window
        return fold(np.broadcast_to(d[..., None, None], d.shape + (PH, PW)), x.shape, S, P)
    assigned = ("overlapping windows assigned instead of summed: a cell that is the maximum of "
                "several windows gets the sum of their dout (+=)")
    variants = [
        ("gradient sent to every cell of the window: only the window's maximum receives dout",
         lambda: every(dout)),
        ("gradient spread evenly over the window (that is average pooling's backward): max "
         "pooling sends all of dout to the window's maximum", lambda: every(dout / (PH * PW))),
        ("the maximum receives 1 instead of dout: multiply by dout[n, c, oy, ox]",
         lambda: _pool_grad(x, np.ones_like(dout), PH, PW, S, P)),
        (assigned, lambda: loop(assign="max")),
        (assigned + "; writing the whole window also wipes what earlier windows left",
         lambda: loop(assign="window")),
        ("every tied maximum got dout: on a tie only the FIRST maximum (row by row, what "
         "np.argmax returns) receives it", lambda: loop(tie="all")),
        ("on a tie the LAST maximum got dout: the first one (row by row, what np.argmax "
         "returns) receives it", lambda: loop(tie="last")),
        ("padded with 0 instead of -inf: a zero in the padding became a window's maximum; pad "
         "with -inf so padding never wins", lambda: loop(pad_value=0.0)),
        ("stride ignored: the window of output (oy, ox) starts at row oy*stride, column ox*stride",
         lambda: loop(step=1)),
        ("the padding cut off at the wrong place: drop `pad` rows and columns on EACH side",
         lambda: loop(crop_start=True)),
    ]

    def shape_cause(s):
        if len(s) != 4:
            return "dx must be 4-D, x's shape (N, C, H, W)"
        if tuple(s) == dout.shape:
            return "dx has x's shape, not dout's: it is the gradient with respect to x"
        return size_cause(s[2:], c.geo, cropped_input=True)
    return compare("dx", "(N, C, H, W)", got, want, variants, shape_cause)


@answer_check
def check_max_pool_backward(fn):
    """Lesson 5: ``fn(x, dout, pool_h, pool_w, stride=1, pad=0) -> dx (N, C, H, W)`` (see
    STUBS['max_pool_backward']) against convlab's ``Pooling.backward`` (max): the first maximum
    of each window takes dout, overlapping windows add up, padding is -inf."""
    return run_check(fn, "max_pool_backward", pool_cases(backward=True), ("x", "dout"),
                     lambda c: _pool_grad(*c.args, c.geo["S"], c.geo["P"]), _pool_backward_explain,
                     "your max_pool_backward agrees with convlab's Pooling.backward (first maximum, "
                     "overlaps summed)")
