"""The one way a lesson checks an answer (every ``check_*`` of every lesson uses it).

The convention:
- the learner's answer is the FIRST argument; anything the check needs besides it comes after;
- a shape or a number may be given as a tuple, a list, a NumPy array or a NumPy scalar alike;
- a check never raises on a learner's answer, prints exactly one line, ``PASS: ...`` or
  ``FAIL: ... Hint: ...``, and returns True or False;
- a nearly-right answer fails: whole numbers must be exact, real numbers must agree to a tolerance
  each check states (a rounded answer is not accepted unless the question asks for rounding).
Predict-then-check cells use ``compare_guess`` (one line: the guess against the truth, then why;
with no guess yet it reveals nothing and says how to guess, or how to ask for the answer: "show").
Checks import nothing from the widget code.
"""
from __future__ import annotations

import functools
import numbers
import sys

import numpy as np

__all__ = ["report", "as_shape", "as_int", "as_number", "as_array", "answer_check", "close",
           "compare_guess", "NO_GUESS", "SHOW"]


def report(ok: bool, success: str, hint: str = "") -> bool:
    """Print one PASS/FAIL line (FAIL with a hint) and return ``ok`` as a bool."""
    line = f"PASS: {success}" if ok else (f"FAIL: not yet. Hint: {hint}" if hint else "FAIL: not yet.")
    sys.stdout.write(line + "\n")      # one write: the line never arrives as two stream outputs
    return bool(ok)


def answer_check(fn):
    """Decorator for ``check_*`` functions: an exception raised while checking (a malformed
    answer the check did not foresee) becomes a FAIL line quoting it, never a traceback; so do
    SystemExit (the learner's code calling exit()) and Ctrl-C, which stops the check."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return bool(fn(*args, **kwargs))
        except SystemExit as e:
            return report(False, "", f"your code tried to end the program (SystemExit({e.code!r}), "
                                     f"from exit() or sys.exit()) while the check ran.")
        except KeyboardInterrupt:
            return report(False, "", "interrupted (Ctrl-C or the stop button) before the check "
                                     "finished; run it again.")
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


def close(got: float, right: float, rel: float = 1e-12, abs_: float = 1e-15) -> bool:
    """``got`` equals ``right`` up to the check's stated tolerance. The default (1e-12 relative,
    1e-15 absolute near 0) is float64's rounding with room for a learner's other summation order
    (a few units in the last place), and refuses any rounded or nearly-right value."""
    return got is not None and abs(got - right) <= max(rel * abs(right), abs_)


#: What ``compare_guess`` asks for to show the answer without a guess.
SHOW = "show"
#: The whole line ``compare_guess`` prints when there is no guess yet: no truth, no explanation.
NO_GUESS = ("No guess yet, so nothing is revealed: write your guess into my_guess in the cell above "
            f"and run both cells again (or set my_guess = {SHOW!r} to see the answer without guessing).")


def compare_guess(guess, truth, explain: str, rel: float = 1e-9) -> bool:
    """Predict, then check: ONE line comparing the learner's guess (written into a variable
    before the truth is shown) with ``truth``, followed by ``explain``. Returns True when the
    guess is right. ``None`` or ``...`` (no guess yet) print ``NO_GUESS`` and reveal nothing;
    the string ``"show"`` asks for the truth and its explanation without a guess. Numbers agree
    to ``rel`` (relative), and a wrong number is called too low or too high by a factor; anything
    else is compared with ``==``. Never raises on a guess."""
    def fmt(v):
        if isinstance(v, str):
            return repr(v)
        n = as_number(v) if not isinstance(v, (bool, np.bool_)) else None
        if n is None:
            return str(v)
        return f"{int(n):,}" if n.is_integer() else f"{n:.4g}"
    if guess is None or guess is Ellipsis:
        sys.stdout.write(NO_GUESS + "\n")
        return False
    try:
        if isinstance(guess, str) and guess.strip().lower() == SHOW and truth != SHOW:
            line, ok = f"The answer (no guess made): {fmt(truth)}", False
        elif as_number(truth) is not None and not isinstance(truth, (bool, np.bool_)):
            g, t = as_number(guess), float(as_number(truth))
            if g is None:
                line, ok = f"Your guess {guess!r} is not a number. The truth: {fmt(truth)}", False
            elif close(g, t, rel=rel):
                line, ok = f"Your guess {fmt(g)} is right", True
            else:
                if g > 0 and t > 0:
                    ratio = max(g, t) / min(g, t)
                    by = f" by a factor of {ratio:,.1f}" if ratio >= 2 else ""
                else:
                    by = ""
                line, ok = f"Your guess {fmt(g)} is too {'low' if g < t else 'high'}{by}: the truth is {fmt(truth)}", False
        else:
            ok = bool(guess == truth)
            line = f"Your guess {fmt(guess)} is right" if ok else \
                f"Your guess {fmt(guess)} is not it: the truth is {fmt(truth)}"
    except Exception as e:  # noqa: BLE001 - a guess never gives a traceback
        line, ok = f"Could not read your guess ({type(e).__name__}: {e}). The truth: {fmt(truth)}", False
    sys.stdout.write(f"{line}. {explain}\n")
    return ok
