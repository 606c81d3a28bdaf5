"""Waiting for the studio's background jobs in AppTest (`studio.jobs`)."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest


def settle(at: AppTest, timeout: float = 240.0) -> AppTest:
    """Wait for the studio's background jobs (attributions, intervention samples, files of prompts) to
    end, then rerun the page, as its progress fragment does in a browser. A job longer than the page's
    inline wait (`studio.job_view.wait_inline`) shows its progress first: on a loaded machine any job
    can be."""
    from studio.jobs import JOBS

    deadline = time.monotonic() + timeout
    while JOBS.unfinished() and time.monotonic() < deadline:
        time.sleep(0.05)
    return at.run()
