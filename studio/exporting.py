"""Download payloads for figures, built lazily (only when the user clicks) through `analysis.export`.

Static images share one headless browser per app process (`analysis.export.StaticRenderer`), started on
the first PNG/SVG/PDF request and guarded by a lock because downloads run on their own threads.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analysis import export
from analysis.figures import FigureWithData

_LOCK = threading.Lock()
PNG_SCALE = 3.0


def static_available() -> tuple[bool, str]:
    """(True, "") when a Chrome/Chromium binary exists for PNG/SVG/PDF, else (False, how to install one)."""
    return (True, "") if export.find_browser() is not None else (False, export.INSTALL_HINT)


@st.cache_resource(show_spinner=False)
def _renderer() -> export.StaticRenderer:
    return export.StaticRenderer()


def _item(fig: go.Figure, data: pd.DataFrame) -> FigureWithData:
    return FigureWithData(figure=fig, data=data)


def render_static(fig: go.Figure, fmt: str) -> bytes:
    """PNG (at 3x), SVG or PDF bytes of a figure, through the shared browser."""
    with _LOCK:
        return _renderer().render(fig, fmt, scale=PNG_SCALE if fmt == "png" else 1.0)


FigureSource = go.Figure | Callable[[], go.Figure]  # a figure, or what builds it when a download asks


def resolve(fig: FigureSource) -> go.Figure:
    return fig if isinstance(fig, go.Figure) else fig()


def deferred_static(fig: FigureSource, fmt: str) -> Callable[[], bytes]:
    return lambda: render_static(resolve(fig), fmt)


def html(fig: FigureSource) -> Callable[[], bytes]:  # a single download stands alone: plotly.js embedded
    """Interactive HTML with plotly.js embedded (works offline)."""
    return lambda: export.figure_files("figure", _item(resolve(fig), pd.DataFrame()), ["html"])["figure.html"]


def csv(data: pd.DataFrame) -> Callable[[], bytes]:
    return lambda: export.safe_csv(data)  # no spreadsheet formula survives from user text


def json_data(data: pd.DataFrame) -> Callable[[], bytes]:
    """The figure's data as JSON: the same records as its CSV (the figure itself is in the HTML)."""
    return lambda: export.records_json(data)


def zip_bytes(figures: dict, manifest: dict | None = None) -> bytes:
    """A zip of every figure (name -> `widgets.DrawnFigure`) in every format via export_figure_set (static
    ones skipped without a browser), one shared plotly.js and `manifest` as manifest.json."""
    items = {name: _item(drawn.figure, drawn.data) for name, drawn in figures.items()}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "figures.zip"
        with _LOCK:
            renderer = _renderer() if static_available()[0] else None
            export.export_figure_set(
                items,
                target,
                on_missing_browser="skip",
                renderer=renderer,
                scale=PNG_SCALE,
                manifest=manifest,
            )
        return target.read_bytes()
