"""One publication template for every figure: serif font, paper column sizes, colour-blind-safe colours.

Colours come from the Okabe-Ito palette (safe for the common colour-vision deficiencies), extended with two
colours of Paul Tol's "muted" scheme so every module name of a K <= 8 model has its own FIXED colour, the same
in every figure. Unknown module names (e.g. ``domain_12``) get a deterministic colour from the extended
palette, so they are fixed too.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio

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

#: Okabe & Ito (2008), "Color Universal Design", in their published order.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
)
_TOL_EXTRA: tuple[str, ...] = ("#882255", "#44AA99", "#999933", "#332288")

#: One fixed colour per module name, used by every figure.
MODULE_COLORS: dict[str, str] = {
    "invariant": "#000000",
    "domain_0": "#E69F00",
    "domain_1": "#56B4E9",
    "domain_2": "#009E73",
    "domain_3": "#F0E442",
    "domain_4": "#0072B2",
    "domain_5": "#CC79A7",
    "domain_6": "#882255",
    "domain_7": "#44AA99",
    "aggregated": "#D55E00",
    "baseline": "#888888",
}
#: Categorical palette for clusters, datasets and splits (cycled).
CATEGORY_COLORS: tuple[str, ...] = OKABE_ITO[:7] + _TOL_EXTRA + ("#888888",)
#: Fixed colours for prediction correctness.
CORRECTNESS_COLORS: dict[str, str] = {"correct": "#009E73", "incorrect": "#D55E00"}
#: Baseline marks on accuracy figures (`analysis.accuracy_figures`): black and grey, told apart by width.
REFERENCE_STYLES: dict[str, dict] = {
    "chance": {"label": "chance (uniform guess)", "color": "#000000", "width": 2},
    "majority": {"label": "majority answer", "color": "#777777", "width": 3},
}
DIVERGING_SCALE = "RdBu_r"  # blue (negative) - white (0) - red (positive); colour-blind safe
SEQUENTIAL_SCALE = "Viridis"


def module_color(name: str) -> str:
    """The fixed colour of a module name (``invariant``, ``domain_k``, ``aggregated``, ``baseline``).

    Names outside the table get a deterministic colour (a hash of the name into the extended palette).
    """
    if name in MODULE_COLORS:
        return MODULE_COLORS[name]
    digest = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16)
    return CATEGORY_COLORS[digest % len(CATEGORY_COLORS)]


#: Average glyph width of the serif template font, in font sizes (Times: ~0.5; capitals and digits wider).
GLYPH_WIDTH = 0.55


def text_width_px(labels, font_size: float) -> float:
    """Width in CSS px of the longest label at `font_size` (an estimate from character counts, on the
    generous side so margins computed from it never clip)."""
    longest = max((len(str(label)) for label in labels), default=0)
    return longest * GLYPH_WIDTH * font_size


def category_colors(categories: list[str]) -> dict[str, str]:
    """Colour per category, in the given order, cycling through the categorical palette."""
    return {c: CATEGORY_COLORS[i % len(CATEGORY_COLORS)] for i, c in enumerate(categories)}


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
        colorway=list(CATEGORY_COLORS),
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
