"""Plotly figure builders for every analysis, all on the one publication template of ``analysis.theme``.

Every builder returns a ``FigureWithData``: the figure and the tidy DataFrame it was drawn from (exported as
CSV next to the image). Text that may come from users (ids, tokens, dataset and run names, hover text,
titles) is passed through ``html.escape`` before it reaches the figure: plotly renders a subset of HTML.
Modules always get their fixed colour (``analysis.theme.module_color``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.theme import (
    CORRECTNESS_COLORS,
    FigureSize,
    apply_paper_layout,
    category_colors,
    module_color,
)

ColorBy = Literal["cluster", "dataset", "split", "correctness", "module"]
COLOR_BY: tuple[str, ...] = ("cluster", "dataset", "split", "correctness", "module")
WEBGL_ABOVE = 5000  # scatter plots with more points use WebGL


@dataclass(frozen=True)
class FigureWithData:
    """A figure and the data behind it (one tidy row per plotted value), for CSV export."""

    figure: go.Figure
    data: pd.DataFrame


def esc(text: object) -> str:
    """HTML-escape any value for use in labels, legends and hover text: &, < and > (plotly decodes those
    entities back); quotes stay as they are, since plotly text is never an attribute value and it showed
    `&quot;` literally in hover labels."""
    return html.escape(str(text), quote=False)


def _finish(fig: go.Figure, size: FigureSize, title: str | None, height: int | None = None) -> go.Figure:
    return apply_paper_layout(fig, size=size, height=height, title=None if title is None else esc(title))


def _category_labels(values: np.ndarray, color_by: str) -> list[str]:
    if color_by == "correctness":
        return ["correct" if bool(v) else "incorrect" for v in values]
    if color_by == "cluster":
        return [f"cluster {v}" for v in values]
    return [str(v) for v in values]


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _palette(labels: list[str], color_by: str) -> dict[str, str]:
    order = sorted(set(labels), key=_natural_key)  # "cluster 2" before "cluster 10"
    if color_by == "correctness":
        return {k: CORRECTNESS_COLORS[k] for k in order}
    if color_by == "module":
        return {k: module_color(k) for k in order}
    return category_colors(order)


def projection_scatter(
    coords: np.ndarray,
    ids: Sequence[str],
    color_values: Sequence,
    color_by: ColorBy = "cluster",
    hover: Sequence[str] | None = None,
    title: str | None = None,
    size: FigureSize = "one_column",
) -> FigureWithData:
    """2-D projection, one trace per category so the legend toggles them.

    Args:
        coords: (N, 2); ids: (N,) example ids, attached as ``customdata`` so lasso/box selections
            (``points[i].customdata``) map back to examples; color_values: (N,) cluster ids, dataset names,
            splits, correctness booleans or module names; hover: (N,) extra hover text (escaped).
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by={color_by!r} is not one of {list(COLOR_BY)}")
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {coords.shape}")
    hover = [""] * n if hover is None else list(hover)
    if not len(ids) == len(color_values) == len(hover) == n:
        raise ValueError(f"ids, color_values and hover must have {n} entries (one per row of coords)")
    labels = _category_labels(np.asarray(color_values, dtype=object), color_by)
    data = pd.DataFrame({"id": [str(i) for i in ids], "x": coords[:, 0], "y": coords[:, 1], color_by: labels})
    data["hover"] = [str(h) for h in hover]
    scatter = go.Scattergl if n > WEBGL_ABOVE else go.Scatter
    fig = go.Figure()
    for label, color in _palette(labels, color_by).items():
        part = data[data[color_by] == label]
        text = [
            f"{esc(i)}<br>{esc(label)}" + (f"<br>{esc(h)}" if h else "")
            for i, h in zip(part["id"], part["hover"], strict=True)
        ]
        fig.add_trace(
            scatter(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=esc(label),
                marker=dict(color=color, size=5 if n <= 2000 else 3, opacity=0.8, line=dict(width=0)),
                customdata=part["id"].tolist(),
                text=text,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_layout(dragmode="lasso", legend=dict(title=dict(text=esc(color_by))))
    fig.update_xaxes(showticklabels=False, ticks="", title=None)
    fig.update_yaxes(showticklabels=False, ticks="", title=None, scaleanchor="x", scaleratio=1)
    return FigureWithData(_finish(fig, size, title), data)


def contingency_heatmap(
    table: pd.DataFrame, title: str | None = None, size: FigureSize = "one_column"
) -> FigureWithData:
    """Router cluster (rows) x true dataset (columns) counts, every cell annotated with its count."""
    if table.empty:
        raise ValueError("table is empty: nothing to draw")
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[esc(c) for c in table.columns],
            y=[f"cluster {esc(i)}" for i in table.index],
            colorscale="Blues",
            texttemplate="%{z}",
            colorbar=dict(title=dict(text="count")),
            hovertemplate="%{y}<br>%{x}: %{z}<extra></extra>",
        )
    )
    fig.update_xaxes(title=dict(text="dataset"), showgrid=False)
    fig.update_yaxes(title=dict(text="router cluster"), showgrid=False, autorange="reversed")
    data = table.rename_axis(index="cluster", columns="dataset").stack().rename("count").reset_index()
    return FigureWithData(_finish(fig, size, title), data)


def similarity_heatmap(
    matrix: pd.DataFrame,
    metric: str = "CKA",
    zmin: float | None = 0.0,
    zmax: float | None = 1.0,
    title: str | None = None,
    size: FigureSize = "one_column",
) -> FigureWithData:
    """Module x module similarity (CKA, |r|, MI) with every value annotated (2 decimals)."""
    if matrix.empty:
        raise ValueError("matrix is empty: nothing to draw")
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=[esc(c) for c in matrix.columns],
            y=[esc(i) for i in matrix.index],
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            texttemplate="%{z:.2f}",
            colorbar=dict(title=dict(text=esc(metric))),
            hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False, autorange="reversed")
    data = matrix.rename_axis(index="module_a", columns="module_b").stack().rename("value").reset_index()
    data.insert(2, "metric", metric)
    return FigureWithData(_finish(fig, size, title), data)


def ema(values: Sequence[float], weight: float) -> np.ndarray:
    """Exponential moving average s_t = w s_{t-1} + (1 - w) x_t, debiased like TensorBoard (s_0 = x_0)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight must be in [0, 1), got {weight}")
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    acc, norm = 0.0, 0.0
    for t, v in enumerate(x):
        acc = weight * acc + (1.0 - weight) * v
        norm = weight * norm + (1.0 - weight)
        out[t] = acc / norm
    return out


def metric_lines(
    history: pd.DataFrame,
    metric: str,
    smoothing: float | None = None,
    title: str | None = None,
    size: FigureSize = "one_column",
) -> FigureWithData:
    """A metric over training steps, several runs overlaid.

    Args:
        history: columns ``run``, ``step``, ``value`` and optionally ``module`` (one line per run x module;
            modules keep their fixed colour and runs differ by dash; without modules runs differ by colour).
        smoothing: EMA weight in [0, 1); when set, the raw values are drawn faintly under the smoothed line.
    """
    missing = {"run", "step", "value"} - set(history.columns)
    if missing:
        raise ValueError(f"history is missing columns {sorted(missing)}")
    data = history.copy()
    if "module" not in data.columns:
        data["module"] = ""
    data = data.sort_values(["run", "module", "step"]).reset_index(drop=True)
    data["smoothed"] = data["value"] if smoothing is None else np.nan
    runs = sorted(data["run"].astype(str).unique())
    run_colors = category_colors(runs)
    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    fig = go.Figure()
    for (run, module), part in data.groupby(["run", "module"], sort=True):
        color = module_color(str(module)) if module else run_colors[str(run)]
        dash = dashes[runs.index(str(run)) % len(dashes)] if module else "solid"
        name = esc(f"{run} / {module}" if module else run)
        y = part["value"].to_numpy(dtype=float)
        if smoothing is not None:
            smooth = ema(y, smoothing)
            data.loc[part.index, "smoothed"] = smooth
            fig.add_trace(
                go.Scatter(
                    x=part["step"],
                    y=y,
                    mode="lines",
                    line=dict(color=color, width=1, dash=dash),
                    opacity=0.25,
                    showlegend=False,
                    hoverinfo="skip",
                    legendgroup=name,
                )
            )
            y = smooth
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=y,
                mode="lines",
                name=name,
                legendgroup=name,
                line=dict(color=color, width=1.5, dash=dash),
            )
        )
    fig.update_xaxes(title=dict(text="step"))
    fig.update_yaxes(title=dict(text=esc(metric)))
    return FigureWithData(_finish(fig, size, title), data)


def accuracy_bars(
    accuracy: pd.DataFrame, title: str | None = None, size: FigureSize = "one_column"
) -> FigureWithData:
    """i.i.d. vs o.o.d. accuracy, bars grouped by split, one bar (fixed colour) per module.

    Args:
        accuracy: columns ``module``, ``split``, ``accuracy`` and optionally ``low``/``high`` (CI bounds,
            drawn as error bars).
    """
    missing = {"module", "split", "accuracy"} - set(accuracy.columns)
    if missing:
        raise ValueError(f"accuracy is missing columns {sorted(missing)}")
    has_ci = {"low", "high"} <= set(accuracy.columns)
    fig = go.Figure()
    for module, part in accuracy.groupby("module", sort=False):
        error = None
        if has_ci:
            error = dict(
                type="data",
                symmetric=False,
                array=part["high"] - part["accuracy"],
                arrayminus=part["accuracy"] - part["low"],
                thickness=1,
                width=2,
            )
        fig.add_trace(
            go.Bar(
                x=[esc(s) for s in part["split"]],
                y=part["accuracy"],
                name=esc(module),
                marker=dict(color=module_color(str(module))),
                error_y=error,
            )
        )
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_yaxes(title=dict(text="accuracy"), range=[0, 1])
    fig.update_xaxes(showgrid=False)
    return FigureWithData(_finish(fig, size, title), accuracy.reset_index(drop=True).copy())
