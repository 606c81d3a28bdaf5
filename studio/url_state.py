"""The view in the URL: the page is the path, the checkpoint and each page's main controls are query
parameters, so a link reproduces the view and a refresh keeps it.

`restore()` runs before any widget on a session's first run and copies the URL's parameters into the
widgets' session state (Streamlit itself drops a value a widget cannot take: an unknown checkpoint, a
choice that is not offered, a number out of range, so a hand-edited link cannot break a page); `publish()`
runs at the start of every run and writes the values the last interaction left. A path that names no
page (a typo, an old link) opens Overview with a note instead of Streamlit's "Page not found" dialog
(`alias_for_unknown_path`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

RESTORED = "studio_url_restored"
_STR, _INT, _LIST = str, int, list

# query parameter -> (widget key, parse, the page it belongs to; None: every page)
SHARED: dict[str, tuple[str, Callable[[Any], Any], str | None]] = {
    "checkpoint": ("sidebar_checkpoint", _STR, None),
    "clusters_method": ("clusters_method", _STR, "clusters"),
    "clusters_space": ("clusters_space", _STR, "clusters"),
    "clusters_color": ("clusters_color", _STR, "clusters"),
    "clusters_split": ("clusters_split", _STR, "clusters"),
    "clusters_task": ("clusters_task", _STR, "clusters"),
    "corr_metric": ("corr_metric", _STR, "correlation"),
    "corr_scope": ("corr_scope", _STR, "correlation"),
    "pred_split": ("pred_split", _STR, "predictions"),
    "pred_outcome": ("pred_outcome", _STR, "predictions"),
    "example": ("pred_example", _STR, "predictions"),
    "pred_attr_method": ("pred_attr_method", _STR, "predictions"),
    "interventions_example": ("interventions_example", _STR, "interventions"),
    "compare_other": ("compare_other", _STR, "compare"),
    "compare_method": ("compare_method", _STR, "compare"),
    "continual_method": ("continual_method", _STR, "continual"),
}
PAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _parse(values: list[str], parse: Callable[[Any], Any]) -> Any:
    if parse is _LIST:
        return list(values)
    if parse is _INT:
        return int(values[-1])
    return values[-1]


def restore() -> None:
    """On a session's first run: the URL's parameters into the widgets' session state."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    for param, (key, parse, _) in SHARED.items():
        values = st.query_params.get_all(param)
        if not values:
            continue
        try:
            st.session_state[key] = _parse(values, parse)
        except ValueError:  # a hand-edited number: the widget keeps its default
            continue


def publish(page: str) -> None:
    """The shared widgets' values as the last interaction left them into the URL, for `page` (its url
    path) and every page. Called at the start of a run, before the page: a write after the page would be
    lost whenever the page ends with st.stop(), and every interaction reruns the script anyway."""
    values: dict[str, Any] = {}
    for param, (key, _, owner) in SHARED.items():
        if owner in (None, page) and key in st.session_state:
            value = st.session_state[key]
            if isinstance(value, list | tuple):
                values[param] = [str(v) for v in value]
            elif value is not None:
                values[param] = str(value)
    wanted = {k: v if isinstance(v, list) else [v] for k, v in values.items()}
    if wanted != {k: st.query_params.get_all(k) for k in st.query_params}:
        st.query_params.from_dict(values)


def requested_page() -> str | None:
    """The path the browser asked for ("" for the root), None when Streamlit does not say (outside a
    browser session, or a Streamlit that keeps it elsewhere)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        context = get_script_run_ctx(suppress_warning=True)
        return None if context is None else context.pages_manager.intended_page_name
    except AttributeError:
        return None


RESERVED = "home"  # the default page's own path: Streamlit reserves it without serving it


def unknown_path(known: set[str]) -> str | None:
    """The requested path when it names no page and could be one (a plain name), else None."""
    asked = requested_page()
    if not asked or asked in known or asked == RESERVED or not PAGE_NAME.match(asked):
        return None
    return asked


def alias_for_unknown_path(default_script: str, title: str, known: set[str], silent: set[str]) -> list:
    """A hidden page that runs `default_script` at the requested unknown path (empty when the path is
    known), so the page opens with a note instead of the "Page not found" dialog; the `silent` paths are
    the default page's own names (/overview): no note."""
    asked = unknown_path(known)
    if asked is None:
        return []
    if asked not in silent:
        st.session_state["studio_unknown_path"] = asked
    return [st.Page(default_script, url_path=asked, title=title, visibility="hidden")]


def note_unknown_path() -> None:
    """On the page opened for an unknown path: say so, once."""
    asked = st.session_state.pop("studio_unknown_path", None)
    if asked is not None:
        from studio.text import plain

        st.info(f"There is no page at /{plain(asked)}: this is the Overview. The sidebar lists every page.")
