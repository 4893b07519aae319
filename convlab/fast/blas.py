"""One BLAS thread for the calling thread: what lets ``convlab.fast.fused`` split a batch over threads.

NumPy's matrix products run in OpenBLAS, which starts its own threads. When two of our threads
each multiply half a batch, those BLAS threads would fight ours for the same cores (and OpenBLAS's
idle threads keep spinning for a while after every product). OpenBLAS 0.3.27 and later offers
``openblas_set_num_threads_local(n)``: a thread count for the calling thread only, the rest of
the process keeps its own. :func:`single_threaded_blas_here` calls it with 1.

Where no such OpenBLAS is loaded (MKL, Apple Accelerate, an older OpenBLAS, not Linux),
:func:`thread_local_control` is False and ``convlab.fast.fused`` runs on one thread.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np  # noqa: F401  -- NumPy must have loaded its BLAS before we look for it

__all__ = ["thread_local_control", "single_threaded_blas_here", "single_threaded_blas"]


@functools.lru_cache(maxsize=1)
def _set_local():
    """OpenBLAS's ``openblas_set_num_threads_local`` from the library NumPy loaded, or None."""
    try:
        import ctypes
    except ImportError:                                 # a Python without ctypes
        return None
    try:
        with open("/proc/self/maps") as f:              # every file mapped into this process
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:                                     # not Linux
        return None
    for path in sorted(paths):
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None


def thread_local_control():
    """True if this process's BLAS can be set to one thread per calling thread."""
    return _set_local() is not None


def single_threaded_blas_here():
    """Make the BLAS calls of the calling thread single-threaded (a no-op without control).
    Used as the ``initializer`` of ``convlab.fast.fused``'s worker threads."""
    fn = _set_local()
    if fn is not None:
        fn(1)


@contextlib.contextmanager
def single_threaded_blas():
    """The calling thread's BLAS calls are single-threaded inside the ``with`` block, and as
    before after it. ``convlab.fast.fused`` runs one slice of a batch on the calling thread this way."""
    fn = _set_local()
    if fn is None:
        yield
        return
    previous = fn(1)                                    # returns the thread's count until now
    try:
        yield
    finally:
        fn(previous)
