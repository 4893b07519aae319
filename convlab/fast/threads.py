"""Worker threads for the fast path: a batch cut into contiguous slices of images, one per thread.

Both plans (``fused.FusedSimpleConvNet`` and ``plan.LayerPlan``) use the second core the same way:
the calling thread runs the first slice and a worker thread each other one, every one with
single-threaded BLAS (``convlab.fast.blas``), and the results are added in a fixed order, so a
given thread count gives the same numbers run after run. :class:`Workers` is that pool.

Where no thread can start (Pyodide: ``threading.Thread.start`` raises) or the BLAS cannot be made
single-threaded per thread, :class:`Workers` has one thread and runs every job on the caller.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ..arith import check_int
from .blas import single_threaded_blas, single_threaded_blas_here, thread_local_control

__all__ = ["Workers", "default_threads", "threads_start", "MIN_SLICE"]

MIN_SLICE = 16      # fewer images than this per worker: one thread does the batch


def default_threads():
    """Worker threads: ``CONVLAB_THREADS`` if set, else ``OPENBLAS_NUM_THREADS`` /
    ``OMP_NUM_THREADS`` (what limits NumPy's BLAS), else the CPUs this process may use."""
    for var in ("CONVLAB_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_start():
    """True if this Python can start a thread (Pyodide cannot: ``Thread.start`` raises
    RuntimeError there)."""
    try:
        t = threading.Thread(target=int)
        t.start()
        t.join()
        return True
    except RuntimeError:
        return False


class Workers:
    """``threads`` threads (default :func:`default_threads`; 1 where no thread can start or the
    BLAS cannot be made single-threaded per thread): the calling thread and ``threads - 1``
    worker threads, each worker with single-threaded BLAS."""

    def __init__(self, threads=None):
        threads = default_threads() if threads is None else check_int("threads", threads, 1)
        self.threads = threads if threads > 1 and thread_local_control() and threads_start() else 1
        self._pool = (ThreadPoolExecutor(self.threads - 1, thread_name_prefix="convlab-fast",
                                         initializer=single_threaded_blas_here)
                      if self.threads > 1 else None)

    def run(self, fn, jobs):
        """[fn(*job) for job in jobs]: the first job on the calling thread (its BLAS made
        single-threaded meanwhile), each other job on a worker thread. Returns only when every
        job has finished, even on Ctrl-C (then re-raised): no worker is left writing into arrays.
        The workers run under the caller's ``np.errstate`` (e.g. ``Trainer`` ignoring overflow
        while it checks a step for divergence itself)."""
        if self._pool is None or len(jobs) == 1:
            return [fn(*job) for job in jobs]
        errors = np.geterr()     # NumPy's error settings are per thread: the caller's hold for all
        futures = [self._pool.submit(_with_errstate, errors, fn, job) for job in jobs[1:]]
        try:
            with single_threaded_blas():
                first = fn(*jobs[0])
        finally:
            interrupted = None
            while True:
                try:
                    wait(futures)
                    break
                except KeyboardInterrupt as e:                           # let the workers finish
                    interrupted = e
            if interrupted is not None:
                raise interrupted
        return [first] + [f.result() for f in futures]

    def cuts(self, N):
        """(i, lo, hi) for each worker i: contiguous ranges of N images, at least MIN_SLICE each
        (smaller products are not worth a thread, and OpenBLAS multiplies a matrix of one or two
        rows in another order than the same rows inside a bigger one)."""
        n = max(1, min(self.threads, N // MIN_SLICE))
        bounds = [N * i // n for i in range(n + 1)]
        return [(i, bounds[i], bounds[i + 1]) for i in range(n)]

    def split(self, fn):
        """fn(i, n) for i in range(n), one call per thread (n = ``threads``); returns when all are
        done. For element-wise work on shares of arrays, e.g. ``fast.optim.update``'s ``split``."""
        self.run(fn, [(i, self.threads) for i in range(self.threads)])


def _with_errstate(errors, fn, job):
    """fn(*job) under NumPy error settings ``errors`` (a worker thread has its own settings)."""
    with np.errstate(**errors):
        return fn(*job)
