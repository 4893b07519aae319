"""convlab/fast/blas.py: one BLAS thread for the calling thread, where OpenBLAS allows it."""
import numpy as np
import pytest

from convlab.fast import blas


def test_blas_control_is_found_where_openblas_offers_it():
    import sys
    import threading

    info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    version = tuple(int(v) for v in str(info.get("version", "0")).split(".")[:3] if v.isdigit())
    if sys.platform.startswith("linux") and "openblas" in str(info.get("name", "")) and version >= (0, 3, 27):
        assert blas.thread_local_control()                  # NumPy's OpenBLAS has the call
    errors = []
    worker = threading.Thread(target=lambda: errors.append(blas.single_threaded_blas_here()))
    worker.start()
    worker.join()
    assert errors == [None]                                  # callable from any thread, a no-op without control


def test_single_threaded_blas_restores_the_threads_count():
    fn = blas._set_local()
    if fn is None:
        pytest.skip("no per-thread BLAS control here")
    before = fn(3)
    fn(before)                                               # (a probe: fn returns the count until now)
    with blas.single_threaded_blas():
        assert fn(1) == 1
    assert fn(before) == before
