"""Accuracy bars with their statistics: 95% Wilson error bars, n in every hover label, and the chance and
majority baselines of each group drawn as marks across it (rows from `analysis.accuracy`).

Bars are grouped by split (vertical) or by dataset (horizontal, so long dataset names read on the y axis
with a margin that fits them). A baseline mark is a line across its group's bars: "chance" (a uniform guess
among the choices, dashed) and "majority" (always the most frequent gold answer, dotted); a group without
a recorded baseline simply has no mark, and the legend says which baselines exist. Bar colours come from
`analysis.palette` (`colors` overrides them per name, e.g. the runs' colours).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures import FigureWithData, _finish, esc
from analysis.palette import module_color
from analysis.theme import REFERENCE_STYLES, FigureSize, font_px, label_lines, text_width_px, wrap_label

BARGAP = 0.25
WRAP = {"one_column": 18, "two_column": 30}  # characters per line of a dataset label


def _hover(part: pd.DataFrame, category: str) -> list[str]:
    out = []
    for row in part.itertuples(index=False):
        text = f"{esc(row.module)} · {esc(getattr(row, category))}<br>accuracy {row.accuracy:.3f}"
        if hasattr(row, "low") and pd.notna(row.low):
            text += f" [{row.low:.3f}, {row.high:.3f}]"
        if hasattr(row, "n") and pd.notna(row.n):
            text += f", n = {int(row.n)}"
        out.append(text)
    return out


def _error(part: pd.DataFrame) -> dict | None:
    if not {"low", "high"} <= set(part.columns):
        return None
    return dict(
        type="data",
        symmetric=False,
        array=(part["high"] - part["accuracy"]).to_numpy(),
        arrayminus=(part["accuracy"] - part["low"]).to_numpy(),
        thickness=1,
        width=2,
        color="#333333",
    )


def _reference_marks(
    fig: go.Figure, references: pd.DataFrame, category: str, horizontal: bool, groups: list[str]
):
    """One line across each group's bars at the baseline's value (dashed: chance, dotted: majority), one
    legend entry per baseline kind. Category axes place group i at i, its bars within +-(1 - BARGAP)/2."""
    half = (1 - BARGAP) / 2
    for kind, style in REFERENCE_STYLES.items():
        part = references[(references["kind"] == kind) & references["value"].notna()]
        for number, row in enumerate(part.itertuples(index=False)):
            label = str(getattr(row, category))
            if label not in groups:  # groups are the raw names; the axis shows them wrapped, in order
                continue
            at, value = groups.index(label), float(row.value)
            span = (
                dict(x0=value, x1=value, y0=at - half, y1=at + half)
                if horizontal
                else dict(x0=at - half, x1=at + half, y0=value, y1=value)
            )
            line = dict(color=style["color"], width=style["width"], dash=style["dash"])
            fig.add_shape(
                type="line", **span, line=line, name=esc(style["label"]), legendgroup=kind,
                showlegend=number == 0, layer="above",
            )  # fmt: skip


def accuracy_bars(
    accuracy: pd.DataFrame,
    references: pd.DataFrame | None = None,
    category: str = "split",
    title: str | None = None,
    size: FigureSize = "one_column",
    colors: dict[str, str] | None = None,
) -> FigureWithData:
    """Accuracy grouped by `category` ("split": vertical bars; "dataset": horizontal), one bar per module.

    Args:
        accuracy: columns ``module``, `category`, ``accuracy`` and optionally ``low``/``high`` (95% interval,
            drawn as error bars) and ``n`` (in the hover label).
        references: columns `category`, ``kind`` ("chance" | "majority") and ``value``: baseline marks.
        colors: name -> colour for bars that are not modules (runs); others take `palette.module_color`.
    """
    missing = {"module", category, "accuracy"} - set(accuracy.columns)
    if missing:
        raise ValueError(f"accuracy is missing columns {sorted(missing)}")
    horizontal = category == "dataset"
    groups = list(dict.fromkeys(accuracy[category].astype(str)))
    width = WRAP[size] if horizontal else 14
    shown = {g: wrap_label(esc(g), width) for g in groups}  # long dataset names on a few short lines
    fig = go.Figure()
    for module, part in accuracy.groupby("module", sort=False):
        labels = [shown[str(c)] for c in part[category]]
        values = part["accuracy"].to_numpy(dtype=float)
        error = _error(part)
        fig.add_trace(
            go.Bar(
                x=values if horizontal else labels,
                y=labels if horizontal else values,
                orientation="h" if horizontal else "v",
                name=esc(module),
                marker=dict(color=(colors or {}).get(str(module)) or module_color(str(module))),
                error_x=error if horizontal else None,
                error_y=None if horizontal else error,
                text=_hover(part, category),
                hovertemplate="%{text}<extra></extra>",
                textposition="none",
            )
        )
    font = font_px(size)
    longest, lines = label_lines(shown.values())
    per_group = max(14 + 5 * accuracy["module"].nunique(), lines * (font + 3) + 6)
    height = max(260, int(len(groups) * per_group + 110)) if horizontal else None
    if references is not None and not references.empty:
        _reference_marks(fig, references, category, horizontal, groups)
    fig.update_layout(barmode="group", bargap=BARGAP, bargroupgap=0.05)
    value_axis = dict(title=dict(text="accuracy (95% CI)"), range=[0, 1])
    group_axis = dict(showgrid=False, categoryorder="array", categoryarray=list(shown.values()))
    if horizontal:
        fig.update_xaxes(**value_axis)
        fig.update_yaxes(**group_axis, autorange="reversed")
        fig.update_layout(margin=dict(l=int(16 + text_width_px(["x" * longest], font))))
    else:
        fig.update_yaxes(**value_axis)
        fig.update_xaxes(**group_axis)
    data = accuracy.reset_index(drop=True).copy()
    return FigureWithData(_finish(fig, size, title, height=height), data)


def references_frame(
    baselines: pd.DataFrame, category: str, labels: dict[str, str] | None = None
) -> pd.DataFrame:
    """Long (category, kind, value) baselines from `analysis.accuracy` baseline rows (chance, majority
    columns); `labels` renames the category values (e.g. "iid" -> "i.i.d.")."""
    rows = []
    for row in baselines.itertuples(index=False):
        key = getattr(row, category)
        for kind in REFERENCE_STYLES:
            value = getattr(row, kind)
            if value is not None and not np.isnan(value):
                rows.append({category: (labels or {}).get(key, key), "kind": kind, "value": float(value)})
    return pd.DataFrame(rows, columns=[category, "kind", "value"])
