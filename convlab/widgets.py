"""ipywidgets explorers for the lessons. Each function names the lesson that uses it.

Every explorer is a thin shell around a plain function (the "view") that takes the slider values
and returns text and a figure; the lessons call those views directly too, so nbval compares real
output, and no slider value can raise a traceback.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

# ---- lessons 6-8 ----
