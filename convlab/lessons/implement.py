"""Implement-it exercises: the learner writes the function, a check runs it against convlab.

    lesson 2  conv2d_naive(x, W, b, stride=1, pad=0)             -> out (N, FN, OH, OW)
    lesson 3  max_pool_naive(x, pool_h, pool_w, stride=1, pad=0)  -> out (N, C, OH, OW)
    lesson 4  im2col(x, filter_h, filter_w, stride=1, pad=0)      -> col (N*OH*OW, C*FH*FW)
    lesson 4  col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0) -> img (N, C, H, W)
    lesson 5  conv_backward(x, W, b, dout, stride=1, pad=0)       -> (dx, dW, db)
    lesson 5  max_pool_backward(x, dout, pool_h, pool_w, stride=1, pad=0) -> dx (N, C, H, W)

``STUBS[name]`` is the text of the stub cell a notebook shows: the signature, a docstring with
every shape, and a body that raises ``NotImplementedError``. ``check_<name>(fn)`` calls the
learner's ``fn`` on about thirty configurations (fixed seed), simplest first: one image, one
channel, one filter, stride 1, no padding; then non-square inputs and filters, several filters,
channels and images, padding, stride > 1, overlapping windows; then random mixtures. It compares
each result with convlab's own implementation (``convlab.layers``, ``convlab.im2col``) to a
relative tolerance of 1e-7 and prints one line (``check.report``):

    PASS: ...
    FAIL: not yet. Hint: <the likely mistake>. Case k of n (the first with <what is new>): <shapes>

The hint comes from comparing the learner's result with deliberately wrong versions the check
computes itself (bias forgotten, kernel flipped, overlaps assigned instead of summed, ...); when
none matches, it quotes the first number that differs. ``case(name, k)`` returns case k's
arguments, to run the failing case by hand. A check never raises: an exception in the learner's
code is a FAIL line quoting it, and ``NotImplementedError`` reads "not written yet".
"""
from __future__ import annotations

import os
import sysconfig
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..im2col import col2im as _col2im, fold, im2col as _im2col, windows
from ..layers import Convolution, Pooling
from .check import answer_check, report

__all__ = ["STUBS", "NAMES", "check_conv2d_naive", "check_max_pool_naive", "check_im2col",
           "check_col2im", "check_conv_backward", "check_max_pool_backward", "case",
           "col2im_overwriting"]

RTOL, ATOL = 1e-7, 1e-9          # the learner's numbers must agree with convlab's to this
NOT_WRITTEN = ("not written yet: replace `raise NotImplementedError` with your code, then run "
               "this check again.")

# ------------------------------------------------------------------------------------ stubs --

STUBS = {
    "conv2d_naive": '''def conv2d_naive(x, W, b, stride=1, pad=0):
    """Convolution forward, written with loops (the layer computes cross-correlation: no flip).

    x: (N, C, H, W)        N images, C channels, H x W pixels
    W: (FN, C, FH, FW)     FN filters, each spanning all C channels, FH x FW
    b: (FN,)               one bias per filter
    stride, pad: ints, the same for both axes; pad adds `pad` zeros on EVERY side.
    Returns out: (N, FN, OH, OW), with OH = (H + 2*pad - FH) // stride + 1
                                 and OW = (W + 2*pad - FW) // stride + 1.

    out[n, f, oy, ox] = sum over c, i, j of xp[n, c, oy*stride + i, ox*stride + j] * W[f, c, i, j]
                        + b[f],      where xp is x padded with zeros.
    Keep x's dtype (float64) and do not modify x.
    """
    raise NotImplementedError''',

    "max_pool_naive": '''def max_pool_naive(x, pool_h, pool_w, stride=1, pad=0):
    """Max pooling forward, written with loops.

    x: (N, C, H, W);  pool_h x pool_w windows;  stride, pad: ints, the same for both axes.
    Returns out: (N, C, OH, OW), with OH = (H + 2*pad - pool_h) // stride + 1
                                and OW = (W + 2*pad - pool_w) // stride + 1.

    out[n, c, oy, ox] = max over i, j of xp[n, c, oy*stride + i, ox*stride + j]
    Each channel is pooled on its own (C stays C). Windows overlap when stride < window.
    Padding: xp is x padded with -inf (as convlab's Pooling does), so padding never wins,
    not even over negative numbers. pad is at most half the window (pool_h // 2, pool_w // 2).
    Keep x's dtype (float64) and do not modify x.
    """
    raise NotImplementedError''',

    "im2col": '''def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """The book's im2col: every filter_h x filter_w window of the zero-padded x becomes one row.

    x: (N, C, H, W);  FH = filter_h, FW = filter_w;  stride, pad: ints (both axes).
    OH = (H + 2*pad - FH) // stride + 1,  OW = (W + 2*pad - FW) // stride + 1.
    Returns col: (N*OH*OW, C*FH*FW)
        row    n*OH*OW + oy*OW + ox   is the window of image n at output position (oy, ox),
        column c*FH*FW + i*FW + j     is its pixel (i, j) in channel c
        col[row, column] = xp[n, c, oy*stride + i, ox*stride + j]  (xp: x padded with zeros).
    Keep x's dtype and do not modify x.
    """
    raise NotImplementedError''',

    "col2im": '''def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's col2im: add every row of col back onto the window it came from.

    col: (N*OH*OW, C*FH*FW), laid out as im2col makes it (row n*OH*OW + oy*OW + ox,
         column c*FH*FW + i*FW + j);  input_shape: (N, C, H, W);  stride, pad: ints.
    Returns img: (N, C, H, W). Work on a zero-padded (N, C, H + 2*pad, W + 2*pad) array:
        img_padded[n, c, oy*stride + i, ox*stride + j] += col[row, column]
    and cut the padding off at the end. Where windows overlap the values ADD UP
    (col2im is the transpose of im2col, not its inverse). Keep col's dtype.
    """
    raise NotImplementedError''',

    "conv_backward": '''def conv_backward(x, W, b, dout, stride=1, pad=0):
    """Convolution backward: the gradients of L = sum(conv2d(x, W, b, stride, pad) * dout).

    x: (N, C, H, W);  W: (FN, C, FH, FW);  b: (FN,)
    dout: (N, FN, OH, OW), the gradient of the loss with respect to the layer's output.
    Returns (dx, dW, db) in this order, shaped like x, W and b:
        dx: (N, C, H, W)      every output cell sends dout[n, f, oy, ox] * W[f] back onto
                              its window; overlapping windows ADD UP; cut the padding off.
        dW: (FN, C, FH, FW)   dW[f] = sum over n, oy, ox of dout[n, f, oy, ox] * window(n, oy, ox)
        db: (FN,)             dout summed over N, OH and OW.
    Loops are fine. Keep the dtype (float64) and do not modify the inputs.
    """
    raise NotImplementedError''',

    "max_pool_backward": '''def max_pool_backward(x, dout, pool_h, pool_w, stride=1, pad=0):
    """Max pooling backward: the gradient of L = sum(max_pool(x) * dout) with respect to x.

    x: (N, C, H, W);  dout: (N, C, OH, OW);  stride, pad: ints (both axes).
    Returns dx: (N, C, H, W). Each window's dout[n, c, oy, ox] goes to ONE cell: the window's
    maximum; on a tie, the FIRST maximum reading row by row (as np.argmax picks it). Every
    other cell of the window gets nothing. Where windows overlap, contributions ADD UP.
    Padding is -inf (it never is the maximum); pad is at most half the window.
    Keep the dtype (float64) and do not modify the inputs.
    """
    raise NotImplementedError''',
}

#: The exercises in lesson order.
NAMES = tuple(STUBS)


# ------------------------------------------------------------------------- calling the learner --

@dataclass
class _Case:
    """One configuration: positional args, keyword args (stride, pad), a label and what it adds."""
    args: tuple
    kwargs: dict
    label: str
    features: frozenset = field(default_factory=frozenset)
    geo: dict = field(default_factory=dict)          # N, C, H, W, FH, FW, S, P (and FN)


_LIBRARY_DIRS = tuple(os.path.realpath(d) + os.sep for d in {
    os.path.dirname(np.__file__), os.path.dirname(os.path.dirname(__file__)),
    sysconfig.get_paths()["stdlib"]})


def _where(exc: BaseException) -> str:
    """' (line 7 of conv2d_naive: `out[...] = ...`)': the last frame of the learner's own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.realpath(f.filename).startswith(_LIBRARY_DIRS)]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or "").strip()
    return f" (line {f.lineno} of {f.name}" + (f": `{line[:80]}`)" if line else ")")


def _call(fn, case: _Case):
    """Run fn on fresh copies of the case's arrays: (result, copies, None) or (None, None, error)."""
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)
    try:
        return fn(*args, **case.kwargs), args, None
    except NotImplementedError:
        return None, None, NOT_WRITTEN
    except Exception as e:  # noqa: BLE001 - quoted to the learner, never a traceback
        msg = str(e)
        msg = msg if len(msg) <= 160 else msg[:157] + "..."
        return None, None, f"your function raised {type(e).__name__}: {msg}{_where(e)}"


def _changed(case: _Case, copies, names) -> str | None:
    """The name of an input array the learner's function modified in place, if any."""
    for name, orig, given in zip(names, case.args, copies):
        if isinstance(orig, np.ndarray) and not np.array_equal(orig, given, equal_nan=True):
            return name
    return None


_FEATURE_ORDER = ("a non-square input", "a non-square filter", "a non-square window",
                  "several filters", "several channels", "several images", "padding",
                  "stride > 1", "overlapping windows", "tied maxima")


def _case_note(k: int, cases) -> str:
    """' Case 7 of 33 (the first with stride > 1): x (N, C, H, W) = ...'."""
    seen = frozenset().union(*(c.features for c in cases[:k]))
    new = [f for f in _FEATURE_ORDER if f in cases[k].features - seen]
    first = f" (the first with {' and '.join(new)})" if k and new else ""
    return f" Case {k + 1} of {len(cases)}{first}: {cases[k].label}."


def _run(fn, name, cases, arg_names, reference, explain, success):
    """The loop every check shares: call, compare, explain the first failure, or PASS."""
    if not callable(fn):
        return report(False, "", f"pass your function itself, check_{name}({name}), without "
                                 f"calling it (got a {type(fn).__name__}).")
    for k, c in enumerate(cases):
        got, copies, err = _call(fn, c)
        if err is not None:
            return report(False, "", err + ("" if err == NOT_WRITTEN else "." + _case_note(k, cases)))
        changed = _changed(c, copies, arg_names)
        if changed:
            return report(False, "", f"your function changed its input {changed} in place "
                                     f"(e.g. {changed} += ... or {changed}[...] = ...); build the "
                                     f"result in a new array." + _case_note(k, cases))
        hint = explain(c, got, reference(c))
        if hint:
            return report(False, "", hint + "." + _case_note(k, cases))
    return report(True, success + f" ({len(cases)} cases: " + _coverage(cases) + ").")


def _coverage(cases) -> str:
    g = [c.geo for c in cases]
    parts = [f"up to {max(x['N'] for x in g)} images and {max(x['C'] for x in g)} channels"]
    if "FN" in g[0]:
        parts.append(f"{max(x['FN'] for x in g)} filters")
    parts.append(f"stride 1 to {max(x['S'] for x in g)}, pad 0 to {max(x['P'] for x in g)}")
    parts.append("non-square inputs and windows")
    return ", ".join(parts)


def case(name: str, number: int):
    """Case ``number`` (1-based, as a FAIL line quotes it) of check ``name``: (args, kwargs),
    so ``fn(*args, **kwargs)`` runs it by hand."""
    cases = _CASES[name]()
    c = cases[number - 1]
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in c.args), dict(c.kwargs)


# ------------------------------------------------------------------------- comparing results --

def _type_problem(got, name: str, dtype) -> str | None:
    """Why ``got`` is not a finite float array of the input's dtype (None when it is)."""
    if got is None:
        return f"your function returned None instead of {name}: the `return` line may be missing"
    if isinstance(got, (tuple, list)):
        return (f"your function returned a {type(got).__name__}; return {name} as one NumPy "
                f"array (np.array(...) turns a list into one)")
    if not isinstance(got, np.ndarray):
        return f"your function returned a {type(got).__name__}, not a NumPy array ({name})"
    if got.dtype.kind in "iub":
        return (f"{name} has dtype {got.dtype}, so every fraction was cut off; make it a float "
                f"array of the input's dtype (np.zeros(shape, dtype=x.dtype))")
    if got.dtype != dtype:
        return (f"{name} has dtype {got.dtype}, but the inputs are {dtype}; make it with the "
                f"input's dtype (np.zeros(shape, dtype=x.dtype))")
    return None


def _explain(name: str, layout: str, got, want, variants=(), shape_hint=None) -> str | None:
    """The hint for one returned array, None when it agrees with ``want``.

    Order: type and dtype, shape (``shape_hint(got_shape)`` names a likely cause), NaN/inf,
    then the deliberate mistakes ``variants`` [(hint, thunk)]: the first one whose result
    ``got`` matches names the mistake. Otherwise the first differing number is quoted.
    """
    problem = _type_problem(got, name, want.dtype)
    if problem:
        return problem
    if got.shape != want.shape:
        cause = shape_hint(got.shape) if shape_hint else None
        return (f"{cause + ': ' if cause else ''}expected {name} of shape {layout} = "
                f"{want.shape}, got {got.shape}")
    if not np.all(np.isfinite(got)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        return (f"{name} holds {got[idx]} at index {idx}: a cell left unfilled (np.empty), a "
                f"division by zero, or -inf padding multiplied by 0 gives this")
    if np.allclose(got, want, rtol=RTOL, atol=ATOL):
        return None
    for hint, make in variants:
        try:
            with np.errstate(all="ignore"):
                wrong = np.asarray(make())
        except Exception:  # noqa: BLE001 - a mistake that does not apply to this case
            continue
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=RTOL, atol=ATOL):
            return hint
    bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL)
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{name} differs from convlab's at index {idx}: expected {want[idx]:.6g}, got "
            f"{got[idx]:.6g} ({int(bad.sum())} of {bad.size} numbers differ)")


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _size_cause(got_hw, g, window="filter", cropped_input=False) -> str | None:
    """Name the likely mistake behind a wrong (OH, OW) (or, ``cropped_input``, a wrong (H, W))."""
    H, W, FH, FW, S, P = g["H"], g["W"], g["FH"], g["FW"], g["S"], g["P"]
    got_hw = tuple(got_hw)
    if cropped_input:
        right = (H, W)
        tries = [((H + 2 * P, W + 2 * P), "the padding is still there: cut it off at the end, "
                                          "img[:, :, pad:pad + H, pad:pad + W]"),
                 ((W, H), "H and W swapped")]
    else:
        right = (_out(H, FH, S, P), _out(W, FW, S, P))
        ceil = (-(-(H + 2 * P - FH) // S) + 1, -(-(W + 2 * P - FW) // S) + 1)
        tries = [((_out(H, FH, S, 0), _out(W, FW, S, 0)),
                  "padding ignored in the output size: OH = (H + 2*pad - FH) // stride + 1"),
                 ((_out(H, FH, 1, P), _out(W, FW, 1, P)),
                  "stride ignored in the output size: OH = (H + 2*pad - FH) // stride + 1"),
                 ((_out(H + P, FH, S, 0), _out(W + P, FW, S, 0)),
                  "padding counted once: pad adds `pad` rows at the top AND at the bottom (2*pad)"),
                 (ceil, "round down: OH = (H + 2*pad - FH) // stride + 1 (floor division)"),
                 ((_out(H, FW, S, P), _out(W, FH, S, P)),
                  f"{window} height and width swapped: FH goes with H, FW with W"),
                 ((right[1], right[0]), "OH and OW swapped: OH counts rows (from H), OW columns")]
        if window == "window" and (S, S) != (FH, FW):
            tries.insert(2, ((_out(H, FH, FH, P), _out(W, FW, FW, P)),
                             "stride taken equal to the window: use the stride argument "
                             "(windows overlap when stride < window)"))
    for hw, cause in tries:
        if hw == got_hw and hw != right:
            return cause
    return None


# ------------------------------------------------------------------------- shared wrong versions --

def _fold_loop(win, input_shape, S, P, assign=False, step=None, crop_start=False):
    """Add (or with ``assign``, write) windows (N, C, OH, OW, FH, FW) onto a padded image,
    window by window in (n, oy, ox) order; ``step`` places them (the stride, or a wrong one)."""
    N, C, H, W = input_shape
    OH, OW, FH, FW = win.shape[2:]
    step = S if step is None else step
    img = np.zeros((N, C, H + 2 * P, W + 2 * P), dtype=win.dtype)
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                y, x = oy * step, ox * step
                if assign:
                    img[n, :, y:y + FH, x:x + FW] = win[n, :, oy, ox]
                else:
                    img[n, :, y:y + FH, x:x + FW] += win[n, :, oy, ox]
    return img[:, :, :H, :W] if crop_start else img[:, :, P:P + H, P:P + W]


def col2im_overwriting(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's vectorised col2im with ``=`` where it has ``+=``: WRONG on purpose.

    Where windows overlap, a later kernel offset overwrites an earlier one instead of adding
    to it. Used to show what this bug does (the checks' hints, the gradient-check lab).
    """
    N, C, H, W = input_shape
    OH, OW = _out(H, filter_h, stride, pad), _out(W, filter_w, stride, pad)
    c = np.asarray(col).reshape(N, OH, OW, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=c.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            img[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] = c[:, :, i, j]
    return img[:, :, pad:pad + H, pad:pad + W]


def _win(x, FH, FW, S, P, pad_value=0.0):
    return windows(x, FH, FW, S, P, pad_value=pad_value)            # (N, C, OH, OW, FH, FW)


def _pad_one_side(x, P):
    return np.pad(x, ((0, 0), (0, 0), (0, 2 * P), (0, 2 * P)))       # all padding bottom/right


# ----------------------------------------------------------------------------- cases --

def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))               # one fixed seed per check


def _features(g, window="filter", ties=False):
    f = set()
    if g["H"] != g["W"]:
        f.add("a non-square input")
    if g["FH"] != g["FW"]:
        f.add(f"a non-square {window}")
    if g.get("FN", 1) > 1:
        f.add("several filters")
    if g["C"] > 1:
        f.add("several channels")
    if g["N"] > 1:
        f.add("several images")
    if g["P"] > 0:
        f.add("padding")
    if g["S"] > 1:
        f.add("stride > 1")
    if g["S"] < g["FH"] or g["S"] < g["FW"]:
        f.add("overlapping windows")
    if ties:
        f.add("tied maxima")
    return frozenset(f)


def _random_geometries(rng, n, pool=False, conv=False):
    """n random small geometries (valid for convlab's layers); loops stay fast."""
    out = []
    while len(out) < n:
        H, W = (int(v) for v in rng.integers(3, 9, 2))
        if pool:
            FH, FW = (int(v) for v in rng.integers(2, 4, 2))
            P = int(rng.integers(0, min(FH, FW) // 2 + 1))
        else:
            P = int(rng.integers(0, 3))
            FH, FW = (int(v) for v in rng.integers(1, 5, 2))
        S = int(rng.integers(1, 4))
        if FH > H + 2 * P or FW > W + 2 * P:
            continue
        g = {"N": int(rng.integers(1, 3)), "C": int(rng.integers(1, 4)), "H": H, "W": W,
             "FH": FH, "FW": FW, "S": S, "P": P}
        if conv:
            g["FN"] = int(rng.integers(1, 4))
        out.append(g)
    return out


def _geo(N, C, H, W, FH, FW, S=1, P=0, FN=None):
    g = {"N": N, "C": C, "H": H, "W": W, "FH": FH, "FW": FW, "S": S, "P": P}
    if FN is not None:
        g["FN"] = FN
    return g


# The hand-made cases: each adds one thing to the ones before it.
_CONV_FIRST = [_geo(1, 1, 4, 4, 3, 3, FN=1), _geo(1, 1, 5, 6, 2, 3, FN=1),
               _geo(1, 1, 5, 6, 2, 3, FN=3), _geo(1, 3, 5, 6, 2, 3, FN=2),
               _geo(2, 2, 5, 6, 3, 2, FN=2), _geo(1, 1, 5, 6, 3, 3, P=1, FN=1),
               _geo(1, 1, 7, 8, 3, 2, S=2, FN=1), _geo(2, 3, 7, 6, 3, 2, S=2, P=1, FN=2),
               _geo(1, 2, 9, 7, 4, 3, S=3, P=2, FN=3)]
_POOL_FIRST = [_geo(1, 1, 4, 4, 2, 2, S=2), _geo(1, 1, 4, 4, 2, 2, S=1),
               _geo(1, 1, 5, 6, 2, 3, S=1), _geo(1, 3, 5, 6, 3, 2, S=2),
               _geo(2, 2, 5, 5, 2, 2, S=2), _geo(1, 1, 4, 5, 2, 2, S=2, P=1),
               _geo(1, 2, 7, 8, 3, 3, S=2, P=1), _geo(2, 2, 8, 7, 3, 2, S=3, P=1)]
_COL_FIRST = [_geo(1, 1, 4, 4, 3, 3), _geo(1, 1, 5, 6, 2, 3), _geo(1, 3, 4, 5, 2, 2),
              _geo(2, 2, 4, 5, 3, 2), _geo(1, 1, 5, 5, 3, 3, P=1), _geo(1, 1, 7, 8, 3, 2, S=2),
              _geo(2, 3, 7, 6, 3, 2, S=2, P=1), _geo(1, 2, 9, 7, 4, 3, S=3, P=2)]
N_RANDOM = 24


def _conv_label(g, dout=False):
    s = (f"x (N, C, H, W) = {(g['N'], g['C'], g['H'], g['W'])}, W (FN, C, FH, FW) = "
         f"{(g['FN'], g['C'], g['FH'], g['FW'])}")
    if dout:
        OH, OW = _out(g["H"], g["FH"], g["S"], g["P"]), _out(g["W"], g["FW"], g["S"], g["P"])
        s += f", dout (N, FN, OH, OW) = {(g['N'], g['FN'], OH, OW)}"
    return s + f", stride {g['S']}, pad {g['P']}"


def _pool_label(g):
    return (f"x (N, C, H, W) = {(g['N'], g['C'], g['H'], g['W'])}, window {g['FH']}x{g['FW']} "
            f"(pool_h x pool_w), stride {g['S']}, pad {g['P']}")


def _col_label(g):
    return (f"x (N, C, H, W) = {(g['N'], g['C'], g['H'], g['W'])}, filter {g['FH']}x{g['FW']} "
            f"(FH x FW), stride {g['S']}, pad {g['P']}")


def _conv_cases(backward=False):
    rng = _rng("conv_backward" if backward else "conv2d_naive")
    cases = []
    for g in _CONV_FIRST + _random_geometries(rng, N_RANDOM, conv=True):
        x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
        W = rng.standard_normal((g["FN"], g["C"], g["FH"], g["FW"]))
        b = rng.standard_normal(g["FN"])
        args = (x, W, b)
        if backward:
            OH, OW = _out(g["H"], g["FH"], g["S"], g["P"]), _out(g["W"], g["FW"], g["S"], g["P"])
            args += (rng.standard_normal((g["N"], g["FN"], OH, OW)),)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, _conv_label(g, backward),
                           _features(g), g))
    return cases


def _has_ties(x, g):
    v = _win(x, g["FH"], g["FW"], g["S"], g["P"], -np.inf)
    m = v.max(axis=(4, 5), keepdims=True)
    return bool(((v == m).sum(axis=(4, 5)) > 1).any())


def _pool_cases(backward=False):
    rng = _rng("max_pool_backward" if backward else "max_pool_naive")
    geos = _POOL_FIRST + _random_geometries(rng, N_RANDOM, pool=True)
    cases = []
    for k, g in enumerate(geos):
        shape = (g["N"], g["C"], g["H"], g["W"])
        x = rng.standard_normal(shape)
        if k == 5:                                     # the first padded case: all negative, so
            x = -np.abs(x) - 0.1                       # zero padding would win every edge window
        if backward and (k == len(_POOL_FIRST) - 1 or (k >= len(_POOL_FIRST) and k % 3 == 0)):
            x = rng.integers(-2, 3, shape).astype(float)   # small integers: tied maxima
        args = (x, g["FH"], g["FW"])
        label = _pool_label(g)
        if backward:
            OH, OW = _out(g["H"], g["FH"], g["S"], g["P"]), _out(g["W"], g["FW"], g["S"], g["P"])
            args = (x, rng.standard_normal((g["N"], g["C"], OH, OW)), g["FH"], g["FW"])
            label += f", dout (N, C, OH, OW) = {(g['N'], g['C'], OH, OW)}"
        ties = backward and _has_ties(x, g)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, label,
                           _features(g, "window", ties), g))
    return cases


def _col_cases(col2im=False):
    rng = _rng("col2im" if col2im else "im2col")
    cases = []
    for g in _COL_FIRST + _random_geometries(rng, N_RANDOM):
        shape = (g["N"], g["C"], g["H"], g["W"])
        if col2im:
            OH, OW = _out(g["H"], g["FH"], g["S"], g["P"]), _out(g["W"], g["FW"], g["S"], g["P"])
            col = rng.standard_normal((g["N"] * OH * OW, g["C"] * g["FH"] * g["FW"]))
            args = (col, shape, g["FH"], g["FW"])
            label = "input_shape" + _col_label(g)[1:] + f", col (N*OH*OW, C*FH*FW) = {col.shape}"
        else:
            args = (rng.standard_normal(shape), g["FH"], g["FW"])
            label = _col_label(g)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, label, _features(g), g))
    return cases


_CASES = {"conv2d_naive": _conv_cases, "max_pool_naive": _pool_cases, "im2col": _col_cases,
          "col2im": lambda: _col_cases(col2im=True),
          "conv_backward": lambda: _conv_cases(backward=True),
          "max_pool_backward": lambda: _pool_cases(backward=True)}


# ------------------------------------------------------------------ lesson 2: conv2d_naive --

def _conv(x, W, b, S, P):
    return Convolution(W, b, S, P).forward(x).copy()                  # (N, FN, OH, OW)


def _conv_shape_cause(got, g):
    N, C, FN = g["N"], g["C"], g["FN"]
    if len(got) != 4:
        return "out must be 4-D, one axis each for the images, filters, rows and columns"
    if got[0] != N:
        return "keep one output per image: the first axis is N = x.shape[0]"
    if got[1] != FN:
        return ("the output has one channel per filter: axis 1 is FN = W.shape[0]" +
                (", not C" if got[1] == C else ""))
    return _size_cause(got[2:], g)


def _conv_explain(c, got, want):
    x, W, b = c.args
    g, S, P = c.geo, c.geo["S"], c.geo["P"]
    OH, OW = want.shape[2:]
    variants = [
        ("bias forgotten: add b[f] to every output of filter f", lambda: _conv(x, W, 0 * b, S, P)),
        ("kernel flipped: the layer computes cross-correlation, W[f, c, i, j] multiplies the "
         "window's own pixel (i, j), no flip (a textbook convolution would flip the kernel)",
         lambda: _conv(x, W[:, :, ::-1, ::-1], b, S, P)),
        ("bias added once per channel: add b[f] once, after summing over all C channels",
         lambda: _conv(x, W, b, S, P) + (g["C"] - 1) * b[None, :, None, None]),
        ("only the last channel counts: sum over all C input channels (+=, not = inside the "
         "channel loop)", lambda: _conv(x[:, -1:], W[:, -1:], b, S, P)),
        ("only the first channel counts: sum over all C input channels",
         lambda: _conv(x[:, :1], W[:, :1], b, S, P)),
        ("stride ignored inside the loop: the window of output (oy, ox) starts at row "
         "oy*stride, column ox*stride", lambda: _conv(x, W, b, 1, P)[:, :, :OH, :OW]),
        ("padding on one side only: pad adds `pad` zeros at the top AND the bottom, left AND right",
         lambda: _conv(_pad_one_side(x, P), W, b, S, 0)),
        ("filter rows and columns swapped: W[f, c, i, j] has row i (0..FH-1) and column j",
         lambda: _conv(x, W.transpose(0, 1, 3, 2), b, S, P)),
        ("W's axes mixed up: W is (FN, C, FH, FW), filter first, channel second",
         lambda: _conv(x, W.transpose(1, 0, 2, 3), b, S, P)),
    ]
    return _explain("out", "(N, FN, OH, OW)", got, want, variants, lambda s: _conv_shape_cause(s, g))


@answer_check
def check_conv2d_naive(fn):
    """Lesson 2: ``fn(x, W, b, stride=1, pad=0) -> out (N, FN, OH, OW)`` (see STUBS['conv2d_naive'])
    against convlab's ``Convolution.forward``; loops are allowed."""
    return _run(fn, "conv2d_naive", _conv_cases(), ("x", "W", "b"),
                lambda c: _conv(*c.args, c.geo["S"], c.geo["P"]), _conv_explain,
                "your conv2d_naive agrees with convlab's Convolution.forward")


# ---------------------------------------------------------------- lesson 3: max_pool_naive --

def _pool(x, PH, PW, S, P, mode="max"):
    return Pooling(PH, PW, S, P, mode).forward(x).copy()              # (N, C, OH, OW)


def _pool_shape_cause(got, g):
    if len(got) != 4:
        return "out must be 4-D (N, C, OH, OW)"
    if tuple(got[:2]) != (g["N"], g["C"]):
        return "pooling keeps N and C: each channel of each image is pooled on its own"
    return _size_cause(got[2:], g, window="window")


def _zero_padded(x, P):
    return np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))


def _pool_explain(c, got, want):
    x, PH, PW = c.args
    S, P = c.geo["S"], c.geo["P"]
    OH, OW = want.shape[2:]
    variants = [
        ("padded with 0 instead of -inf: where every real number in a window is negative the "
         "padding's 0 wins; pad with -inf so padding never wins",
         lambda: _pool(_zero_padded(x, P), PH, PW, S, 0)),
        ("that is the mean of each window (average pooling); take the max",
         lambda: _pool(x, PH, PW, S, P, "avg")),
        ("stride ignored inside the loop: the window of output (oy, ox) starts at row "
         "oy*stride, column ox*stride", lambda: _pool(x, PH, PW, 1, P)[:, :, :OH, :OW]),
        ("max taken across channels too: pool each channel on its own (max over the window's "
         "rows and columns only)",
         lambda: np.broadcast_to(_pool(x, PH, PW, S, P).max(axis=1, keepdims=True), want.shape)),
        ("window height and width swapped: pool_h rows by pool_w columns",
         lambda: _pool(x, PW, PH, S, P)),
        ("padding on one side only: pad adds `pad` rows at the top AND the bottom",
         lambda: _pool(np.pad(x, ((0, 0), (0, 0), (0, 2 * P), (0, 2 * P)),
                              constant_values=-np.inf), PH, PW, S, 0)),
    ]
    return _explain("out", "(N, C, OH, OW)", got, want, variants, lambda s: _pool_shape_cause(s, c.geo))


@answer_check
def check_max_pool_naive(fn):
    """Lesson 3: ``fn(x, pool_h, pool_w, stride=1, pad=0) -> out (N, C, OH, OW)`` (see
    STUBS['max_pool_naive']) against convlab's ``Pooling.forward`` (mode 'max'). Padding is
    -inf, as convlab's Pooling pads: padding never wins; pad is at most half the window."""
    return _run(fn, "max_pool_naive", _pool_cases(), ("x",),
                lambda c: _pool(*c.args, c.geo["S"], c.geo["P"]), _pool_explain,
                "your max_pool_naive agrees with convlab's Pooling.forward (max, -inf padding)")


# ------------------------------------------------------------------------ lesson 4: im2col --

def _rows(v):
    """(N, OH, OW, C, FH, FW)-ordered windows -> (N*OH*OW, C*FH*FW)."""
    return v.reshape(v.shape[0] * v.shape[1] * v.shape[2], -1)


def _im2col_shape_cause(got, g):
    N, C, FH, FW = g["N"], g["C"], g["FH"], g["FW"]
    OH, OW = _out(g["H"], FH, g["S"], g["P"]), _out(g["W"], FW, g["S"], g["P"])
    if tuple(got) == (C * FH * FW, N * OH * OW):
        return ("transposed: the book's layout has one ROW per output position (N*OH*OW rows) "
                "and one column per weight (C*FH*FW columns); return col.T")
    if len(got) == 6:
        return "still 6-D: reshape to 2-D rows (N*OH*OW) by columns (C*FH*FW)"
    if len(got) != 2:
        return "col must be 2-D"
    if got[1] == FH * FW and C > 1:
        return "each row holds the window in ALL C channels: C*FH*FW columns"
    if got[1] == C * FH * FW and got[0] % N == 0:
        for oh in range(1, got[0] + 1):            # which (OH', OW') gives this many rows
            if got[0] // N % oh == 0:
                cause = _size_cause((oh, got[0] // N // oh), g)
                if cause and (oh, got[0] // N // oh) != (OH, OW):
                    return cause
    return None


def _im2col_explain(c, got, want):
    x, FH, FW = c.args
    S, P = c.geo["S"], c.geo["P"]
    OH, OW = _out(c.geo["H"], FH, S, P), _out(c.geo["W"], FW, S, P)
    v = _win(x, FH, FW, S, P)                                          # (N, C, OH, OW, FH, FW)
    variants = [
        ("reshaped without moving the axes: bring the windows to (N, OH, OW, C, FH, FW) with "
         "transpose before reshaping (the book's (N, C, FH, FW, OH, OW) array needs "
         ".transpose(0, 4, 5, 1, 2, 3))", lambda: v.transpose(0, 1, 4, 5, 2, 3).reshape(want.shape)),
        ("columns in (FH, FW, C) order: the book's columns go channel first, c*FH*FW + i*FW + j",
         lambda: _rows(v.transpose(0, 2, 3, 4, 5, 1))),
        ("each window flattened column by column: use row-major order, column i*FW + j within "
         "a channel", lambda: _rows(v.transpose(0, 2, 3, 1, 5, 4))),
        ("rows in the wrong order: row n*OH*OW + oy*OW + ox, so ox runs fastest, then oy",
         lambda: _rows(v.transpose(0, 3, 2, 1, 4, 5))),
        ("rows in the wrong order: images first, row n*OH*OW + oy*OW + ox",
         lambda: _rows(v.transpose(2, 3, 0, 1, 4, 5))),
        ("transposed: the book's layout has one ROW per output position and one column per "
         "weight; return col.T", lambda: want.T),
        ("stride ignored: the window of output (oy, ox) starts at row oy*stride, column ox*stride",
         lambda: _rows(_win(x, FH, FW, 1, P)[:, :, :OH, :OW].transpose(0, 2, 3, 1, 4, 5))),
        ("padding on one side only: pad adds `pad` zeros at the top AND the bottom, left AND right",
         lambda: _rows(_win(_pad_one_side(x, P), FH, FW, S, 0).transpose(0, 2, 3, 1, 4, 5))),
    ]
    return _explain("col", "(N*OH*OW, C*FH*FW)", got, want, variants,
                    lambda s: _im2col_shape_cause(s, c.geo))


@answer_check
def check_im2col(fn):
    """Lesson 4: ``fn(x, filter_h, filter_w, stride=1, pad=0) -> col (N*OH*OW, C*FH*FW)``, the
    book's layout (see STUBS['im2col']), against ``convlab.im2col.im2col``."""
    return _run(fn, "im2col", _col_cases(), ("x",),
                lambda c: _im2col(*c.args, c.geo["S"], c.geo["P"]), _im2col_explain,
                "your im2col agrees with convlab.im2col.im2col (the book's layout)")


# ------------------------------------------------------------------------ lesson 4: col2im --

def _col2im_explain(c, got, want):
    col, shape, FH, FW = c.args
    g, S, P = c.geo, c.geo["S"], c.geo["P"]
    N, C = g["N"], g["C"]
    OH, OW = _out(g["H"], FH, S, P), _out(g["W"], FW, S, P)

    def win(order):
        """col read as if its axes were ``order`` (a wrong layout), as (N, C, OH, OW, FH, FW)."""
        sizes = {"N": N, "OH": OH, "OW": OW, "C": C, "FH": FH, "FW": FW}
        a = col.reshape([sizes[k] for k in order])
        return a.transpose([order.index(k) for k in ("N", "C", "OH", "OW", "FH", "FW")])

    right = win(("N", "OH", "OW", "C", "FH", "FW"))
    assigned = "overlapping windows assigned instead of summed: use += (col2im adds the windows up)"
    variants = [
        (assigned, lambda: col2im_overwriting(col, shape, FH, FW, S, P)),
        (assigned, lambda: _fold_loop(right, shape, S, P, assign=True)),
        ("overlapping windows averaged: col2im SUMS them (it is im2col's transpose, not its "
         "inverse: a pixel covered by k windows gets k contributions)",
         lambda: want / np.maximum(_col2im(_im2col(np.ones(shape), FH, FW, S, P), shape, FH, FW,
                                           S, P), 1)),
        ("the padding cut off at the wrong place: drop `pad` rows and columns on EACH side, "
         "img[:, :, pad:pad + H, pad:pad + W]",
         lambda: _fold_loop(right, shape, S, P, crop_start=True)),
        ("stride ignored: the window of row (n, oy, ox) starts at row oy*stride, column ox*stride",
         lambda: _fold_loop(right, shape, S, P, step=1)),
        ("columns read in (FH, FW, C) order: the book's columns go channel first, c*FH*FW + i*FW + j",
         lambda: fold(win(("N", "OH", "OW", "FH", "FW", "C")), shape, S, P)),
        ("each window read column by column: column i*FW + j within a channel (row-major)",
         lambda: fold(win(("N", "OH", "OW", "C", "FW", "FH")), shape, S, P)),
        ("rows read in the wrong order: row n*OH*OW + oy*OW + ox, so ox runs fastest",
         lambda: fold(win(("N", "OW", "OH", "C", "FH", "FW")), shape, S, P)),
        ("rows read in the wrong order: images first, row n*OH*OW + oy*OW + ox",
         lambda: fold(win(("OH", "OW", "N", "C", "FH", "FW")), shape, S, P)),
        ("reshaped without moving the axes: col reshapes to (N, OH, OW, C, FH, FW); transpose "
         "it to (N, C, FH, FW, OH, OW) as the book does before adding",
         lambda: fold(col.reshape(N, C, FH, FW, OH, OW).transpose(0, 1, 4, 5, 2, 3), shape, S, P)),
    ]

    def shape_cause(s):
        if len(s) != 4:
            return "img must be 4-D (N, C, H, W), the shape of input_shape"
        return _size_cause(s[2:], g, cropped_input=True)
    return _explain("img", "(N, C, H, W)", got, want, variants, shape_cause)


@answer_check
def check_col2im(fn):
    """Lesson 4: ``fn(col, input_shape, filter_h, filter_w, stride=1, pad=0) -> img (N, C, H, W)``
    (see STUBS['col2im']) against ``convlab.im2col.col2im``: overlapping windows add up."""
    return _run(fn, "col2im", _col_cases(col2im=True), ("col",),
                lambda c: _col2im(*c.args, c.geo["S"], c.geo["P"]), _col2im_explain,
                "your col2im agrees with convlab.im2col.col2im (overlaps summed)")


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
         "ox*stride", lambda: _fold_loop(dcol_W(W), x.shape, S, P, step=1)),
        ("dx: the padding cut off at the wrong place: drop `pad` rows and columns on EACH side",
         lambda: _fold_loop(dcol_W(W), x.shape, S, P, crop_start=True)),
    ]
    v = _win(x, g["FH"], g["FW"], S, P)                                 # (N, C, OH, OW, FH, FW)
    dW_of = lambda vv, d: np.einsum("nfyx,ncyxij->fcij", d, vv)         # noqa: E731
    dW_variants = [
        ("dW: only the last image counts: sum over all N images (+=, not =)",
         lambda: dW_of(v[-1:], dout[-1:])),
        ("dW: only the first image counts: sum over all N images", lambda: dW_of(v[:1], dout[:1])),
        ("dW: divided by N: sum over the images, do not average", lambda: want[1] / N),
        ("dW: kernel flipped: dW[f, c, i, j] pairs dout with the window's pixel (i, j), no flip",
         lambda: want[1][:, :, ::-1, ::-1]),
        ("dW: stride ignored: the window of output (oy, ox) starts at row oy*stride",
         lambda: dW_of(_win(x, g["FH"], g["FW"], 1, P)[:, :, :OH, :OW], dout)),
        ("dW: padding on one side only: pad adds `pad` zeros on EACH side",
         lambda: dW_of(_win(_pad_one_side(x, P), g["FH"], g["FW"], S, 0), dout)),
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
        return _size_cause(s[2:], g, cropped_input=True)

    checks = [("dx", "(N, C, H, W)", dx_variants, dx_shape),
              ("dW", "(FN, C, FH, FW)", dW_variants, dW_shape),
              ("db", "(FN,)", db_variants, db_shape)]
    hints = {}
    for (name, layout, variants, shape_cause), a, w in zip(checks, got, want):
        hint = _explain(name, layout, a, w, variants, shape_cause)
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
    return _run(fn, "conv_backward", _conv_cases(backward=True), ("x", "W", "b", "dout"),
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
        return _size_cause(s[2:], c.geo, cropped_input=True)
    return _explain("dx", "(N, C, H, W)", got, want, variants, shape_cause)


@answer_check
def check_max_pool_backward(fn):
    """Lesson 5: ``fn(x, dout, pool_h, pool_w, stride=1, pad=0) -> dx (N, C, H, W)`` (see
    STUBS['max_pool_backward']) against convlab's ``Pooling.backward`` (max): the first maximum
    of each window takes dout, overlapping windows add up, padding is -inf."""
    return _run(fn, "max_pool_backward", _pool_cases(backward=True), ("x", "dout"),
                lambda c: _pool_grad(*c.args, c.geo["S"], c.geo["P"]), _pool_backward_explain,
                "your max_pool_backward agrees with convlab's Pooling.backward (first maximum, "
                "overlaps summed)")
