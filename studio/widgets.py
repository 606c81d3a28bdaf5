"""Shared page widgets: a figure with its export controls, and the checkpoint's figure-set export.

Every figure a page shows goes through `show_figure`, which draws it, offers PNG/SVG/PDF (static export
through `analysis.export`, which needs Chromium) plus HTML, CSV and JSON of the figure's data, and records
the figure so that "Export figure set" can zip every figure of the current checkpoint.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from studio import exporting

FIGURES = "studio_figures"  # {checkpoint folder: {figure name: DrawnFigure}}
STATIC_FORMATS = ("png", "svg", "pdf")
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
    "zip": "application/zip",
}


@dataclass(frozen=True)
class DrawnFigure:
    """A figure as exported (the paper-size one), its data, and the settings it was drawn with (they go
    into the figure set's manifest). `source` is the figure or what builds it on first use."""

    source: exporting.FigureSource
    data: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def figure(self) -> go.Figure:
        return exporting.resolve(self.source)


def slug(text: str) -> str:
    """A file-name-safe version of a figure name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "figure"


def _remember(name: str, fig: exporting.FigureSource, data: pd.DataFrame, settings: dict[str, Any]) -> None:
    files = st.session_state.get("studio_checkpoint")
    folder = str(files.folder) if files is not None else ""
    st.session_state.setdefault(FIGURES, {}).setdefault(folder, {})[name] = DrawnFigure(fig, data, settings)


def show_figure(
    fig: go.Figure,
    data: pd.DataFrame,
    name: str,
    *,
    key: str,
    on_select: bool = False,
    height: int | None = None,
    export: go.Figure | Callable[[], go.Figure] | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """Draw a figure with its export controls; return the selection event when `on_select`.

    `export`: the figure the exports (and the figure set) hold when it differs from the one drawn, e.g.
    every token labelled where the screen shows every k-th; a zero-argument callable builds it only when a
    download or the figure set asks (once: cached), so a page run does not pay for a figure it never draws.
    `height` is the screen's only: exports keep their paper size. `settings`: what the page drew it with
    (recorded in the figure set's manifest).
    """
    export = fig if export is None else export if isinstance(export, go.Figure) else functools.cache(export)
    if height is not None:  # the screen's height only: exports keep their paper size
        fig = go.Figure(fig) if fig is export else fig
        fig.update_layout(height=height)
    kwargs: dict[str, Any] = {"key": f"chart_{key}", "width": "stretch"}
    if on_select:
        kwargs.update(on_select="rerun", selection_mode=("lasso", "box"))
    event = st.plotly_chart(fig, **kwargs)
    _remember(name, export, data, dict(settings or {}))
    export_controls(export, data, name, key=key)
    return event


def export_controls(fig: exporting.FigureSource, data: pd.DataFrame, name: str, *, key: str) -> None:
    """One row of download buttons: static formats (when Chromium is there), HTML, CSV and JSON data."""
    base = slug(name)
    available, reason = exporting.static_available()
    with st.container(horizontal=True, gap="small", key=f"export_row_{key}"):
        payloads = {fmt: exporting.deferred_static(fig, fmt) for fmt in STATIC_FORMATS} if available else {}
        payloads |= {"html": exporting.html(fig), "csv": exporting.csv(data)}
        payloads["json"] = exporting.json_data(data)
        for fmt, payload in payloads.items():  # every payload is built only when its button is clicked
            st.download_button(
                fmt.upper(),
                data=payload,
                file_name=f"{base}.{fmt}",
                mime=MIME[fmt],
                key=f"dl_{fmt}_{key}",
                on_click="ignore",
                icon=":material/download:",
                type="tertiary",
            )
        if not available:
            st.caption(f"PNG/SVG/PDF unavailable: {reason}")


def figure_set_button() -> None:
    """Sidebar button: a zip of the checkpoint's standard figures plus every figure drawn this session,
    with a manifest (checkpoint, artifact date, every figure's settings) and one shared plotly.js."""
    from studio import figure_set

    files = st.session_state.get("studio_checkpoint")
    if files is None:
        return
    drawn = st.session_state.get(FIGURES, {}).get(str(files.folder), {})

    def payload() -> bytes:
        standard = figure_set.standard_figures(files)
        session = {slug(k): v for k, v in drawn.items()}
        figures = standard | session
        return exporting.zip_bytes(figures, figure_set.manifest(files, figures, set(standard) - set(session)))

    st.download_button(
        "Export figure set",
        data=payload,
        file_name=f"{slug(files.name)}-figures.zip",
        mime=MIME["zip"],
        key="dl_figure_set",
        on_click="ignore",
        icon=":material/folder_zip:",
        help="A zip of this checkpoint's figures (and those drawn here): PNG/SVG/PDF if Chromium is there, "
        "HTML sharing one plotly.js, the figure as plotly JSON, its data as CSV and JSON, and manifest.json.",
    )


def picked_row(frame: pd.DataFrame, *, key: str, hint: str) -> pd.Series:
    """Show `frame` with single-row selection and return the selected row; without one, say `hint` and
    stop the page (what follows needs the row)."""
    event = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="single-row", key=key)
    rows = event.selection.rows if event is not None else []
    if not rows:
        st.caption(hint)
        st.stop()
    return frame.iloc[rows[0]]
