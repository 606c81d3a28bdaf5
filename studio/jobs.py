"""Long studio computations as jobs that never block anyone (no streamlit here; `studio.job_view` draws them).

A job (an attribution, an intervention table over a dataset sample) runs on a thread of its own, started
by a click and outliving the script run that asked for it, so the page stays live: it shows the job's
progress, an ETA once the first step is done, and a Cancel button that stops it at its next step (every
forward pass reports one). Results are kept per key (checkpoint, example, method, target, settings): asking
again for the same key returns the running or finished job instead of computing twice.

All PyTorch work still goes through one lane (`LANE`: two jobs side by side would hold two OpenMP teams on
the same cores, see `studio.torch_lane`), but the lane has two priorities: a small interactive request (a
prompt's predictions) waits only for the step in progress, because a background job hands the lane over
between its steps whenever an interactive request is waiting.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

INTERACTIVE, BACKGROUND = 0, 1
MAX_KEPT = 64  # finished jobs kept for their results (least recently asked for dropped first)
# A job's thread (and the OpenMP workers it starts, which inherit it) runs this much nicer than the server:
# where cores are short the kernel gives the sessions' own script runs the CPU first. Linux's
# setpriority takes a thread id; raising one's niceness needs no privilege.
JOB_NICENESS = 10
# After an interactive turn a background job waits this long before it takes the lane again: one request
# (a prompt's predictions, then its table, then the next module) is several turns a few ms apart, and
# without the pause the job's next step (1.5 s for one IG point on the shipped checkpoint) went between
# every two of them: a 250-token prompt took 5.4-5.9 s beside a running IG job against 1.9-2.5 s alone
# (bench/app_latency.py, two sessions).
INTERACTIVE_GRACE_S = 0.5
# ...but a job that has yielded this long takes its next step even while requests keep coming, so a
# session sending request after request slows another session's job instead of stopping it.
MAX_YIELD_S = 5.0


class Cancelled(Exception):
    """Raised inside a job at its next step after Cancel."""


class Lane:
    """One holder at a time; interactive requests go before background ones, and a background holder
    hands over at `pause()` (between its steps) while an interactive request waits."""

    def __init__(self, grace_s: float = INTERACTIVE_GRACE_S, max_yield_s: float = MAX_YIELD_S) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = {INTERACTIVE: 0, BACKGROUND: 0}
        self._grace_s = grace_s
        self._max_yield_s = max_yield_s
        self._interactive_ended = -float("inf")  # time.monotonic() of the last interactive turn's end
        self._due = False  # a background holder has yielded max_yield_s: it goes next
        self._host = False  # a background holder waits in pause() and runs interactive calls for them
        self._calls: list[tuple[Callable[[], None], threading.Event]] = []
        self._page_runs: dict[int, int] = {}  # thread id -> script runs in progress on it (`page_run`)

    @contextlib.contextmanager
    def turn(self, priority: int = INTERACTIVE) -> Iterator[None]:
        with self._cond:
            self._waiting[priority] += 1
            try:
                self._wait_until_free(priority)
            finally:
                self._waiting[priority] -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                if priority == INTERACTIVE:
                    self._interactive_ended = time.monotonic()
                self._cond.notify_all()

    def pause(self) -> None:
        """Called by the background holder between steps: let every waiting interactive request run (and
        the ones that follow within the grace time)."""
        with self._cond:
            if not self._waiting[INTERACTIVE] and not self._page_runs:
                return
            self._busy, self._host = False, True
            self._cond.notify_all()
            try:
                self._wait_until_free(BACKGROUND, serve=True)
            finally:
                self._host = False
            self._busy = True

    def run_interactive(self, call: Callable[[], None], alone: Callable[[], None]) -> None:
        """`call()` on an interactive turn on the thread of the background job that handed the lane over
        when one did, else `alone()` (`studio.torch_lane`: the same work on a fresh thread). Why: the paused
        job's thread keeps its OpenMP team, and a second team beside it made a live run 1.5-2x slower
        (bench/live_model.py); on the job's thread the run uses the team that is already there. `call`
        must not raise (torch_lane hands its outcome back itself)."""
        with self.turn(INTERACTIVE):
            with self._cond:
                done = threading.Event() if self._host else None
                if done is not None:
                    self._calls.append((call, done))
                    self._cond.notify_all()
            if done is None:
                alone()
            else:
                done.wait()

    def _wait_until_free(self, priority: int, serve: bool = False) -> None:
        """(lock held) Until the lane is free for `priority`. A background turn also waits while an
        interactive request waits and for the grace time after the last interactive turn ended, but for
        at most `max_yield_s`: then it is due, and new interactive turns wait for its step (without that,
        a thread asking again at once would win the lock every time)."""
        if priority == INTERACTIVE:
            while self._busy or self._due:
                self._cond.wait()
            return
        deadline = time.monotonic() + self._max_yield_s
        while True:
            if serve and self._calls:
                self._serve(*self._calls.pop(0))
                continue
            now = time.monotonic()
            if now >= deadline:
                self._due = True
            if not self._busy and (self._due or self._quiet(now)):
                self._due = False
                return
            if self._busy or self._waiting[INTERACTIVE] or self._page_runs:
                self._cond.wait(None if self._due else deadline - now)
            else:
                self._cond.wait(min(self._grace_s - (now - self._interactive_ended), deadline - now))

    def _serve(self, call: Callable[[], None], done: threading.Event) -> None:
        """(lock held; released meanwhile) Run an interactive call on this paused job's thread, in the
        torch state a fresh thread has (no autocast, gradients on): the job's own stays untouched."""
        self._cond.release()
        try:
            with _fresh_torch_state():
                call()
        finally:
            self._cond.acquire()
            done.set()

    def _quiet(self, now: float) -> bool:
        """No interactive request waits, no page run is in progress, and none ended within the grace time."""
        idle = not self._waiting[INTERACTIVE] and not self._page_runs
        return idle and now - self._interactive_ended >= self._grace_s

    @contextlib.contextmanager
    def page_run(self) -> Iterator[None]:
        """Mark a session's script run (the caller's thread) as in progress: background jobs take no new
        step until it ends (or they are due), so the page work around a request (its figures, the prompt's
        place on the map) does not share the cores with a job's step. A run that waits for a job steps
        aside meanwhile (`stepping_aside`)."""
        me = threading.get_ident()
        with self._cond:
            self._page_runs[me] = self._page_runs.get(me, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._page_runs[me] -= 1
                if not self._page_runs[me]:
                    del self._page_runs[me]
                self._interactive_ended = time.monotonic()
                self._cond.notify_all()

    @contextlib.contextmanager
    def stepping_aside(self) -> Iterator[None]:
        """While the caller's page run waits (for a job), it does not hold jobs off; a no-op elsewhere."""
        me = threading.get_ident()
        with self._cond:
            count = self._page_runs.pop(me, 0)
            self._cond.notify_all()
        try:
            yield
        finally:
            if count:
                with self._cond:
                    self._page_runs[me] = count

    def waiting(self, priority: int) -> int:
        with self._cond:
            return self._waiting[priority]


@contextlib.contextmanager
def _fresh_torch_state() -> Iterator[None]:
    import torch

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast("cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast("cuda", enabled=False))
        stack.enter_context(torch.enable_grad())
        yield


LANE = Lane()


@dataclass
class Job:
    """One computation: its status ("queued", "running", "done", "failed", "cancelled"), steps done of
    total, timestamps, and its result or one-line error."""

    key: Hashable
    label: str
    status: str = "queued"
    done: int = 0
    total: int | None = None
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: str | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _ended: threading.Event = field(default_factory=threading.Event, repr=False)
    _lane: Lane = field(default=LANE, repr=False)  # the lane it hands over between steps

    def wait(self, seconds: float) -> bool:
        """Block up to `seconds` for the job to end; whether it has. A page run that waits steps aside, so
        the job it waits for is not held off by it."""
        with self._lane.stepping_aside():
            return self._ended.wait(seconds)

    def wait_while(self, keep_waiting: Callable[[float], bool], poll_s: float = 0.05) -> bool:
        """Block while the job runs and `keep_waiting(seconds waited so far)` holds (asked every `poll_s`);
        whether the job ended. Steps aside as `wait` does."""
        start = time.monotonic()
        with self._lane.stepping_aside():
            while not self._ended.wait(poll_s):
                if not keep_waiting(time.monotonic() - start):
                    return False
        return True

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def cancel(self) -> None:
        """Stop at the next step (a queued job never starts)."""
        self._cancel.set()

    def eta(self) -> float | None:
        """Seconds left, from the pace so far; None before the first step or without a total."""
        if self.started_at is None or not self.done or not self.total or self.finished:
            return None
        pace = (time.monotonic() - self.started_at) / self.done
        return pace * max(self.total - self.done, 0)

    def report(self, done: int, total: int) -> None:
        """The job's progress callback (its own thread): record, stop if cancelled, hand the lane over
        to waiting interactive requests."""
        self.done, self.total = done, total
        if self._cancel.is_set():
            raise Cancelled
        self._lane.pause()


class JobRegistry:
    """The process's jobs by key (shared by every session: the same request is computed once)."""

    def __init__(self, lane: Lane = LANE, max_kept: int = MAX_KEPT) -> None:
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._lane = lane
        self._max_kept = max_kept

    def unfinished(self) -> list[Job]:
        """The jobs queued or running now."""
        with self._lock:
            return [job for job in self._jobs.values() if not job.finished]

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
            return job

    def submit(self, key: Hashable, label: str, work: Callable[[Callable[[int, int], None]], Any]) -> Job:
        """The job for `key`: the one running or done, else a new one running `work(progress)` on its own
        thread (a failed or cancelled one is started afresh)."""
        with self._lock:
            found = self._jobs.get(key)
            if found is not None and found.status not in ("failed", "cancelled"):
                self._jobs.move_to_end(key)
                return found
            job = Job(key=key, label=label, _lane=self._lane)
            self._jobs[key] = job
            self._evict()
        thread = threading.Thread(target=self._run, args=(job, work), name="iclm-job", daemon=True)
        thread.start()
        return job

    def _evict(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished]
        while len(self._jobs) > self._max_kept and finished:
            self._jobs.pop(finished.pop(0))

    def _run(self, job: Job, work: Callable[[Callable[[int, int], None]], Any]) -> None:
        _lower_priority()
        with self._lane.turn(BACKGROUND):
            if job._cancel.is_set():
                job.status, job.finished_at = "cancelled", time.monotonic()
                job._ended.set()
                return
            job.status, job.started_at = "running", time.monotonic()
            try:
                job.result = work(job.report)
                job.status = "done"
            except Cancelled:
                job.status = "cancelled"
            except Exception as error:  # shown on the page as one line; the log keeps the traceback
                import logging

                logging.getLogger(__name__).exception("job %s failed", job.label)
                job.error, job.status = " ".join(str(error).split()) or type(error).__name__, "failed"
            finally:
                job.finished_at = time.monotonic()
                job._ended.set()


def _lower_priority() -> None:
    """Make the calling thread JOB_NICENESS nicer (no-op where the platform does not allow it)."""
    import os

    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + JOB_NICENESS))
    except (AttributeError, OSError):  # not Linux, or a sandbox that forbids it
        pass


JOBS = JobRegistry()
