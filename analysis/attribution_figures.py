"""Figures of a token attribution: the tokens x readouts heatmap, and the prompt as highlighted text.

The highlighted text shows one readout's WORD scores (`analysis.attribution_words.word_scores`: tokens of a
word summed) as background colours on the prompt as written, wrapped to the figure's column, on the same
diverging scale as the heatmap (blue negative, white 0, red positive, symmetric around 0). It is a plotly
figure like every other (exported with the rest), drawn as one horizontal bar per word in a monospace
font so the layout is exact; words reach the figure escaped, as all user text does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures import FigureWithData, _finish, esc
from analysis.theme import DIVERGING_SCALE, FIGURE_WIDTH_PX, FigureSize, font_px, text_width_px

MONOSPACE = "Courier New, Liberation Mono, DejaVu Sans Mono, monospace"
CHAR_WIDTH = 0.6  # a monospace character's width, in font sizes
LINE_HEIGHT = 1.9  # a text line's height, in font sizes
MAX_TOKEN_CHARS = 24  # a longer token's axis label is cut (hover and the data keep it whole)


def _bound(scores: np.ndarray) -> float:
    bound = float(np.nanmax(np.abs(scores))) if scores.size else 1.0
    return bound if bound > 0 else 1.0


def attribution_heatmap(
    tokens: Sequence[str],
    scores: np.ndarray,
    modules: Sequence[str],
    title: str | None = None,
    size: FigureSize = "one_column",
    max_token_labels: int | None = None,
) -> FigureWithData:
    """Token attribution: tokens (rows, in order) x modules (columns), diverging scale centred at 0.

    Args:
        tokens: (T,) token strings (escaped; repeated tokens stay separate rows); scores: (T, M) attributions;
        modules: (M,) module names.
        max_token_labels: label at most this many rows on the axis (every k-th token; every row still names
            its token on hover). None labels every row, as a paper figure wants. Why a cap exists: plotly.js
            lays out each tick label on its own, and 250 labels took about 1.8 s to draw in the studio's
            headless Chromium on 2 cores, against 0.1 s for the rest of the heatmap.
    The modules sit under the map (upright when their column is wide enough, else turned), the title
    above it, and the left margin fits the token labels, so nothing overlaps or is cut.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(tokens), len(modules)):
        raise ValueError(
            f"scores must have shape (T, M) = ({len(tokens)}, {len(modules)}), got {scores.shape}"
        )
    bound = _bound(scores)
    labels = [esc(t if len(t) <= MAX_TOKEN_CHARS else t[: MAX_TOKEN_CHARS - 1] + "…") for t in tokens]
    positions = list(range(len(tokens)))
    fig = go.Figure(
        go.Heatmap(
            z=scores,
            x=[esc(m) for m in modules],
            y=positions,
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorscale=DIVERGING_SCALE,
            text=[[esc(t)] * len(modules) for t in tokens],
            hovertemplate="%{text} (%{y})<br>%{x}: %{z:.3g}<extra></extra>",
            colorbar=dict(title=dict(text="attribution", side="right"), thickness=10),
        )
    )
    every = 1 if not max_token_labels else max(1, -(-len(tokens) // max_token_labels))
    fig.update_yaxes(
        tickmode="array",
        tickvals=positions[::every],
        ticktext=labels[::every],
        autorange="reversed",
        showgrid=False,
    )
    font = font_px(size)
    left = 12 + text_width_px([t.strip() or t for t in labels[::every]], font)
    column_px = (FIGURE_WIDTH_PX[size] - min(left, 200) - 90) / max(len(modules), 1)  # 90: the colour bar
    upright = column_px >= text_width_px(modules, font) + 6
    fig.update_xaxes(showgrid=False, side="bottom", tickangle=0 if upright else -90)
    bottom = 12 + (font * 1.6 if upright else text_width_px(modules, font))
    fig.update_layout(margin=dict(l=min(left, 200), t=10, r=10, b=bottom))
    data = pd.DataFrame(
        [(p, t, m, scores[p, j]) for p, t in enumerate(tokens) for j, m in enumerate(modules)],
        columns=["position", "token", "module", "score"],
    )
    return FigureWithData(
        _finish(fig, size, title, height=max(250, 14 * len(tokens) + int(bottom) + 60)), data
    )


def _layout(words: pd.DataFrame, columns: int) -> pd.DataFrame:
    """Each word's line and first column when the text wraps at `columns` characters (a newline in a
    word's text starts a new line)."""
    lines, starts, shown = [], [], []
    line, column = 0, 0
    for text in words["text"]:
        breaks = text.count("\n")
        visible = " ".join(text.split()) or "·"
        visible = visible if len(visible) <= columns else visible[: columns - 1] + "…"
        if breaks:
            line, column = line + breaks, 0
        elif column and column + 1 + len(visible) > columns:
            line, column = line + 1, 0
        elif column:
            column += 1  # the space between words
        lines.append(line)
        starts.append(column)
        shown.append(visible)
        column += len(visible)
    return words.assign(line=lines, start=starts, shown=shown)


def highlighted_text(
    words: pd.DataFrame, title: str | None = None, size: FigureSize = "two_column"
) -> FigureWithData:
    """The prompt as text with each word's background coloured by its score.

    Args:
        words: `analysis.attribution_words.word_scores` (columns word, text, score, ...).
    """
    missing = {"text", "score"} - set(words.columns)
    if missing:
        raise ValueError(f"words is missing columns {sorted(missing)}")
    font = font_px(size)
    margin = dict(l=8, r=8, t=(2.6 * font if title else 8), b=50)
    columns = max(20, int((FIGURE_WIDTH_PX[size] - margin["l"] - margin["r"]) / (CHAR_WIDTH * font)))
    laid = _layout(words.reset_index(drop=True), columns)
    scores = laid["score"].to_numpy(dtype=float)
    bound = _bound(scores)
    n_lines = int(laid["line"].max()) + 1 if len(laid) else 1
    fig = go.Figure(
        go.Bar(
            orientation="h",
            y=laid["line"],
            x=laid["shown"].str.len() + 0.6,
            base=laid["start"] - 0.3,
            text=[esc(t) for t in laid["shown"]],
            textposition="inside",
            insidetextanchor="middle",
            textfont=dict(family=MONOSPACE, size=font),
            marker=dict(
                color=scores,
                colorscale=DIVERGING_SCALE,
                cmin=-bound,
                cmax=bound,
                cmid=0.0,
                line=dict(width=0),
                colorbar=dict(
                    orientation="h",
                    thickness=8,
                    y=-0.02,
                    yanchor="top",
                    len=0.6,
                    title=dict(text="attribution (word: sum of its tokens)", side="top"),
                ),
            ),  # fmt: skip
            width=0.82,
            customdata=scores,
            hovertemplate="%{text}<br>%{customdata:.3g}<extra></extra>",
        )
    )
    fig.update_layout(uniformtext=dict(minsize=font, mode="show"), bargap=0, margin=margin, showlegend=False)
    fig.update_xaxes(range=[-0.5, columns + 0.5], visible=False)
    fig.update_yaxes(range=[n_lines - 0.5, -0.5], visible=False)
    height = int(n_lines * LINE_HEIGHT * font + margin["t"] + margin["b"])
    data = laid[[c for c in ("word", "text", "first_token", "tokens", "line", "start", "score") if c in laid]]
    return FigureWithData(_finish(fig, size, title, height=max(120, height)), data.reset_index(drop=True))
