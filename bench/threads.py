"""Thread count for the benchmark scripts, set from ``--threads N`` before NumPy is imported.

OpenBLAS fixes its thread count when NumPy loads it, so ``bench/run.py`` and
``bench/profile_step.py`` call ``set_threads_from_argv`` first thing. No NumPy import here.
"""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_from_argv(argv):
    """The value of --threads in argv (``--threads N`` or ``--threads=N``), or None."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return None


def set_threads_from_argv(argv):
    """Export --threads to the BLAS/OpenMP thread variables; returns the value or None."""
    n = threads_from_argv(argv)
    if n:
        for var in THREAD_VARIABLES:
            os.environ[var] = n
    return n
