"""Static matplotlib figures for the lessons. Each function names the lesson that uses it.

Every figure is computed from the library's own code, so a drawing cannot disagree with the
numbers it illustrates.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

# ---- lessons 6-8 (and training curves) ----
