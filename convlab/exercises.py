"""Self-checking exercises for the lessons: each ``check_*`` function prints a clear PASS or
FAIL with a hint and returns True/False. Each function names the lesson that uses it.
"""
from __future__ import annotations

import numpy as np


def report(ok: bool, success: str, hint: str) -> bool:
    """Print one PASS/FAIL line (with a hint on failure) and return ``ok``."""
    print(f"PASS: {success}" if ok else f"FAIL: not yet. Hint: {hint}")
    return bool(ok)

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

# ---- lessons 6-8 ----
