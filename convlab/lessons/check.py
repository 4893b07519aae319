"""The one way a lesson checks an answer (every ``check_*`` of every lesson uses it).

The convention:
- the learner's answer is the FIRST argument; anything the check needs besides it comes after;
- a shape or a number may be given as a tuple, a list, a NumPy array or a NumPy scalar alike;
- a check never raises on a learner's answer, prints exactly one line, ``PASS: ...`` or
  ``FAIL: ... Hint: ...``, and returns True or False;
- a nearly-right answer fails: whole numbers must be exact, real numbers must agree to a tolerance
  each check states (a rounded answer is not accepted unless the question asks for rounding).
Checks import nothing from the widget code.
"""
from __future__ import annotations

import functools
import numbers
import sys

import numpy as np

__all__ = ["report", "as_shape", "as_int", "as_number", "as_array", "answer_check", "close"]


def report(ok: bool, success: str, hint: str = "") -> bool:
    """Print one PASS/FAIL line (FAIL with a hint) and return ``ok`` as a bool."""
    line = f"PASS: {success}" if ok else (f"FAIL: not yet. Hint: {hint}" if hint else "FAIL: not yet.")
    sys.stdout.write(line + "\n")      # one write: the line never arrives as two stream outputs
    return bool(ok)


def answer_check(fn):
    """Decorator for ``check_*`` functions: an exception raised while checking (a malformed
    answer the check did not foresee) becomes a FAIL line quoting it, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return bool(fn(*args, **kwargs))
        except Exception as e:  # noqa: BLE001 - the learner sees one line, not a traceback
            return report(False, "", f"could not read your answer ({type(e).__name__}: {e}).")
    return wrapper


def _whole(v) -> int | None:
    """``v`` as an int if it is a whole real number (1, 1.0, np.int64(1), np.float32(1.0)), else None.
    Booleans are not numbers here."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if not isinstance(v, (numbers.Real, np.number)):
        return None
    f = float(v)
    return int(f) if np.isfinite(f) and f == int(f) else None


def as_int(answer) -> int | None:
    """A single whole number (int, float with no fraction, NumPy scalar, 0-d or 1-element array)."""
    a = np.asarray(answer) if not isinstance(answer, (bool, np.bool_)) else None
    if a is None or a.dtype == object or a.size != 1 or a.ndim > 1:
        return None
    return _whole(a.reshape(()).item()) if a.dtype.kind in "iuf" else None


def as_shape(answer) -> tuple[int, ...] | None:
    """A shape (a tuple of whole numbers) from a tuple, list or 1-D NumPy array, else None."""
    if isinstance(answer, (str, bytes)):
        return None
    try:
        items = list(answer.tolist() if isinstance(answer, np.ndarray) else answer)
    except TypeError:
        return None
    out = [_whole(v) for v in items]
    return None if any(v is None for v in out) else tuple(out)


def as_number(answer) -> float | None:
    """A single finite real number (int, float, NumPy scalar, 0-d or 1-element array), else None."""
    if isinstance(answer, (bool, np.bool_, str, bytes)):
        return None
    try:
        a = np.asarray(answer)
    except Exception:  # noqa: BLE001
        return None
    if a.dtype.kind not in "iuf" or a.size != 1 or a.ndim > 1:
        return None
    f = float(a.reshape(()))
    return f if np.isfinite(f) else None


def as_array(answer, ndim: int | None = None) -> np.ndarray | None:
    """A finite float array (from nested lists or an array), optionally of ``ndim`` dimensions."""
    if isinstance(answer, (str, bytes)):
        return None
    try:
        a = np.asarray(answer)
    except Exception:  # noqa: BLE001 - ragged lists
        return None
    if a.dtype.kind not in "iuf" or (ndim is not None and a.ndim != ndim):
        return None
    a = a.astype(float)
    return a if np.all(np.isfinite(a)) else None


def close(got: float, right: float, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """``got`` equals ``right`` up to the check's stated tolerance (default 1e-6 relative)."""
    return got is not None and abs(got - right) <= max(rel * abs(right), abs_)
