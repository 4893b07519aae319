"""Lesson 10's implement-it checks for whole layer classes: the book's ``Convolution`` and
``Pooling`` written by the learner (stubs: ``stubs.LAYER_STUBS``).

    check_convolution_layer(cls)   cls(W, b, stride=1, pad=0): forward(x), backward(dout), dW, db
    check_pooling_layer(cls)       cls(pool_h, pool_w, stride=1, pad=0): forward(x), backward(dout)

Each check builds the learner's class on the cases of lesson 5's backward checks (``conv_cases``,
``pool_cases`` of ``implement``: non-square inputs and windows, channels, batches, stride, pad,
overlapping windows, tied maxima, all-negative padded inputs) and, per case, exercises a layer as
a net does: forward, backward, backward again with the same dout (the same answer), and a
forward whose state must survive another layer's forward. Everything is compared with
``convlab.layers`` through ``implement.run_check`` and ``compare``; the hints name the class-level
mistakes (reshape without the transpose, col_W not transposed, db over the wrong axis, dW not
reshaped back, state not kept or kept on the class, inputs changed in place, ties, padding that
wins). One PASS/FAIL line; a check never raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..im2col import col2im, fold, im2col, windows
from ..layers import Convolution as _LibConvolution
from ..layers import Pooling as _LibPooling
from .check import answer_check, report
from .implement import (_where, col2im_overwriting, compare, conv_cases, fold_loop, pool_cases,
                        run_check, size_cause)

__all__ = ["check_convolution_layer", "check_pooling_layer"]


# ------------------------------------------------------------------- running a layer class --

@dataclass
class _Run:
    """What one case did with a layer class: its results, or where it failed."""
    out: object = None
    dx: object = None
    grads: dict = field(default_factory=dict)
    dx2: object = None                      # backward called a second time, the same dout
    grads2: dict = field(default_factory=dict)
    dx3: object = None                      # after another forward of this and of another layer
    grads3: dict = field(default_factory=dict)
    changed: str | None = None              # "x" or "dout": an input modified in place
    phase: str | None = None                # where an exception came from
    error: Exception | None = None


def _copy(a):
    return np.array(a, copy=True) if isinstance(a, np.ndarray) else a


def _other_input(x):
    """A second input of x's shape for the state test (fixed seed, distinct values)."""
    return np.random.default_rng(7).standard_normal(x.shape).astype(x.dtype)


def _exercise(make, x, dout, params):
    """Use a layer class as a net does: make(), forward, backward, backward again; then forward
    on another input, this input again, another layer's forward in between, backward."""
    r = _Run()
    r.phase = "__init__"
    try:
        layer = make()
        r.phase = "forward"
        xin = x.copy()
        r.out = _copy(layer.forward(xin))
        if not np.array_equal(xin, x, equal_nan=True):
            r.changed = "x"
            return r
        r.phase = "backward"
        d = dout.copy()
        r.dx = _copy(layer.backward(d))
        if not np.array_equal(d, dout):
            r.changed = "dout"
            return r
        r.grads = {p: _copy(getattr(layer, "d" + p, None)) for p in params}
        r.phase = "backward, called a second time with the same dout,"
        r.dx2 = _copy(layer.backward(dout.copy()))
        r.grads2 = {p: _copy(getattr(layer, "d" + p, None)) for p in params}
        r.phase = "forward, on a new layer,"
        fresh, other = make(), make()
        fresh.forward(_other_input(x))
        fresh.forward(x.copy())
        other.forward(_other_input(x))
        r.phase = "backward, after another layer's forward,"
        r.dx3 = _copy(fresh.backward(dout.copy()))
        r.grads3 = {p: _copy(getattr(fresh, "d" + p, None)) for p in params}
        r.phase = None
    except NotImplementedError:
        raise                                # run_check reads it as "not written yet"
    except Exception as e:  # noqa: BLE001 - turned into a hint by _error_hint
        r.error = e
    return r


def _reference(make, x, dout, params):
    """convlab's results for the case, and for the other input (the state test's decoy)."""
    def grads(xx):
        layer = make()
        out = layer.forward(xx.copy()).copy()
        dx = layer.backward(dout.copy()).copy()
        return out, dx, {p: getattr(layer, "d" + p).copy() for p in params}
    return grads(x), grads(_other_input(x))


def _same(a, b):
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and np.allclose(a, b, rtol=1e-7, atol=1e-9))


_STATE = ("backward needs what forward computed: keep it on the layer in forward (self.x = x, "
          "{kept}) and use self.<name> in backward")


def _error_hint(r, kept, known=()):
    """The hint for an exception: a known pattern, or the exception quoted with its line."""
    e, phase = r.error, r.phase
    msg = str(e)
    for where, test, hint in known:
        if where == phase and test(e, msg):
            return hint
    if phase.startswith("backward") and (isinstance(e, AttributeError) or "NoneType" in msg):
        return _STATE.format(kept=kept) + f" ({type(e).__name__} in {phase.rstrip(',')}: {msg[:100]})"
    if phase.startswith("backward,"):
        return (f"{phase} your layer raised {type(e).__name__}: {msg[:120]}{_where(e)}. backward "
                f"must not change what forward kept (no in-place changes of self.col, "
                f"self.arg_max, ...)")
    msg = msg if len(msg) <= 160 else msg[:157] + "..."
    return f"{phase} raised {type(e).__name__}: {msg}{_where(e)}"


def _input_changed(name):
    where = "forward" if name == "x" else "backward"
    return (f"{where} changed its input {name} in place (e.g. {name} -= ..., {name}[...] = ...); "
            f"a net reuses it: compute into new arrays")


def _consistency_hint(r, want, decoy, params, kept):
    """Backward twice, and state that survives another layer's forward."""
    if not (_same(r.dx2, r.dx) and all(_same(r.grads2[p], r.grads[p]) for p in params)):
        doubled = [p for p in params if _same(r.grads2[p], 2 * r.grads[p])]
        if doubled:
            return (f"backward called twice with the same dout gave d{doubled[0]} twice as large: "
                    f"self.d{doubled[0]} += ... adds up over calls; set it, self.d{doubled[0]} = ...")
        return ("backward called twice with the same dout gave a different answer: backward must "
                "not change what forward kept (self.col, self.arg_max, ...) nor add to old results")
    wdx, wg = want[1], want[2]
    if _same(r.dx3, wdx) and all(_same(r.grads3[p], wg[p]) for p in params):
        return None
    ddx, dg = decoy[1], decoy[2]
    if _same(r.dx3, ddx) and all(_same(r.grads3[p], dg[p]) for p in params):
        return ("forward state kept on the class, not on the layer: after layer1.forward(x1) and "
                "layer2.forward(x2), layer1.backward used x2's. Keep it on self (self.x = x, "
                f"{kept}), never on the class (Convolution.col = ...)")
    return ("backward after a second forward pass (or another layer's forward) used stale state: "
            f"forward must store its own input every time it runs (self.x = x, {kept})")


# --------------------------------------------------------------------------- Convolution --

def _conv_make(cls, W, b, S, P):
    return lambda: cls(W.copy(), b.copy(), stride=S, pad=P)


_CONV_KEPT = "self.col = col, self.col_W = col_W"


def _conv_known_errors(c):
    """Exceptions that name a mistake: matmul shapes that do not fit (col_W not transposed)."""
    def matmul(e, msg):
        return isinstance(e, ValueError) and ("matmul" in msg or "not aligned" in msg)
    return [("forward", matmul,
             "col @ col_W: the shapes do not fit; col_W not transposed? col is (N*OH*OW, C*FH*FW), "
             "so col_W must be (C*FH*FW, FN): W.reshape(FN, -1).T"),
            ("backward", matmul,
             "a matrix product in backward does not fit: dout in rows (N*OH*OW, FN); "
             "db = its column sums, dW = col.T @ it (then .T and reshape), dcol = it @ col_W.T")]


def _conv_explain(cls):
    def explain(c, r, ref):
        x, W, b, dout = c.args
        S, P = c.geo["S"], c.geo["P"]
        want, decoy = ref
        FN, C, FH, FW = W.shape
        N, _, OH, OW = dout.shape
        if r.error is not None:
            return _error_hint(r, _CONV_KEPT, _conv_known_errors(c))
        if r.changed:
            return _input_changed(r.changed)
        col = im2col(x, FH, FW, S, P)                                    # (N*OH*OW, C*FH*FW)
        col_W = W.reshape(FN, -1).T                                      # (C*FH*FW, FN)
        rows = col @ col_W + b                                           # (N*OH*OW, FN)

        def nchw(r):                                                     # rows -> (N, FN, OH, OW)
            return r.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)
        out_variants = [
            ("reshape without the transpose: col @ col_W + b has rows (n, oy, ox) and a column "
             "per filter; reshape it to (N, OH, OW, FN), then transpose(0, 3, 1, 2)",
             lambda: rows.reshape(N, FN, OH, OW)),
            ("the wrong transpose: (N, OH, OW, FN) becomes (N, FN, OH, OW) with transpose(0, 3, 1, 2)",
             lambda: rows.reshape(N, OH, OW, FN).transpose(0, 3, 2, 1)),
            ("col_W not transposed: W.reshape(-1, FN) has the right shape but mixes up the "
             "filters; col_W = W.reshape(FN, -1).T", lambda: nchw(col @ W.reshape(-1, FN) + b)),
            ("col_W not transposed: col_W = W.reshape(FN, -1).T",
             lambda: nchw(col @ W.reshape(FN, -1) + b)),
            ("the bias b is missing: out = col @ col_W + b", lambda: nchw(col @ col_W)),
        ]

        def out_shape(s):
            if tuple(s) == (N, FN, OW, OH):
                return "the wrong transpose: (N, OH, OW, FN) becomes (N, FN, OH, OW) with transpose(0, 3, 1, 2)"
            if tuple(s) == (N, OH, OW, FN):
                return "reshaped but not transposed: transpose(0, 3, 1, 2) to (N, FN, OH, OW)"
            if len(s) == 2:
                return "out still in rows (N*OH*OW, FN): reshape to (N, OH, OW, FN), then transpose(0, 3, 1, 2)"
            return size_cause(s[2:], c.geo) if len(s) == 4 else None
        hint = compare("out", "(N, FN, OH, OW)", r.out, want[0], out_variants, out_shape)
        if hint:
            return "forward: " + hint
        plain = dout.reshape(-1, FN)                                     # the missing transpose
        no_t = ("dout reshaped without the transpose: its rows must run (n, oy, ox) like col's; "
                "dout.transpose(0, 2, 3, 1).reshape(-1, FN)")
        d_rows = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        db_variants = [(no_t, lambda: plain.sum(axis=0)),
                       ("db averaged: the bias gradient is the SUM of dout's rows, not the mean",
                        lambda: d_rows.mean(axis=0))]

        def db_shape(s):
            if tuple(s) != (FN,):
                return ("db summed over the wrong axis: one number per filter, the column sums "
                        "of dout in rows: np.sum(dout_rows, axis=0), shape (FN,)")
            return None
        dW_variants = [(no_t, lambda: (col.T @ plain).T.reshape(FN, C, FH, FW)),
                       ("dW reshaped back without the transpose: col.T @ dout_rows is "
                        "(C*FH*FW, FN); transpose it to (FN, C*FH*FW), then reshape(FN, C, FH, FW)",
                        lambda: (col.T @ d_rows).reshape(FN, C, FH, FW))]

        def dW_shape(s):
            if len(s) == 2:
                return ("dW not reshaped back: it must have W's shape (FN, C, FH, FW); "
                        "self.dW = dW.T.reshape(FN, C, FH, FW)")
            return None
        dcol = d_rows @ col_W.T                                          # (N*OH*OW, C*FH*FW)
        dx_variants = [(no_t, lambda: col2im(plain @ col_W.T, x.shape, FH, FW, S, P)),
                       ("col2im assigns (=) where windows overlap: a pixel in several windows gets "
                        "the sum of their gradients (+=)",
                        lambda: col2im_overwriting(dcol, x.shape, FH, FW, S, P)),
                       ("col2im called without stride and pad: col2im(dcol, x.shape, FH, FW, "
                        "stride, pad)", lambda: col2im(dcol, x.shape, FH, FW))]

        def dx_shape(s):
            if len(s) == 2:
                return "dx still in column form: col2im(dcol, x.shape, FH, FW, stride, pad)"
            return size_cause(s[2:], c.geo, cropped_input=True) if len(s) == 4 else None
        if r.grads["W"] is None or r.grads["b"] is None:
            return "backward must set self.dW and self.db (the gradients of W and b)"
        for name, layout, got, w, variants, shape in (
                ("dx", "(N, C, H, W)", r.dx, want[1], dx_variants, dx_shape),
                ("dW", "(FN, C, FH, FW)", r.grads["W"], want[2]["W"], dW_variants, dW_shape),
                ("db", "(FN,)", r.grads["b"], want[2]["b"], db_variants, db_shape)):
            hint = compare(name, layout, got, w, variants, shape)
            if hint:
                return hint if hint.startswith(name) else f"{name}: {hint}"
        return _consistency_hint(r, want, decoy, ("W", "b"), _CONV_KEPT)
    return explain


def _not_a_class(cls, name, args):
    if isinstance(cls, type):
        return None
    if hasattr(cls, "forward"):
        return (f"pass the class itself, check_{name}({type(cls).__name__}), not a layer made from "
                f"it ({type(cls).__name__}({args}))")
    return f"pass your class itself (got a {type(cls).__name__})"


@answer_check
def check_convolution_layer(cls):
    """Lesson 10: the book's ``Convolution(W, b, stride=1, pad=0)`` with ``forward(x)``,
    ``backward(dout)``, ``dW`` and ``db`` (see ``stubs.LAYER_STUBS['Convolution']``) against
    ``convlab.layers.Convolution`` on lesson 5's 33 backward cases; each layer is also run
    backward twice and after another layer's forward."""
    wrong = _not_a_class(cls, "convolution_layer", "W, b")
    if wrong:
        return report(False, "", wrong + ".")

    def run(x, W, b, dout, stride=1, pad=0):
        return _exercise(_conv_make(cls, W, b, stride, pad), x, dout, ("W", "b"))

    def reference(c):
        x, W, b, dout = c.args
        return _reference(_conv_make(_LibConvolution, W, b, c.geo["S"], c.geo["P"]), x, dout, ("W", "b"))
    return run_check(run, "convolution_layer", conv_cases(backward=True), ("x", "W", "b", "dout"),
                     reference, _conv_explain(cls),
                     "your Convolution agrees with convlab's (out, dx, dW and db; backward twice "
                     "and after other layers' forward passes)")


# ------------------------------------------------------------------------------- Pooling --

def _pool_make(cls, PH, PW, S, P):
    return lambda: cls(PH, PW, stride=S, pad=P)


_POOL_KEPT = "self.arg_max = arg_max"


def _pool_known_errors(c):
    """The book's Pooling sizes its output without the padding: its reshape fails when pad > 0."""
    g = c.geo

    def ignores_pad(e, msg):
        return isinstance(e, ValueError) and "reshape" in msg and g["P"] > 0
    return [("forward", ignores_pad,
             "the output size ignores the padding (as the book's Pooling does, so it breaks on "
             "padded inputs): OH = (H + 2*pad - pool_h) // stride + 1, OW likewise")]


def _pool_explain(cls):
    def explain(c, r, ref):
        x, dout, PH, PW = c.args
        S, P = c.geo["S"], c.geo["P"]
        want, decoy = ref
        N, C, OH, OW = dout.shape
        if r.error is not None:
            return _error_hint(r, _POOL_KEPT, _pool_known_errors(c))
        if r.changed:
            return _input_changed(r.changed)
        win = windows(x, PH, PW, S, P, pad_value=-np.inf)                # (N, C, OH, OW, PH, PW)
        rows = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, PH * PW).max(axis=1)  # (n, oy, ox, c)
        wins_pad = ("padding that wins: zero padding beats negative inputs (the book's im2col pads "
                    "with zeros); pad x with -inf (np.pad(..., constant_values=-np.inf)) and call "
                    "im2col with pad 0")
        zero = windows(x, PH, PW, S, P)                                  # zero padding
        out_variants = [
            ("reshape without the transpose: the rows run (n, oy, ox, c); reshape the maxima to "
             "(N, OH, OW, C), then transpose(0, 3, 1, 2)", lambda: rows.reshape(N, C, OH, OW)),
            ("the wrong transpose: (N, OH, OW, C) becomes (N, C, OH, OW) with transpose(0, 3, 1, 2)",
             lambda: rows.reshape(N, OH, OW, C).transpose(0, 3, 2, 1)),
            (wins_pad, lambda: zero.max(axis=(4, 5))),
        ]

        def out_shape(s):
            if tuple(s) == (N, C, OW, OH):
                return "the wrong transpose: (N, OH, OW, C) becomes (N, C, OH, OW) with transpose(0, 3, 1, 2)"
            if tuple(s) == (N, OH, OW, C):
                return "reshaped but not transposed: transpose(0, 3, 1, 2) to (N, C, OH, OW)"
            return size_cause(s[2:], c.geo, window="window") if len(s) == 4 else None
        hint = compare("out", "(N, C, OH, OW)", r.out, want[0], out_variants, out_shape)
        if hint:
            return "forward: " + hint

        def to(mask):                                   # dout onto the cells of mask, summed
            return fold(mask * dout[..., None, None], x.shape, S, P)

        def first(v, last=False):
            flat = v.reshape(v.shape[:4] + (-1,))
            k = flat.shape[-1] - 1 - np.argmax(flat[..., ::-1], axis=-1) if last else np.argmax(flat, axis=-1)
            return (np.arange(flat.shape[-1]) == k[..., None]).reshape(v.shape)
        m = first(win)
        dwin = m * dout[..., None, None]
        plain = dout.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)         # dout read without transpose
        dx_variants = [
            ("dout flattened without the transpose: the rows of dmax run (n, oy, ox, c); use "
             "dout.transpose(0, 2, 3, 1).flatten()",
             lambda: fold(m * plain[..., None, None], x.shape, S, P)),
            ("every tied maximum got dout: on a tie only the FIRST maximum (np.argmax) receives it",
             lambda: to(win == win.max(axis=(4, 5), keepdims=True))),
            ("argmax ties: the LAST maximum got dout; the first one (np.argmax) receives it",
             lambda: to(first(win, last=True))),
            (wins_pad, lambda: to(first(zero))),
            ("col2im assigns (=) where windows overlap: a cell that is the maximum of several "
             "windows gets the sum of their dout (+=)",
             lambda: fold_loop(dwin, x.shape, S, P, assign=True)),
            ("gradient sent to every cell of the window: only the window's maximum receives dout",
             lambda: to(np.ones_like(m))),
        ]

        def dx_shape(s):
            if len(s) == 2:
                return "dx still in column form: col2im onto (N, C, H + 2*pad, W + 2*pad), then cut the padding off"
            if len(s) == 4 and tuple(s[2:]) == (x.shape[2] + 2 * P, x.shape[3] + 2 * P):
                return "the padding is still there: cut it off, dx[:, :, pad:pad + H, pad:pad + W]"
            return size_cause(s[2:], c.geo, window="window", cropped_input=True) if len(s) == 4 else None
        hint = compare("dx", "(N, C, H, W)", r.dx, want[1], dx_variants, dx_shape)
        if hint:
            return hint if hint.startswith("dx") else "dx: " + hint
        return _consistency_hint(r, want, decoy, (), _POOL_KEPT)
    return explain


@answer_check
def check_pooling_layer(cls):
    """Lesson 10: the book's max ``Pooling(pool_h, pool_w, stride=1, pad=0)`` with ``forward(x)``
    and ``backward(dout)`` (see ``stubs.LAYER_STUBS['Pooling']``) against
    ``convlab.layers.Pooling`` on lesson 5's 32 backward cases (tied maxima, -inf padding)."""
    wrong = _not_a_class(cls, "pooling_layer", "pool_h, pool_w")
    if wrong:
        return report(False, "", wrong + ".")

    def run(x, dout, pool_h, pool_w, stride=1, pad=0):
        return _exercise(_pool_make(cls, pool_h, pool_w, stride, pad), x, dout, ())

    def reference(c):
        x, dout, PH, PW = c.args
        return _reference(_pool_make(_LibPooling, PH, PW, c.geo["S"], c.geo["P"]), x, dout, ())
    return run_check(run, "pooling_layer", pool_cases(backward=True), ("x", "dout"),
                     reference, _pool_explain(cls),
                     "your Pooling agrees with convlab's (out and dx: first maximum, -inf padding, "
                     "overlaps summed; backward twice and after other layers' forward passes)")
