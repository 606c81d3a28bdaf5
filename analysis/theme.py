"""One publication template for every figure: serif font, paper column sizes, label widths for margins.

Colours are `analysis.palette`'s (one colour per module, readout, run, dataset and intervention, the same
everywhere); the template's colorway is only a fallback for traces no builder coloured.
"""

from __future__ import annotations

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
        title=dict(font=dict(size=FONT_SIZE_PX["one_column"] + 1), x=0.5, xanchor="center"),
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
    return fig
