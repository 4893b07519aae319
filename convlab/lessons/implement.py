"""Implement-it exercises: the machinery every check shares (each lesson module holds its own).

    lesson02.check_conv2d_naive(fn)       fn(x, W, b, stride=1, pad=0) -> out (N, FN, OH, OW)
    lesson03.check_max_pool_naive(fn)     fn(x, pool_h, pool_w, stride=1, pad=0) -> (N, C, OH, OW)
    lesson04.check_im2col(fn)             fn(x, FH, FW, stride=1, pad=0) -> col (N*OH*OW, C*FH*FW)
    lesson04.check_col2im(fn)             fn(col, input_shape, FH, FW, stride=1, pad=0) -> (N, C, H, W)
    lesson05.check_conv_backward(fn)      fn(x, W, b, dout, stride=1, pad=0) -> (dx, dW, db)
    lesson05.check_max_pool_backward(fn)  fn(x, dout, pool_h, pool_w, stride=1, pad=0) -> dx (N, C, H, W)

``STUBS[name]``: the stub cell a notebook shows (signature, docstring with every shape, body
``raise NotImplementedError``). A check calls the learner's ``fn`` on about thirty fixed-seed
configurations (``conv_cases``, ``pool_cases``, ``col_cases``), simplest first (one image, channel
and filter, stride 1, no padding), then non-square inputs and filters, several filters, channels
and images, padding, stride > 1, overlapping windows, then random mixtures; it compares each
result with convlab's own implementation (``run_check``, ``compare``) to float64 rounding: the
tolerance (RTOL, ATOL) is a thousand times the largest difference loops summing in another order
give, so a nearly-right result (off by 1e-6, or a float32 detour) fails; and prints one line:

    PASS: ...
    FAIL: not yet. Hint: <the likely mistake>. Case k of n (the first with <what is new>): <shapes>

The hint comes from comparing the learner's result with deliberately wrong versions the check
computes itself (bias forgotten, kernel flipped, overlaps assigned instead of summed, ...; the
shared ones are ``fold_loop``, ``col2im_overwriting``, ``pad_one_side``, ``size_cause``); when
none matches, it quotes the first number that differs. ``case(name, k)`` returns case k's
arguments, to run a failing case by hand. A check never raises: an exception in the learner's
code is a FAIL line quoting it, and ``NotImplementedError`` reads "not written yet"; exit(),
SystemExit and Ctrl-C become FAIL lines too, and a call running longer than TIME_LIMIT seconds
is stopped (``call``: every implement-it check calls the learner's code through it).
This module imports no lesson module (the lesson modules import it).
"""
from __future__ import annotations

import builtins
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..im2col import windows
from .check import report

__all__ = ["STUBS", "NAMES", "NOT_WRITTEN", "TIME_LIMIT", "case", "call", "run_check", "compare",
           "size_cause", "out_size", "conv_cases", "pool_cases", "col_cases", "fold_loop",
           "col2im_overwriting", "pad_one_side"]

# The learner's numbers must agree with convlab's to this. Loops summing in any order differ
# from convlab's by at most 7e-15 over every case (values up to 19), so ATOL keeps a margin of
# a thousand; any nudge a real mistake makes (1e-8 relative and up) is refused.
RTOL, ATOL = 1e-10, 1e-11
TIME_LIMIT = 10.0                # seconds one call of the learner's function may run (``call``)
NOT_WRITTEN = ("not written yet: replace `raise NotImplementedError` with your code, then run "
               "this check again.")

from .stubs import NAMES, STUBS  # noqa: E402  (re-exported: the stub texts)


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


def _where(exc: BaseException, at: str = "") -> str:
    """' (line 7 of conv2d_naive: `out[...] = ...`)': the last frame of the learner's own code
    (``at`` goes before "line")."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.realpath(f.filename).startswith(_LIBRARY_DIRS)]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or "").strip()
    where = f" ({at + ' ' if at else ''}line {f.lineno} of {f.name}"
    return where + (f": `{line[:80]}`)" if line else ")")


class _TimeUp(BaseException):
    """Raised inside the learner's function once it has run for longer than TIME_LIMIT (a
    BaseException, so the learner's own ``except Exception`` does not swallow it)."""


def _alarm_usable() -> bool:
    """True where SIGALRM can interrupt this thread: a Unix main thread whose interval timer
    is free (not Windows, not Pyodide in a browser, not a worker thread)."""
    return (hasattr(signal, "setitimer") and sys.platform != "emscripten"
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def _with_alarm(seconds, run):
    """run() with SIGALRM raising _TimeUp after ``seconds``, and every 0.5 s after that should
    the learner's code catch it; the previous handler is restored."""
    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            raise _TimeUp
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
        return run()
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _with_trace(seconds, run):
    """run() under a sys.settrace hook that raises _TimeUp at the first line run after
    ``seconds`` (where there are no signals: Windows, Pyodide). Without a limit when a
    debugger or coverage tool already traces this thread: theirs is left alone."""
    if sys.gettrace() is not None:
        return run()
    end = time.monotonic() + seconds

    def tracer(frame, event, arg):
        if time.monotonic() > end:
            raise _TimeUp                        # CPython then removes the hook itself
        return tracer
    sys.settrace(tracer)
    try:
        return run()
    finally:
        sys.settrace(None)


def _exit_raiser(code=None):
    raise SystemExit(code)


def _without_exit(fn, run):
    """run() with ``exit``/``quit`` raising SystemExit where the learner's code finds them: in a
    notebook they are IPython's, which would shut the kernel down instead of raising, and
    Python's own close stdin first."""
    spaces = [vars(builtins)]
    g = getattr(getattr(fn, "__func__", fn), "__globals__", None)
    if g is None:
        g = getattr(sys.modules.get(getattr(fn, "__module__", None) or ""), "__dict__", None)
    if isinstance(g, dict) and g is not spaces[0]:
        spaces.append(g)
    saved = [(ns, name, ns[name]) for ns in spaces for name in ("exit", "quit") if name in ns]
    for ns, name, _ in saved:
        ns[name] = _exit_raiser
    try:
        return run()
    finally:
        for ns, name, value in saved:
            ns[name] = value


def call(fn, *args, **kwargs):
    """Call the learner's ``fn(*args, **kwargs)``: (result, None), or (None, why) when it raised
    (quoted with its line), was not written yet, called exit() or raised SystemExit, was stopped
    by Ctrl-C, or ran longer than TIME_LIMIT seconds. Never raises, never ends the process; the
    time limit is a SIGALRM timer where there is one, else a trace hook (Windows, Pyodide)."""
    def run():
        return fn(*args, **kwargs)

    def limited():
        return _with_alarm(TIME_LIMIT, run) if _alarm_usable() else _with_trace(TIME_LIMIT, run)
    try:
        return _without_exit(fn, limited), None
    except NotImplementedError:
        return None, NOT_WRITTEN
    except _TimeUp as e:
        return None, (f"your function was still running after {TIME_LIMIT:g} s, so the check "
                      f"stopped it{_where(e, 'at')}; a loop that never ends, such as a `while` "
                      f"whose condition never changes, does this")
    except SystemExit as e:
        return None, (f"your function tried to end the program: SystemExit({e.code!r}), from "
                      f"exit(), sys.exit() or raise SystemExit{_where(e)}; give the result back "
                      f"with `return` instead")
    except KeyboardInterrupt as e:
        return None, f"interrupted (Ctrl-C or the stop button) while your function ran{_where(e)}"
    except Exception as e:  # noqa: BLE001 - quoted to the learner, never a traceback
        msg = str(e)
        msg = msg if len(msg) <= 160 else msg[:157] + "..."
        return None, f"your function raised {type(e).__name__}: {msg}{_where(e)}"


def _call(fn, case: _Case):
    """Run fn on fresh copies of the case's arrays: (result, copies, None) or (None, None, error)."""
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)
    got, err = call(fn, *args, **case.kwargs)
    return (None, None, err) if err is not None else (got, args, None)


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


def run_check(fn, name, cases, arg_names, reference, explain, success):
    """The loop every ``check_<name>`` shares: call ``fn`` on each case, stop at the first failure
    and print its hint, or print PASS (``success`` plus what the cases covered). Returns a bool.

    cases: from ``conv_cases``/``pool_cases``/``col_cases``; arg_names: the names of the array
    arguments, to say which one the learner changed in place; reference(case): convlab's
    result; explain(case, got, want): the hint (str) or None when ``got`` is right.
    """
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


def compare(name: str, layout: str, got, want, variants=(), shape_hint=None) -> str | None:
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
    off = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))
    if off < 1e-4:                                   # nearly right: show the digits that differ
        return (f"{name} is nearly right but not quite: at index {idx} expected {want[idx]:.15g}, "
                f"got {got[idx]:.15g} (off by up to {off:.1g} of the largest value, more than "
                f"float64 rounding: a float32 step, or a small number added somewhere?)")
    return (f"{name} differs from convlab's at index {idx}: expected {want[idx]:.6g}, got "
            f"{got[idx]:.6g} ({int(bad.sum())} of {bad.size} numbers differ)")


def out_size(size, k, s, p):
    """The output size along one axis: (size + 2*p - k) // s + 1."""
    return (size + 2 * p - k) // s + 1


def size_cause(got_hw, g, window="filter", cropped_input=False) -> str | None:
    """Name the likely mistake behind a wrong (OH, OW) (or, ``cropped_input``, a wrong (H, W)).
    ``g``: the case's geometry (``Case.geo``); ``window``: "filter" or "window" (pooling)."""
    H, W, FH, FW, S, P = g["H"], g["W"], g["FH"], g["FW"], g["S"], g["P"]
    got_hw = tuple(got_hw)
    if cropped_input:
        right = (H, W)
        tries = [((H + 2 * P, W + 2 * P), "the padding is still there: cut it off at the end, "
                                          "img[:, :, pad:pad + H, pad:pad + W]"),
                 ((W, H), "H and W swapped")]
    else:
        right = (out_size(H, FH, S, P), out_size(W, FW, S, P))
        ceil = (-(-(H + 2 * P - FH) // S) + 1, -(-(W + 2 * P - FW) // S) + 1)
        tries = [((out_size(H, FH, S, 0), out_size(W, FW, S, 0)),
                  "padding ignored in the output size: OH = (H + 2*pad - FH) // stride + 1"),
                 ((out_size(H, FH, 1, P), out_size(W, FW, 1, P)),
                  "stride ignored in the output size: OH = (H + 2*pad - FH) // stride + 1"),
                 ((out_size(H + P, FH, S, 0), out_size(W + P, FW, S, 0)),
                  "padding counted once: pad adds `pad` rows at the top AND at the bottom (2*pad)"),
                 (ceil, "round down: OH = (H + 2*pad - FH) // stride + 1 (floor division)"),
                 ((out_size(H, FW, S, P), out_size(W, FH, S, P)),
                  f"{window} height and width swapped: FH goes with H, FW with W"),
                 ((right[1], right[0]), "OH and OW swapped: OH counts rows (from H), OW columns")]
        if window == "window" and (S, S) != (FH, FW):
            tries.insert(2, ((out_size(H, FH, FH, P), out_size(W, FW, FW, P)),
                             "stride taken equal to the window: use the stride argument "
                             "(windows overlap when stride < window)"))
    for hw, cause in tries:
        if hw == got_hw and hw != right:
            return cause
    return None


# ------------------------------------------------------------------------- shared wrong versions --

def fold_loop(win, input_shape, S, P, assign=False, step=None, crop_start=False):
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
    OH, OW = out_size(H, filter_h, stride, pad), out_size(W, filter_w, stride, pad)
    c = np.asarray(col).reshape(N, OH, OW, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=c.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            img[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] = c[:, :, i, j]
    return img[:, :, pad:pad + H, pad:pad + W]


def pad_one_side(x, P):
    """x (N, C, H, W) with all 2*P padding rows and columns at the bottom and right: WRONG on
    purpose (the "padding on one side only" mistake)."""
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
        OH, OW = out_size(g["H"], g["FH"], g["S"], g["P"]), out_size(g["W"], g["FW"], g["S"], g["P"])
        s += f", dout (N, FN, OH, OW) = {(g['N'], g['FN'], OH, OW)}"
    return s + f", stride {g['S']}, pad {g['P']}"


def _pool_label(g):
    return (f"x (N, C, H, W) = {(g['N'], g['C'], g['H'], g['W'])}, window {g['FH']}x{g['FW']} "
            f"(pool_h x pool_w), stride {g['S']}, pad {g['P']}")


def _col_label(g):
    return (f"x (N, C, H, W) = {(g['N'], g['C'], g['H'], g['W'])}, filter {g['FH']}x{g['FW']} "
            f"(FH x FW), stride {g['S']}, pad {g['P']}")


def conv_cases(backward=False):
    """The cases of check_conv2d_naive, args (x, W, b), or with ``backward`` of
    check_conv_backward, args (x, W, b, dout); kwargs stride and pad."""
    rng = _rng("conv_backward" if backward else "conv2d_naive")
    cases = []
    for g in _CONV_FIRST + _random_geometries(rng, N_RANDOM, conv=True):
        x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
        W = rng.standard_normal((g["FN"], g["C"], g["FH"], g["FW"]))
        b = rng.standard_normal(g["FN"])
        args = (x, W, b)
        if backward:
            OH, OW = out_size(g["H"], g["FH"], g["S"], g["P"]), out_size(g["W"], g["FW"], g["S"], g["P"])
            args += (rng.standard_normal((g["N"], g["FN"], OH, OW)),)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, _conv_label(g, backward),
                           _features(g), g))
    return cases


def _has_ties(x, g):
    v = windows(x, g["FH"], g["FW"], g["S"], g["P"], pad_value=-np.inf)
    m = v.max(axis=(4, 5), keepdims=True)
    return bool(((v == m).sum(axis=(4, 5)) > 1).any())


def pool_cases(backward=False):
    """The cases of check_max_pool_naive, args (x, pool_h, pool_w), or with ``backward`` of
    check_max_pool_backward, args (x, dout, pool_h, pool_w) with tied maxima in some."""
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
            OH, OW = out_size(g["H"], g["FH"], g["S"], g["P"]), out_size(g["W"], g["FW"], g["S"], g["P"])
            args = (x, rng.standard_normal((g["N"], g["C"], OH, OW)), g["FH"], g["FW"])
            label += f", dout (N, C, OH, OW) = {(g['N'], g['C'], OH, OW)}"
        ties = backward and _has_ties(x, g)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, label,
                           _features(g, "window", ties), g))
    return cases


def col_cases(col2im=False):
    """The cases of check_im2col, args (x, filter_h, filter_w), or with ``col2im`` of
    check_col2im, args (col, input_shape, filter_h, filter_w)."""
    rng = _rng("col2im" if col2im else "im2col")
    cases = []
    for g in _COL_FIRST + _random_geometries(rng, N_RANDOM):
        shape = (g["N"], g["C"], g["H"], g["W"])
        if col2im:
            OH, OW = out_size(g["H"], g["FH"], g["S"], g["P"]), out_size(g["W"], g["FW"], g["S"], g["P"])
            col = rng.standard_normal((g["N"] * OH * OW, g["C"] * g["FH"] * g["FW"]))
            args = (col, shape, g["FH"], g["FW"])
            label = "input_shape" + _col_label(g)[1:] + f", col (N*OH*OW, C*FH*FW) = {col.shape}"
        else:
            args = (rng.standard_normal(shape), g["FH"], g["FW"])
            label = _col_label(g)
        cases.append(_Case(args, {"stride": g["S"], "pad": g["P"]}, label, _features(g), g))
    return cases


_CASES = {"conv2d_naive": conv_cases, "max_pool_naive": pool_cases, "im2col": col_cases,
          "col2im": lambda: col_cases(col2im=True),
          "conv_backward": lambda: conv_cases(backward=True),
          "max_pool_backward": lambda: pool_cases(backward=True)}
