"""Plotly figure builders for every analysis, all on the one publication template of ``analysis.theme``.

Every builder returns a ``FigureWithData``: the figure and the tidy DataFrame it was drawn from (exported as
CSV next to the image). Text that may come from users (ids, tokens, dataset and run names, hover text,
titles) is passed through ``html.escape`` before it reaches the figure: plotly renders a subset of HTML.
Every module, readout, run, dataset, split and intervention gets its one colour from ``analysis.palette``.
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

from analysis.palette import category_colors, module_color
from analysis.theme import (
    FIGURE_WIDTH_PX,
    FigureSize,
    apply_paper_layout,
    font_px,
    label_lines,
    text_width_px,
    wrap_label,
)

ColorBy = Literal["cluster", "dataset", "task", "rendering", "split", "correctness", "module"]
COLOR_BY: tuple[str, ...] = ("cluster", "dataset", "task", "rendering", "split", "correctness", "module")
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


def _palette(labels: list[str], color_by: str, universe: Sequence | None) -> dict[str, str]:
    """Colour per shown label: fixed names (clusters, splits, outcomes, modules) their own colour, free
    ones (datasets) by their place among ALL the category's values (`universe`), so a filter that leaves
    only some never recolours them."""
    order = sorted(set(labels), key=_natural_key)  # "cluster 2" before "cluster 10"
    if color_by == "module":
        return {k: module_color(k) for k in order}
    every = None if universe is None else _category_labels(np.asarray(list(universe), dtype=object), color_by)
    return category_colors(order, every)


def projection_scatter(
    coords: np.ndarray,
    ids: Sequence[str],
    color_values: Sequence,
    color_by: ColorBy = "cluster",
    hover: Sequence[str] | None = None,
    title: str | None = None,
    size: FigureSize = "one_column",
    categories: Sequence | None = None,
) -> FigureWithData:
    """2-D projection, one trace per category so the legend toggles them.

    Args:
        coords: (N, 2); ids: (N,) example ids, attached as ``customdata`` so lasso/box selections
            (``points[i].customdata``) map back to examples; color_values: (N,) cluster ids, dataset names,
            splits, correctness booleans or module names; hover: (N,) extra hover text (escaped);
            categories: every value the colour category has in the data (default: those in color_values),
            so the colours stay the same when a filter hides some. The legend is always shown.
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
    for label, color in _palette(labels, color_by, categories).items():
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
    fig.update_layout(dragmode="lasso", showlegend=True, legend=dict(title=dict(text=esc(color_by))))
    fig.update_xaxes(showticklabels=False, ticks="", title=None)
    fig.update_yaxes(showticklabels=False, ticks="", title=None, scaleanchor="x", scaleratio=1)
    return FigureWithData(_finish(fig, size, title), data)


def contingency_heatmap(
    table: pd.DataFrame, title: str | None = None, size: FigureSize = "one_column"
) -> FigureWithData:
    """Router cluster (rows) x true dataset (columns) counts, every cell annotated with its count. Long
    dataset names are drawn at an angle; the axes' automargin (the template's) makes room for them, so
    "acre-symbolic-iid" is neither cut nor laid over the axis title, on screen and in exports."""
    if table.empty:
        raise ValueError("table is empty: nothing to draw")
    x = [wrap_label(esc(c), 18) for c in table.columns]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=x,
            y=[f"cluster {esc(i)}" for i in table.index],
            colorscale="Blues",
            texttemplate="%{z}",
            colorbar=dict(title=dict(text="count")),
            hovertemplate="%{y}<br>%{x}: %{z}<extra></extra>",
        )
    )
    longest, _ = label_lines(x)
    fig.update_xaxes(title=dict(text="dataset"), showgrid=False, tickangle=-35 if longest > 6 else 0)
    fig.update_yaxes(title=dict(text="router cluster"), showgrid=False, autorange="reversed")
    data = table.rename_axis(index="cluster", columns="dataset").stack().rename("count").reset_index()
    height = round(FIGURE_WIDTH_PX[size] * 0.75 + 0.6 * text_width_px(["x" * longest], font_px(size)))
    return FigureWithData(_finish(fig, size, title, height=height), data)


def distinguishing_decimals(values: Sequence[float], minimum: int = 2, maximum: int = 6) -> int:
    """The fewest decimals (at least `minimum`, at most `maximum`) at which values that differ still
    print differently: 0.9985 and 0.9997 need 3 (0.998 and 1.000; at 2 both print 1.00)."""
    finite = np.unique(np.asarray(values, dtype=float)[np.isfinite(values)])
    for decimals in range(minimum, maximum + 1):
        if len(np.unique(np.round(finite, decimals))) == len(finite):
            return decimals
    return maximum


def value_range(values: np.ndarray, fixed: tuple[float, float] | None = None) -> tuple[float, float]:
    """The colour range: `fixed` when given, else the data's own min..max (a constant gets +-0.5% of its
    magnitude, so it still maps to one colour rather than a degenerate scale)."""
    if fixed is not None:
        return fixed
    finite = np.asarray(values, dtype=float)[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        pad = max(abs(high) * 0.005, 1e-6)
        return (low - pad, high + pad)
    return (low, high)


def similarity_heatmap(
    matrix: pd.DataFrame,
    metric: str = "CKA",
    fixed_range: tuple[float, float] | None = None,
    title: str | None = None,
    size: FigureSize = "one_column",
) -> FigureWithData:
    """Module x module similarity (CKA, |r|, MI), every value annotated.

    The colour range is the data's own (so 0.9985 and 0.9997 get different colours) unless `fixed_range`
    (e.g. (0, 1)) is asked for; annotations carry as many decimals as it takes to tell the values apart
    (`distinguishing_decimals`). Margins fit the module labels.
    """
    if matrix.empty:
        raise ValueError("matrix is empty: nothing to draw")
    z = matrix.to_numpy(dtype=float)
    zmin, zmax = value_range(z, fixed_range)
    decimals = distinguishing_decimals(z.ravel())
    labels = [str(c) for c in matrix.columns] + [str(i) for i in matrix.index]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[esc(c) for c in matrix.columns],
            y=[esc(i) for i in matrix.index],
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            texttemplate=f"%{{z:.{decimals}f}}",
            colorbar=dict(
                title=dict(text=esc(metric), side="right"), tickformat=f".{decimals}f", thickness=10
            ),
            hovertemplate=f"%{{y}} / %{{x}}: %{{z:.{decimals + 2}f}}<extra></extra>",
        )
    )
    fig.update_xaxes(showgrid=False, tickangle=-30 if len(matrix.columns) > 3 else 0)
    fig.update_yaxes(showgrid=False, autorange="reversed")
    font = font_px(size)
    fig.update_layout(
        margin=dict(l=int(14 + text_width_px(labels, font)), b=int(20 + text_width_px(labels, font) * 0.6))
    )
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
    primary_run: str | None = None,
    run_colors: dict[str, str] | None = None,
) -> FigureWithData:
    """A metric over training steps, several runs overlaid.

    Args:
        history: columns ``run``, ``step``, ``value`` and optionally ``module`` (one line per run x module;
            modules keep their fixed colour; without modules each run has its own colour).
        smoothing: EMA weight in [0, 1); when set, the raw values are drawn faintly under the smoothed line.
        primary_run: the page's own run, drawn solid; every other run is dashed (dash, dot, ... in name
            order). Default: the first run by name.
        run_colors: run -> colour (`analysis.palette.run_colors` of every known run) for lines without a
            module; default: `palette.category_colors` of the drawn runs.
    A series that is constant (up to float noise) is drawn flat on a range around its value.
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
    if primary_run in runs:
        runs = [primary_run, *(r for r in runs if r != primary_run)]
    run_colors = run_colors or category_colors(runs)
    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    fig = go.Figure()
    for (run, module), part in data.groupby(["run", "module"], sort=True):
        color = module_color(str(module)) if module else run_colors[str(run)]
        dash = dashes[runs.index(str(run)) % len(dashes)]
        name = esc(f"{run} / {module}" if module else run)
        y = significant(part["value"].to_numpy(dtype=float))
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
    fig.update_yaxes(title=dict(text=esc(metric)), tickformat="~g", exponentformat="e")
    if (flat := flat_range(data["value"].to_numpy(dtype=float))) is not None:
        fig.update_yaxes(range=list(flat))  # a constant drawn as a flat line, not float noise magnified
    return FigureWithData(_finish(fig, size, title), data)


def significant(values: np.ndarray, digits: int = 12) -> np.ndarray:
    """Values rounded to `digits` significant digits: float noise (0.6666666666666662966 vs
    0.6666666666666667) becomes the same number, real differences stay."""
    values = np.asarray(values, dtype=float)
    magnitude = np.where(np.isfinite(values) & (values != 0), np.floor(np.log10(np.abs(values) + 1e-300)), 0)
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.where(np.isfinite(values), np.round(values * scale) / scale, values)


def flat_range(values: np.ndarray) -> tuple[float, float] | None:
    """An axis range around a constant series (+-10% of its magnitude, at least +-0.05), None otherwise."""
    finite = significant(values[np.isfinite(values)])
    if finite.size == 0 or finite.max() != finite.min():
        return None
    centre = float(finite[0])
    pad = max(abs(centre) * 0.1, 0.05)
    return (centre - pad, centre + pad)
