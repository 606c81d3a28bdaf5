"""A running job on the page (`studio.jobs`): progress, ETA, Cancel, refreshed every REFRESH_S by a fragment
that reruns the page once the job has ended, so its result is drawn by the page's ordinary code."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from studio.jobs import BACKGROUND, LANE, Job
from studio.text import plain

# A job that ends within INLINE_WAIT_S shows its result in the run that started it (a spinner meanwhile);
# a longer one its progress and Cancel. 5 s is the studio's target for an attribution (README): with 3 s,
# a 4 s gradient x input on the shipped checkpoint paid a progress bar, the wait for the next refresh and
# one more page run on top (bench/app_latency.py: 6.4-8.2 s against 4.9-6.0 s at the previous revision).
INLINE_WAIT_S = 5.0
# Once a job has reported a step its ETA decides instead (`wait_inline`): one whose estimated end is
# within LONG_JOB_S is waited for, up to INLINE_CAP_S (a 5-6 s gradient x input of every readout still
# comes in one page run, not as a progress bar plus a rerun); one estimated to end later shows its progress
# and Cancel at once (integrated gradients: after its first step, ~1.5 s, instead of after 5 s). The bound
# is loose because a first step is often the dearest: gradient x input's first readout runs every
# module's forward (the others reuse them), so its first ETA is about twice the truth.
INLINE_CAP_S = 10.0
LONG_JOB_S = 20.0
REFRESH_S = 0.5  # the progress fragment's period: how soon the page sees a job end or Cancel take effect


def wait_inline(job: Job) -> bool:
    """Wait for `job` in the page run that started it while it looks short (see INLINE_WAIT_S,
    INLINE_CAP_S, LONG_JOB_S); whether it ended."""

    def looks_short(waited: float) -> bool:
        eta = job.eta()
        if eta is None:
            return waited < INLINE_WAIT_S
        return waited < INLINE_CAP_S and waited + eta <= LONG_JOB_S

    return job.wait_while(looks_short)


def status_line(job: Job) -> str:
    """What the job is doing, in words: queued (behind how many), steps done of total and the ETA."""
    if job.status == "queued":
        ahead = LANE.waiting(BACKGROUND)
        return f"{job.label}: queued behind {ahead} other job(s)" if ahead > 1 else f"{job.label}: starting…"
    text = f"{job.label}: {job.done}/{job.total or '?'} steps"
    eta = job.eta()
    return text + (f" · about {eta:.0f} s left" if eta is not None else " · ETA after the first step")


def follow(job: Job, *, key: str) -> None:
    """Draw the job's progress and a Cancel button until it ends, then rerun the page."""

    @st.fragment(run_every=REFRESH_S)
    def live_status() -> None:
        if job.finished:
            st.rerun()
        fraction = job.done / job.total if job.total else 0.0
        st.progress(min(fraction, 1.0), text=plain(status_line(job)))
        if st.button("Cancel", key=f"{key}_cancel", icon=":material/stop_circle:"):
            job.cancel()
            st.caption("Cancelling: the job stops at its next step.")

    live_status()


def outcome(job: Job) -> None:
    """One line for a job that ended without a result."""
    if job.status == "cancelled":
        st.info(f"{plain(job.label)}: cancelled after {job.done} of {job.total or '?'} steps.")
    elif job.status == "failed":
        st.error(f"{plain(job.label)} failed: {plain(job.error or '')}")


def result_or_none(job: Job, *, key: str, again: Callable[[], object] | None = None):
    """The job's result for the page that started it: waits while it looks short (`wait_inline`); while
    it runs, its progress and Cancel, and None; if it ended without a result, one line (and, with `again`, a
    button that starts it afresh), and None. The page goes on below it (the fragment reruns it when the
    job ends)."""
    wait_inline(job)
    if not job.finished:
        follow(job, key=key)
        return None
    if job.status != "done":
        outcome(job)
        if again is not None and st.button("Run again", key=f"{key}_again"):
            again()
            st.rerun()
        return None
    return job.result


def result_or_stop(job: Job, *, key: str, again: Callable[[], object] | None = None):
    """`result_or_none`, but the page stops where the result is not there (nothing below can be drawn)."""
    result = result_or_none(job, key=key, again=again)
    if job.status != "done":
        st.stop()
    return result
