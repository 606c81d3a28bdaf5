"""Run the studio's PyTorch work on a short-lived thread of its own, one job at a time.

Why: PyTorch's CPU kernels run on OpenMP (libgomp). Every thread that runs a parallel op keeps a team of
OpenMP worker threads for as long as it lives, and once libgomp manages more threads than there are cores
it stops its workers from spinning between parallel regions, so every op pays a wake-up. Streamlit runs
reruns on pooled threads that outlive the run: model work done on them left teams behind, and the next
click ran slower (`bench/live_model.py`, bf16, 250-token prompt: 0.77-1.08 s on the lane, 1.28-1.55 s beside
an idle team; gradient x input 1.86-2.60 s against 2.87-4.94 s). A thread that exits frees its team, so
running each job on a fresh thread that ends with the job keeps one team alive at a time.

The job still belongs to the script run that asked for it: the thread carries that run's Streamlit
context, so progress bars update from inside the job. Jobs take turns on `studio.jobs.LANE` as interactive
requests: a background job (`studio.jobs`) hands the lane over between its steps while one waits, and then
runs the request on its own thread (in a fresh thread's torch state) so that one team stays the only one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run(job: Callable[..., T], *args, **kwargs) -> T:
    """`job(*args, **kwargs)` on a fresh thread that ends with it, or on the thread of a background job
    that is handing the lane over (`studio.jobs.Lane.run_interactive`: its OpenMP team is already there);
    returns its result or raises its error.

    Thread-local PyTorch state (autocast, grad mode) does not cross threads: set it up inside `job`.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = job(*args, **kwargs)
        except BaseException as error:  # re-raised on the caller's thread, Streamlit's stop/rerun included
            outcome["error"] = error

    from studio.jobs import LANE

    # one job at a time across sessions (two would hold two OpenMP teams); on a paused background job's
    # thread when one handed the lane over, else on a fresh thread
    LANE.run_interactive(_in_script_context(target), lambda: _on_fresh_thread(target))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _on_fresh_thread(call: Callable[[], None]) -> None:
    thread = threading.Thread(target=call, name="iclm-torch-lane", daemon=True)
    _attach_script_context(thread)
    thread.start()
    thread.join()


def _attach_script_context(thread: threading.Thread) -> None:
    """Give `thread` the calling script run's context (none outside a Streamlit run: nothing to do)."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    context = get_script_run_ctx(suppress_warning=True)
    if context is not None:
        add_script_run_ctx(thread, context)


def _in_script_context(call: Callable[[], None]) -> Callable[[], None]:
    """`call` run with the calling script run's Streamlit context (so progress bars update from inside
    the job) on whichever thread runs it; that thread's own context is restored afterwards."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_run_context import SCRIPT_RUN_CONTEXT_ATTR_NAME

    context = get_script_run_ctx(suppress_warning=True)
    if context is None:
        return call

    def in_context() -> None:
        thread = threading.current_thread()
        before = get_script_run_ctx(suppress_warning=True)
        add_script_run_ctx(thread, context)
        try:
            call()
        finally:  # add_script_run_ctx(thread, None) would attach the current context again, not clear it
            setattr(thread, SCRIPT_RUN_CONTEXT_ATTR_NAME, before)

    return in_context
