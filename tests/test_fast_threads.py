"""convlab.fast.threads: the worker threads both plans share. Jobs run on the calling thread and
the workers, results come back in job order, a batch is cut into contiguous slices of at least
MIN_SLICE images, Ctrl-C waits for the workers, and where no thread can start everything runs on
the calling thread."""
import threading
import time
import warnings

import numpy as np
import pytest

from convlab.fast import threads as fast_threads
from convlab.fast.threads import MIN_SLICE, Workers, default_threads


def two_workers():
    workers = Workers(2)
    if workers.threads < 2:
        pytest.skip("no per-thread BLAS control here: one thread")
    return workers


def test_jobs_run_on_the_calling_thread_and_a_worker_in_order():
    workers = two_workers()
    got = workers.run(lambda a, b: (a + b, threading.current_thread()), [(1, 2), (3, 4)])
    assert [s for s, _ in got] == [3, 7]
    assert got[0][1] is threading.current_thread()            # the first job: the caller's
    assert got[1][1] is not threading.current_thread()
    seen = []
    workers.split(lambda i, n: seen.append((i, n)))
    assert sorted(seen) == [(0, 2), (1, 2)]


@pytest.mark.parametrize("N", [0, 1, 15, 31, 32, 33, 100, 101])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_cuts_are_contiguous_slices_of_at_least_min_slice(N, threads, monkeypatch):
    monkeypatch.setattr(fast_threads, "thread_local_control", lambda: True)
    cuts = Workers(threads).cuts(N)
    assert [i for i, _, _ in cuts] == list(range(len(cuts)))
    assert cuts[0][1] == 0 and cuts[-1][2] == N
    assert all(a[2] == b[1] for a, b in zip(cuts, cuts[1:]))
    sizes = [hi - lo for _, lo, hi in cuts]
    assert len(cuts) == max(1, min(threads, N // MIN_SLICE))
    assert len(cuts) == 1 or (min(sizes) >= MIN_SLICE and max(sizes) - min(sizes) <= 1)


def test_a_failing_job_on_the_calling_thread_waits_for_the_workers():
    workers = two_workers()
    done = threading.Event()

    def job(i, n):
        if i == 0:                                           # the calling thread's job
            raise KeyboardInterrupt
        time.sleep(0.2)
        done.set()
    with pytest.raises(KeyboardInterrupt):
        workers.split(job)
    assert done.is_set()                                     # no worker left running
    assert workers.run(lambda a: a, [(1,), (2,)]) == [1, 2]  # and the pool still works


def test_a_failing_worker_job_is_raised_on_the_calling_thread():
    workers = two_workers()

    def job(i, n):
        if i == 1:
            raise ValueError("in the worker")
    with pytest.raises(ValueError, match="in the worker"):
        workers.split(job)


def test_where_no_thread_can_start_everything_runs_on_the_caller(monkeypatch):
    def no_threads(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", no_threads)
    monkeypatch.setattr(fast_threads, "thread_local_control", lambda: True)
    workers = Workers(4)
    assert workers.threads == 1
    assert workers.cuts(1000) == [(0, 0, 1000)]
    me = threading.current_thread()
    assert workers.run(lambda: threading.current_thread(), [(), ()]) == [me, me]


def test_without_blas_control_one_thread(monkeypatch):
    monkeypatch.setattr(fast_threads, "thread_local_control", lambda: False)
    assert Workers(2).threads == 1


def test_thread_count_default_and_validation(monkeypatch):
    monkeypatch.setenv("CONVLAB_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("CONVLAB_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert default_threads() == 1
    assert Workers().threads == 1
    with pytest.raises(ValueError, match="threads"):
        Workers(0)


def test_workers_run_under_the_callers_numpy_error_settings():
    """np.errstate is per thread: a job on a worker thread must see the caller's settings, or a
    Trainer ignoring overflow (it checks divergence itself) would still print warnings."""
    workers = Workers(2)
    if workers.threads < 2:
        pytest.skip("no second thread here")

    def overflow(_):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.multiply(np.float32(1e30), np.float32(1e30))   # overflows float32
        return threading.current_thread().name

    with np.errstate(over="ignore"):
        names = workers.run(overflow, [(0,), (1,)])
    assert names[0] != names[1]                               # the second job ran on a worker
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        workers.run(overflow, [(0,), (1,)])
