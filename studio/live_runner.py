"""Live model runs on one long-lived worker thread, in the sidebar's precision.

Streamlit runs every rerun of a page in a fresh thread. PyTorch on CPU pays a large warm-up the first time a
thread runs a given computation (measured on 2 cores: gradient x input for all modules of a 250-token prompt
took 5.1 s on a thread's first call and 2.9 s after), so running the model on each rerun's thread would pay it
on every click. One worker thread, shared across reruns and sessions, pays it once. Live runs are then
serialised, which on a 2-core machine is also what keeps two users from slowing each other down threefold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from studio import state

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _worker() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="iclm-live")


def run_live(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """fn(*args, **kwargs) on the live worker thread under the sidebar's precision; exceptions propagate.
    The caller's script context goes with it, so progress bars drawn from `fn` callbacks still update."""
    from analysis.precision import autocast

    device, precision, context = state.device(), state.precision(), get_script_run_ctx()

    def job() -> T:
        if context is not None:
            add_script_run_ctx(threading.current_thread(), context)
        with autocast(device, precision):
            return fn(*args, **kwargs)

    return _worker().submit(job).result()
