"""studio.torch_lane: each job runs on a thread of its own that has ended when `run` returns."""

from __future__ import annotations

import threading

import pytest
import torch

from studio import torch_lane


def test_job_runs_on_a_fresh_thread_that_ends_with_it():
    seen = []

    def job(a, b=0):
        seen.append(threading.current_thread())
        return torch.arange(4).sum().item() + a + b  # a real torch op on the lane

    assert torch_lane.run(job, 1, b=2) == 9
    assert torch_lane.run(job, 0) == 6
    first, second = seen
    assert first is not threading.current_thread() and second is not first
    assert not first.is_alive() and not second.is_alive()  # its OpenMP team went with it


def test_errors_reach_the_caller_unchanged():
    def job():
        raise KeyError("missing module")

    with pytest.raises(KeyError, match="missing module"):
        torch_lane.run(job)


def test_jobs_from_several_threads_run_one_at_a_time():
    running, most = [0], [0]
    lock = threading.Lock()

    def job():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        torch.randn(256, 256) @ torch.randn(256, 256)
        threading.Event().wait(0.02)
        with lock:
            running[0] -= 1

    callers = [threading.Thread(target=torch_lane.run, args=(job,)) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert most[0] == 1


def test_thread_local_autocast_does_not_cross_into_the_lane():
    """Why `state.run_live` enters autocast inside the job: the caller's autocast stays on the caller."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dtype = torch_lane.run(lambda: (torch.ones(2, 2) @ torch.ones(2, 2)).dtype)
    assert dtype == torch.float32
