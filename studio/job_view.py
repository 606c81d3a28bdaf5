"""A running job on the page (`studio.jobs`): progress, ETA, Cancel, refreshed every second by a fragment
that reruns the page once the job has ended, so its result is drawn by the page's ordinary code."""

from __future__ import annotations

import streamlit as st

from studio.jobs import BACKGROUND, LANE, Job
from studio.text import plain

REFRESH_S = 1.0


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
