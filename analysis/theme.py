"""One publication template for every figure: serif font, paper column sizes, label widths for margins.

Colours are `analysis.palette`'s (one colour per module, readout, run, dataset and intervention, the same
everywhere); the template's colorway is only a fallback for traces no builder coloured.
"""

from __future__ import annotations

import re
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio

from analysis.palette import CATEGORY_COLORS

TEMPLATE_NAME = "iclm_paper"
FONT_FAMILY = "Times New Roman, Times, Liberation Serif, DejaVu Serif, serif"
PX_PER_INCH = 96  # CSS pixels; static export multiplies by `scale` for print resolution

FigureSize = Literal["one_column", "two_column"]
#: Widths of a one-column (3.5 in) and a two-column (7.16 in) figure, in CSS pixels.
FIGURE_WIDTH_PX: dict[str, int] = {
    "one_column": round(3.5 * PX_PER_INCH),
    "two_column": round(7.16 * PX_PER_INCH),
}
FONT_SIZE_PX: dict[str, int] = {"one_column": 10, "two_column": 11}

#: Baseline marks on accuracy figures (`analysis.accuracy_figures`): lines across each group, told apart by
#: their dash (and from the black invariant bars by being lines).
REFERENCE_STYLES: dict[str, dict] = {
    "chance": {"label": "chance (uniform guess)", "color": "#000000", "width": 1.5, "dash": "dash"},
    "majority": {"label": "majority answer", "color": "#555555", "width": 1.5, "dash": "dot"},
}
DIVERGING_SCALE = "RdBu_r"  # blue (negative) - white (0) - red (positive); colour-blind safe
SEQUENTIAL_SCALE = "Viridis"


#: Average glyph width of the serif template font, in font sizes (Times: ~0.5; capitals and digits wider).
GLYPH_WIDTH = 0.55


def text_width_px(labels, font_size: float) -> float:
    """Width in CSS px of the longest label at `font_size` (an estimate from character counts, on the
    generous side so margins computed from it never clip)."""
    longest = max((len(str(label)) for label in labels), default=0)
    return longest * GLYPH_WIDTH * font_size


def _build_template() -> go.layout.Template:
    axis = dict(
        showline=True,
        linecolor="black",
        linewidth=1,
        mirror=True,
        ticks="outside",
        tickcolor="black",
        showgrid=True,
        gridcolor="#E5E5E5",
        zeroline=False,
        title=dict(standoff=4),
        automargin=True,  # tick labels and axis titles push the margins: nothing clipped, in exports too
    )
    layout = go.Layout(
        font=dict(family=FONT_FAMILY, size=FONT_SIZE_PX["one_column"], color="black"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(CATEGORY_COLORS),  # only for traces no figure builder coloured (analysis.palette)
        xaxis=axis,
        yaxis=axis,
        legend=dict(bgcolor="rgba(255,255,255,0.8)", borderwidth=0, font=dict(size=9)),
        margin=dict(l=50, r=10, t=30, b=40),
        title=dict(
            font=dict(size=FONT_SIZE_PX["one_column"] + 1),
            x=0.5,
            xanchor="center",
            automargin=True,
            yref="paper",
            y=1,
            yanchor="bottom",
            pad=dict(t=8, b=8),
        ),  # the title pushes the top margin: above the tick labels of a top axis, never at the edge
        colorscale=dict(diverging=DIVERGING_SCALE, sequential=SEQUENTIAL_SCALE),
        hoverlabel=dict(font=dict(family=FONT_FAMILY)),
    )
    return go.layout.Template(layout=layout)


def paper_template() -> go.layout.Template:
    """The registered publication template (registered in ``plotly.io.templates`` on first use)."""
    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = _build_template()
    return pio.templates[TEMPLATE_NAME]


def check_size(size: str) -> str:
    """`size` itself when it is a known figure size, else ValueError naming the valid ones."""
    if size not in FIGURE_WIDTH_PX:
        raise ValueError(f"size={size!r} is not one of {sorted(FIGURE_WIDTH_PX)}")
    return size


def font_px(size: str) -> int:
    """The template's font size for a figure size (ValueError for an unknown size)."""
    return FONT_SIZE_PX[check_size(size)]


def apply_paper_layout(
    fig: go.Figure, size: FigureSize = "one_column", height: int | None = None, title: str | None = None
) -> go.Figure:
    """Apply the template and the column width (in place; returns ``fig``). Height defaults to 0.75 width."""
    width = FIGURE_WIDTH_PX[check_size(size)]
    fig.update_layout(
        template=paper_template(),
        width=width,
        height=height if height is not None else round(width * 0.75),
        font=dict(size=FONT_SIZE_PX[size]),
    )
    if title is not None:
        fig.update_layout(title=dict(text=title))
    fit_legend(fig, size)
    return fig


LEGEND_FONT_PX = 9
LEGEND_SYMBOL_PX = 44  # a legend entry's symbol (itemwidth 30) and gaps besides its text
LEGEND_GLYPH = 0.47  # Times at 9 px is narrower than the margins' generous estimate


def wrap_label(text: str, width: int) -> str:
    """An (already escaped) label broken with <br> at '-', '_' or ' ' so no line is much longer than
    `width` characters: "raven-text-in_center_single_out_center_single" -> three short lines."""
    if len(text) <= width:
        return text
    lines, line = [], ""
    for part in re.split(r"(?<=[-_ ])", text):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return "<br>".join([*lines, line])


def label_lines(labels) -> tuple[int, int]:
    """(longest line, most lines) of wrapped labels, for margins and heights."""
    split = [str(label).split("<br>") for label in labels] or [[""]]
    return max(len(p) for lines in split for p in lines), max(len(lines) for lines in split)


def legend_entries(fig: go.Figure) -> list[str]:
    """The names the legend shows: named traces and shapes that do not hide from it."""
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    return names + [s.name for s in fig.layout.shapes if s.name and s.showlegend]


def fit_legend(fig: go.Figure, size: FigureSize) -> go.Figure:
    """Size the legend for the column: in a one-column figure it goes under the plot in rows (beside the
    plot it took 40% of the width), the bottom margin and the height grow by its rows so the plot keeps
    its size; a two-column figure keeps it at the right. Does nothing without two entries."""
    names = legend_entries(fig)
    if len(names) < 2 or fig.layout.showlegend is False:
        return fig
    if size != "one_column":
        fig.update_layout(legend=dict(font=dict(size=LEGEND_FONT_PX)))
        return fig
    width = FIGURE_WIDTH_PX[size] - 10
    text = LEGEND_GLYPH * LEGEND_FONT_PX * max(len(n) for n in names)  # plotly's entrywidth: the text's
    per_row = max(1, int(width // (text + LEGEND_SYMBOL_PX)))
    rows = -(-len(names) // per_row)
    legend_px = rows * (LEGEND_FONT_PX + 10) + 8
    axis_px = int(3.8 * FONT_SIZE_PX[size])  # tick labels and the x axis title above the legend
    bottom = max(fig.layout.margin.b or 0, axis_px) + legend_px
    height = (fig.layout.height or round(FIGURE_WIDTH_PX[size] * 0.75)) + legend_px
    fig.update_layout(
        legend=dict(
            orientation="h", yref="container", y=4 / height, yanchor="bottom", xref="container",
            x=4 / FIGURE_WIDTH_PX[size], xanchor="left",
            entrywidth=int(text), font=dict(size=LEGEND_FONT_PX), title=dict(side="top left"),
            traceorder="normal", tracegroupgap=0,
        ),
        margin=dict(b=bottom),
        height=height,
    )  # fmt: skip
    return fig
