"""Lesson 5, forward and backward: the views, explorer, figures and answer checks of
notebooks/05_forward_backward.ipynb.

Views (each returns a ``View``: text + figure): ``pool_backward_view`` (input with each window's
winner, dout and dx of one pooling channel) and ``gradcheck_view`` (backward against central
differences for every layer of the chapter). Explorer: ``gradcheck_explorer``. Checks:
``check_pool_backward`` and ``check_conv_db``. The table's numbers come from
``convlab.analysis.gradcheck_rows``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..analysis import gradcheck_rows
from ..layers import Pooling
from . import ui
from .check import answer_check, as_array, report
from .draw import grid_axes, labelled_cells
from .ui import View

__all__ = ["POOL_BACKWARD_X", "POOL_BACKWARD_DOUT", "CONV_DB_DOUT", "pool_backward_view",
           "gradcheck_view", "gradcheck_explorer", "plot_pool_backward", "plot_gradcheck",
           "check_pool_backward", "check_conv_db"]

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


def _sci(v):
    """1e-07 -> '1e-7' (short, and the same on every platform)."""
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def gradcheck_view(filter_size=3, stride=1, pad=0, exact=True, threshold=1e-7) -> View:
    """The gradient-check table and a bar chart of the errors. ``exact=False`` leaves the error
    values (whose last digits depend on the CPU) out of the text and keeps the pass/fail column."""
    rows = gradcheck_rows(filter_size, stride, pad)
    head = f"{'layer':<14s} {'grad':<5s} {'shape':<14s}" + (f" {'rel. error':>10s}" if exact else "") + \
        f"  < {_sci(threshold)}"
    lines = [f"Convolution filter {filter_size}x{filter_size}, stride {stride}, pad {pad}; "
             f"Pooling 2x2, stride {stride}, pad {min(pad, 1)}", head]
    for layer, k, shape, e in rows:
        lines.append(f"{layer:<14s} {k:<5s} {str(shape):<14s}" + (f" {e:10.1e}" if exact else "") +
                     f"  {e < threshold}")
    ok = all(e < threshold for *_, e in rows)
    lines.append(f"all {len(rows)} gradients agree: {ok}")
    fig = plot_gradcheck([(f"{layer} {k}", e) for layer, k, _, e in rows], threshold)
    return View("\n".join(lines), fig)


# -------------------------------------------------------------------------------- explorer --

def gradcheck_explorer():
    """Filter size, stride and padding for the live gradient-check table."""
    return ui.explorer(gradcheck_view, {"filter_size": ui.slider("filter", 3, 1, 4),
                                        "stride": ui.slider("stride", 1, 1, 3),
                                        "pad": ui.slider("padding", 0, 0, 2)})


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
        labelled_cells(ax, m, fc, title=title, fontsize=9)
        grid_axes(ax, max(m.shape[1], 4), max(m.shape[0], 4))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.03, wspace=0.15)
    return fig


def plot_gradcheck(rows, threshold=1e-7):
    """Horizontal bars of log10(relative error) per (layer, parameter); the pass line drawn.
    ``rows``: list of (label, error). Returns the figure."""
    labels = [r[0] for r in rows]
    errs = np.array([max(r[1], 1e-18) for r in rows])
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    ax.barh(range(len(rows)), np.log10(errs), color=["C2" if e < threshold else "C3" for e in errs])
    ax.axvline(np.log10(threshold), color="k", ls="--", lw=1, label=f"pass line {threshold:g}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("log10(relative error)  (further left is better)")
    ax.legend(loc="lower right", fontsize=8)
    fig.subplots_adjust(left=0.3, right=0.97, top=0.97, bottom=0.2)
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
