"""studio.live_runner: live runs share one long-lived worker thread across reruns, in the chosen precision."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import threading

    import streamlit as st
    import torch

    from studio.live_runner import run_live

    st.session_state["studio_precision"] = st.session_state.get("wanted", "fp32")

    def probe() -> str:
        return f"{threading.current_thread().name}|{torch.is_autocast_enabled('cpu')}"

    st.text(run_live(probe))
    try:
        run_live(int, "not a number")
    except ValueError as exc:
        st.text(f"raised: {exc}")


def test_reruns_use_the_same_worker_thread_and_the_sidebar_precision():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["wanted"] = "bf16"
    at.run()
    assert not at.exception
    first_thread, autocast = at.text[0].value.split("|")
    assert first_thread.startswith("iclm-live") and autocast == "True"
    assert at.text[1].value.startswith("raised: invalid literal")
    at.session_state["wanted"] = "fp32"
    at.run()
    again, autocast = at.text[0].value.split("|")
    assert again == first_thread and autocast == "False"
