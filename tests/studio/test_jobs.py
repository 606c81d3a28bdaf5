"""studio/jobs.py: background jobs with progress, ETA, Cancel and a cache, on a lane where interactive
requests wait only for the step in progress. Real work: the tiny ICLM's forward passes and attributions."""

from __future__ import annotations

import time

import pytest
import torch

from studio import torch_lane
from studio.jobs import INTERACTIVE, LANE, JobRegistry, Lane

PROMPT = "Is the red cube on? The blue cylinder is on and the light is"


@pytest.fixture
def model(make_iclm):
    return make_iclm(perturb=True)


def forward_steps(model, steps: int):
    """A long job made of real forward passes, each one step."""
    ids = model.tokenizer(PROMPT, return_tensors="pt")

    def work(progress):
        with torch.no_grad():
            for done in range(1, steps + 1):
                model(**ids)
                progress(done, steps)
        return steps

    return work


def wait_until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_cancel_stops_a_job_within_a_second_and_frees_the_lane(model):
    jobs = JobRegistry()
    job = jobs.submit("long", "forward passes", forward_steps(model, 100_000))
    wait_until(lambda: job.done >= 3)
    assert job.status == "running" and job.eta() is not None and job.eta() > 0
    asked = time.monotonic()
    job.cancel()
    assert job.wait(1.0) and job.status == "cancelled"
    assert time.monotonic() - asked < 1.0
    with LANE.turn(INTERACTIVE):  # nothing holds the lane any more
        pass
    again = jobs.submit("long", "forward passes", forward_steps(model, 5))
    assert again is not job and again.wait(30) and again.result == 5  # a cancelled job starts afresh


def test_an_interactive_request_waits_only_for_the_step_in_progress(model):
    """One session's heavy job, another's live prompt: the prompt runs between two steps of the job."""
    ids = model.tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():  # the studio warms a model up when it loads it (the first pass pays set-up)
        torch_lane.run(lambda: model(**ids).logits)
    jobs = JobRegistry()
    heavy = jobs.submit("heavy", "forward passes", forward_steps(model, 100_000))
    wait_until(lambda: heavy.done >= 3)
    start = time.monotonic()
    with torch.no_grad():
        logits = torch_lane.run(lambda: model(**ids).logits)
    waited = time.monotonic() - start
    assert logits.shape[1] == ids["input_ids"].shape[1]
    assert waited < 2.0 and heavy.status == "running"  # answered while the heavy job goes on
    heavy.cancel()
    assert heavy.wait(1.0)


def test_the_same_request_is_computed_once_and_interleaving_changes_nothing(model):
    """A job's result equals the direct call's, also with interactive passes run between its steps."""
    from analysis.attribution import attribute

    direct = attribute(model, model.tokenizer, PROMPT, method="integrated_gradients", n_steps=32)
    jobs = JobRegistry()

    def work(progress):
        return attribute(
            model, model.tokenizer, PROMPT, method="integrated_gradients", n_steps=32, progress=progress
        )

    job = jobs.submit(("ig", PROMPT, 32), "IG", work)
    assert jobs.submit(("ig", PROMPT, 32), "IG", work) is job  # asked again: the same job
    ids = model.tokenizer("Another prompt on the same model", return_tensors="pt")
    while not job.finished:  # other requests between its steps (another session's prompts)
        with torch.no_grad():
            torch_lane.run(lambda: model(**ids, force_route=1).logits)
    assert job.status == "done"
    torch.testing.assert_close(
        torch.tensor(job.result.frame["score"].to_numpy()), torch.tensor(direct.frame["score"].to_numpy())
    )


def test_a_failed_job_keeps_a_one_line_error():
    jobs = JobRegistry()

    def work(progress):
        progress(1, 2)
        raise ValueError("the prompt is empty\n(second line)")

    job = jobs.submit("bad", "attribution", work)
    assert job.wait(10) and job.status == "failed" and job.error == "the prompt is empty (second line)"


def test_finished_jobs_beyond_the_cap_are_dropped_oldest_first():
    jobs = JobRegistry(max_kept=2)
    for key in ("a", "b", "c"):
        assert jobs.submit(key, key, lambda progress, k=key: k).wait(10)
    assert jobs.get("a") is None and jobs.get("c").result == "c"


def test_a_job_runs_nicer_than_the_server():
    """Where cores are short the kernel serves the sessions' script runs before a background job."""
    import os
    import threading

    from studio.jobs import JOB_NICENESS

    server = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    jobs = JobRegistry()
    job = jobs.submit(
        "nice", "niceness", lambda progress: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    )
    assert job.wait(10) and job.result == min(19, server + JOB_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == server  # the caller unchanged


def test_one_request_of_several_turns_is_not_split_by_a_job_step(model):
    """A request is several lane turns a few ms apart (predictions, then the next module): the job waits
    out the grace time after each, so none of its steps goes between them."""
    lane = Lane(grace_s=0.5)
    jobs = JobRegistry(lane=lane)
    heavy = jobs.submit("heavy", "forward passes", forward_steps(model, 100_000))
    wait_until(lambda: heavy.done >= 3)
    ids = model.tokenizer(PROMPT, return_tensors="pt")
    with lane.turn(INTERACTIVE):  # waits for the step in progress only
        started = heavy.done
    for _ in range(4):
        time.sleep(0.1)  # the page's own work between two turns of one request
        with lane.turn(INTERACTIVE), torch.no_grad():
            model(**ids)
    assert heavy.done == started  # no step between the request's turns
    wait_until(lambda: heavy.done > started, 5.0)  # and the job goes on after the grace time
    heavy.cancel()
    assert heavy.wait(1.0)


def test_a_job_still_steps_while_requests_never_stop(model):
    """Request after request (each within the grace time of the last) slows a job but never stops it."""
    lane = Lane(grace_s=10.0, max_yield_s=0.3)
    jobs = JobRegistry(lane=lane)
    heavy = jobs.submit("heavy", "forward passes", forward_steps(model, 100_000))
    wait_until(lambda: heavy.done >= 1)
    ids = model.tokenizer(PROMPT, return_tensors="pt")
    started, deadline = heavy.done, time.monotonic() + 2.0
    while time.monotonic() < deadline:
        with lane.turn(INTERACTIVE), torch.no_grad():
            model(**ids)
    assert heavy.done >= started + 3  # a step at least every 0.3 s of yielding, plus the step itself
    heavy.cancel()
    assert heavy.wait(1.0)


def test_a_request_beside_a_paused_job_runs_on_the_jobs_thread_in_a_fresh_torch_state(model):
    """While a job hands the lane over, a live request runs on the job's thread (one OpenMP team), without
    the job's autocast or grad mode, and gives the result it gives alone; the job's own state is kept."""
    import threading

    ids = model.tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        alone = torch_lane.run(lambda: model(**ids).logits)
    seen = {}

    def work(progress):
        seen["job"] = threading.get_ident()
        seen["job_thread"] = threading.current_thread()
        with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
            for done in range(1, 100_001):
                model(**ids)
                progress(done, 100_000)
                seen["job_state_kept"] = torch.is_autocast_enabled("cpu") and not torch.is_grad_enabled()

    jobs = JobRegistry()
    heavy = jobs.submit("heavy-state", "forward passes", work)
    wait_until(lambda: heavy.done >= 2)

    def request():
        seen["request"] = threading.get_ident()
        seen["state"] = (torch.is_autocast_enabled("cpu"), torch.is_grad_enabled())
        with torch.no_grad():
            return model(**ids).logits

    logits = torch_lane.run(request)
    assert seen["request"] == seen["job"]
    assert seen["state"] == (False, True)  # what a fresh thread has
    torch.testing.assert_close(logits, alone)
    done = heavy.done
    wait_until(lambda: heavy.done > done)
    assert seen["job_state_kept"]
    heavy.cancel()
    assert heavy.wait(1.0)
    idle = {}
    torch_lane.run(lambda: idle.setdefault("thread", threading.current_thread()))
    # no job: a fresh thread (compared as Thread objects: an ended thread's ident can be reused at once)
    assert idle["thread"] is not seen["job_thread"]


def test_a_page_run_holds_job_steps_off_until_it_ends_but_not_while_it_waits_for_a_job(model):
    """The page work around a request (figures, the map) must not share the cores with a job's step: no
    step starts while a session's script run is in progress, except while that run waits for a job."""
    lane = Lane(grace_s=0.1, max_yield_s=30.0)
    jobs = JobRegistry(lane=lane)
    heavy = jobs.submit("heavy", "forward passes", forward_steps(model, 100_000))
    wait_until(lambda: heavy.done >= 3)
    with lane.page_run():
        time.sleep(0.3)  # the step in progress ends
        held = heavy.done
        time.sleep(0.5)
        assert heavy.done == held  # no new step during the run
        assert not heavy.wait(1.0)  # a run that waits for the job (the inline wait) does not hold it off
        assert heavy.done > held
        held = heavy.done
        time.sleep(0.5)
        assert heavy.done <= held + 1  # held off again once the wait is over (the step in progress ends)
        held = heavy.done
    wait_until(lambda: heavy.done > held, 5.0)  # the run is over: the job goes on
    heavy.cancel()
    assert heavy.wait(1.0)


def timed_steps(steps: int, seconds: float):
    """A job of `steps` steps of `seconds` each (sleeping: the wait policy reads only the pace)."""

    def work(progress):
        for done in range(1, steps + 1):
            time.sleep(seconds)
            progress(done, steps)
        return steps

    return work


def test_the_inline_wait_follows_the_jobs_estimate(monkeypatch):
    """A page waits for a job past INLINE_WAIT_S when its ETA says it ends soon (one page run instead of
    progress + rerun), and stops waiting after the first step when the ETA says it is long (its progress and
    Cancel then show at once); a job that reports nothing is waited for INLINE_WAIT_S."""
    from studio import job_view

    monkeypatch.setattr(job_view, "INLINE_WAIT_S", 2.0)
    monkeypatch.setattr(job_view, "INLINE_CAP_S", 6.0)
    monkeypatch.setattr(job_view, "LONG_JOB_S", 8.0)
    jobs = JobRegistry()
    short = jobs.submit("short", "5 x 0.5 s", timed_steps(5, 0.5))  # 2.5 s: past 2 s, its ETA within 8 s
    start = time.monotonic()
    assert job_view.wait_inline(short) and short.result == 5
    assert 2.4 < time.monotonic() - start < 6.0

    long = jobs.submit("long", "100 x 0.2 s", timed_steps(100, 0.2))  # ETA ~20 s after its first step
    start = time.monotonic()
    assert not job_view.wait_inline(long)
    assert time.monotonic() - start < 1.5  # gave up at its first step (0.2 s), not at INLINE_WAIT_S
    assert long.done >= 1
    long.cancel()
    assert long.wait(2.0)

    silent = jobs.submit("silent", "no progress", lambda progress: time.sleep(3.0) or 1)
    start = time.monotonic()
    assert not job_view.wait_inline(silent)
    assert 2.0 <= time.monotonic() - start < 2.8
    assert silent.wait(5.0)
