"""Tests for analysis/figures.py and analysis/theme.py: traces, data, fixed module colours, escaping."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis.accuracy_figures import accuracy_bars
from analysis.attribution_figures import attribution_heatmap
from analysis.figures import (
    contingency_heatmap,
    distinguishing_decimals,
    ema,
    flat_range,
    metric_lines,
    projection_scatter,
    similarity_heatmap,
)
from analysis.palette import MODULE_COLORS, OKABE_ITO, module_color
from analysis.theme import FIGURE_WIDTH_PX

MODULES = ["invariant", "domain_0", "domain_1", "aggregated"]
XSS = "<img src=x onerror=alert(1)>"


def _accuracy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "module": ["baseline", "baseline", "domain_1", "domain_1", "invariant", "invariant"],
            "split": ["iid", "ood"] * 3,
            "accuracy": [0.9, 0.5, 0.8, 0.6, 0.7, 0.65],
        }
    )


def _history() -> pd.DataFrame:
    steps = np.arange(20)
    return pd.concat(
        [
            pd.DataFrame({"run": run, "step": steps, "value": np.linspace(1, 0, 20) + off, "module": mod})
            for run, off in [("seed0", 0.0), ("seed1", 0.1)]
            for mod in ["invariant", "domain_1"]
        ]
    )


def _trace_colors(fig: go.Figure) -> dict[str, str]:
    out = {}
    for t in fig.data:
        if t.showlegend is False:
            continue
        color = t.marker.color if isinstance(t, go.Bar) else t.line.color
        out[t.name.split(" / ")[-1]] = color
    return out


def test_module_colours_fixed_and_distinct():
    assert len(set(MODULE_COLORS.values())) == len(MODULE_COLORS) == 13
    assert {f"domain_{k}" for k in range(8)} <= set(MODULE_COLORS)
    assert module_color("invariant") == "#000000"
    assert module_color("domain_42") == module_color("domain_42")  # unknown names: deterministic
    assert set(OKABE_ITO) <= set(MODULE_COLORS.values())  # every Okabe-Ito colour names one module


def test_module_colour_same_in_every_figure():
    bars = _trace_colors(accuracy_bars(_accuracy()).figure)
    lines = _trace_colors(metric_lines(_history(), "MI").figure)
    scatter = projection_scatter(
        np.zeros((3, 2)), ["a", "b", "c"], ["invariant", "domain_1", "baseline"], "module"
    )
    points = {t.name: t.marker.color for t in scatter.figure.data}
    for module in ["invariant", "domain_1"]:
        assert bars[module] == lines[module] == points[module] == MODULE_COLORS[module]
    assert bars["baseline"] == points["baseline"] == MODULE_COLORS["baseline"]


def test_projection_scatter_traces_customdata_and_data():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(30, 2))
    ids = [f"ex{i}" for i in range(30)]
    clusters = [i % 3 for i in range(30)]
    out = projection_scatter(coords, ids, clusters, "cluster", title="Router")
    assert [t.name for t in out.figure.data] == ["cluster 0", "cluster 1", "cluster 2"]
    assert all(isinstance(t, go.Scatter) for t in out.figure.data)
    first = out.figure.data[0]
    assert list(first.customdata) == ids[0::3]
    np.testing.assert_allclose(first.x, coords[0::3, 0])
    assert list(out.data.columns) == ["id", "x", "y", "cluster", "hover"]
    assert len(out.data) == 30
    assert out.figure.layout.template.layout.font.family.startswith("Times")
    assert out.figure.layout.width == FIGURE_WIDTH_PX["one_column"] == 336
    assert out.figure.layout.dragmode == "lasso"


def test_projection_scatter_uses_webgl_for_many_points():
    n = 6000
    out = projection_scatter(
        np.zeros((n, 2)), [str(i) for i in range(n)], ["a"] * n, "dataset", size="two_column"
    )
    assert isinstance(out.figure.data[0], go.Scattergl)
    assert out.figure.layout.width == 687


def test_correctness_colours():
    out = projection_scatter(np.zeros((2, 2)), ["a", "b"], [True, False], "correctness")
    assert {t.name: t.marker.color for t in out.figure.data} == {"correct": "#009E73", "incorrect": "#D55E00"}


def test_a_filter_never_recolours_what_stays():
    """Split = ood used to give ood points the iid colour and drop the legend; datasets likewise."""
    every = np.array(["iid", "ood", "ood"])
    both = projection_scatter(np.zeros((3, 2)), ["a", "b", "c"], every, "split")
    only = projection_scatter(np.zeros((2, 2)), ["b", "c"], every[1:], "split", categories=every)
    assert {t.name: t.marker.color for t in both.figure.data}["ood"] == only.figure.data[0].marker.color
    assert only.figure.layout.showlegend is True
    datasets = np.array(["acre", "pvr", "raven"])
    full = {
        t.name: t.marker.color
        for t in projection_scatter(np.zeros((3, 2)), list("abc"), datasets, "dataset").figure.data
    }
    part = projection_scatter(np.zeros((1, 2)), ["c"], datasets[2:], "dataset", categories=datasets)
    assert part.figure.data[0].marker.color == full["raven"]


def test_user_text_is_escaped_everywhere():
    out = projection_scatter(np.zeros((1, 2)), [XSS], [XSS], "dataset", hover=[XSS], title=XSS)
    fig_json = out.figure.to_json()
    assert "<img" not in fig_json and "&lt;img" in fig_json
    assert out.figure.data[0].customdata[0] == XSS  # raw id for selections, never rendered
    assert "customdata" not in out.figure.data[0].hovertemplate
    quoted = projection_scatter(np.zeros((1, 2)), ['say "hi" & go'], ["d"], "dataset", hover=['"q"'])
    assert quoted.figure.data[0].text[0] == 'say "hi" &amp; go<br>d<br>"q"'  # no &quot; to show literally
    attr = attribution_heatmap([XSS, "ok"], np.ones((2, 1)), ["invariant"])
    assert "<img" not in attr.figure.to_json()
    assert attr.data["token"][0] == XSS  # the CSV keeps the real token


def test_contingency_heatmap_counts():
    table = pd.DataFrame(
        [[5, 0], [1, 4]],
        index=pd.Index([0, 1], name="cluster"),
        columns=pd.Index(["acre", "raven"], name="dataset"),
    )
    out = contingency_heatmap(table)
    (trace,) = out.figure.data
    assert isinstance(trace, go.Heatmap) and trace.texttemplate == "%{z}"
    assert np.asarray(trace.z).tolist() == [[5, 0], [1, 4]]
    assert out.data["count"].sum() == 10 and list(out.data.columns) == ["cluster", "dataset", "count"]


def test_similarity_heatmap_annotated():
    m = pd.DataFrame(np.eye(4), index=MODULES, columns=MODULES)
    out = similarity_heatmap(m, "CKA")
    (trace,) = out.figure.data
    assert trace.texttemplate == "%{z:.2f}" and list(trace.x) == MODULES
    assert len(out.data) == 16 and out.data["value"].sum() == 4


def test_similarity_heatmap_colours_from_the_data_with_enough_decimals():
    """0.9985 vs 0.9997 was a uniform yellow "1.00" on a fixed 0-1 scale with 2 decimals."""
    m = pd.DataFrame([[1.0, 0.9985], [0.9985, 0.9997]], index=MODULES[:2], columns=MODULES[:2])
    (trace,) = similarity_heatmap(m, "CKA").figure.data
    assert (trace.zmin, trace.zmax) == (0.9985, 1.0)
    assert trace.texttemplate == "%{z:.4f}" and trace.colorbar.tickformat == ".4f"  # 0.9997 vs 1.0000
    (fixed,) = similarity_heatmap(m, "CKA", fixed_range=(0.0, 1.0)).figure.data
    assert (fixed.zmin, fixed.zmax) == (0.0, 1.0)


def test_distinguishing_decimals():
    assert distinguishing_decimals([0.9985, 0.9997]) == 3
    assert distinguishing_decimals([0.5, 0.25]) == 2
    assert distinguishing_decimals([0.123451, 0.123452]) == 6
    assert distinguishing_decimals([1.0, 1.0]) == 2


def test_a_constant_series_is_drawn_flat_on_a_sane_axis():
    """Router NMI constant at 0.667 with float noise was a deep V with one tick 0.6666666666666662966."""
    noise = [0.6666666666666664, 0.6666666666666662966, 0.6666666666666667]
    history = pd.DataFrame({"run": "r", "step": [1, 2, 3], "value": noise})
    out = metric_lines(history, "NMI")
    assert len(set(out.figure.data[0].y)) == 1
    low, high = out.figure.layout.yaxis.range
    assert low == pytest.approx(0.6, abs=1e-9) and high == pytest.approx(0.7333333, abs=1e-6)
    assert flat_range(np.array([0.1, 0.2])) is None


def test_the_pages_own_run_is_solid_and_overlaid_runs_dashed():
    history = _history()
    out = metric_lines(history, "MI", primary_run="seed1")
    dashes = {t.name.split(" / ")[0]: t.line.dash for t in out.figure.data}
    assert dashes == {"seed1": "solid", "seed0": "dash"}


def test_metric_lines_runs_overlaid_with_ema():
    raw = metric_lines(_history(), "MI")
    assert len(raw.figure.data) == 4
    assert {t.line.dash for t in raw.figure.data} == {"solid", "dash"}  # runs differ by dash
    smooth = metric_lines(_history(), "MI", smoothing=0.5)
    assert len(smooth.figure.data) == 8  # raw (faint) + smoothed per line
    assert smooth.data["smoothed"].notna().all()
    runs_only = metric_lines(
        _history().drop(columns="module").query("step >= 0").drop_duplicates(["run", "step"]), "loss"
    )
    assert [t.name for t in runs_only.figure.data] == ["seed0", "seed1"]


def test_ema_known_values():
    np.testing.assert_allclose(ema([1.0, 1.0, 1.0], 0.9), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(ema([0.0, 1.0], 0.5), [0.0, 2 / 3])
    np.testing.assert_allclose(ema([3.0, 5.0], 0.0), [3.0, 5.0])


def test_accuracy_bars_grouped_with_error_bars():
    acc = _accuracy().assign(low=lambda d: d.accuracy - 0.05, high=lambda d: d.accuracy + 0.05)
    out = accuracy_bars(acc)
    assert [t.name for t in out.figure.data] == ["baseline", "domain_1", "invariant"]
    assert out.figure.layout.barmode == "group"
    np.testing.assert_allclose(out.figure.data[0].error_y.array, [0.05, 0.05])
    assert list(out.figure.data[0].x) == ["iid", "ood"]


def test_accuracy_bars_show_n_intervals_and_baseline_marks():
    acc = _accuracy().assign(low=0.1, high=0.95, n=32)
    marks = pd.DataFrame({"split": ["iid", "ood", "iid"], "kind": ["chance", "chance", "majority"],
                          "value": [1 / 3, 0.125, 0.5]})  # fmt: skip
    out = accuracy_bars(acc, marks)
    shapes = out.figure.layout.shapes
    assert [(s.name, s.y0, s.line.dash) for s in shapes] == [
        ("chance (uniform guess)", 1 / 3, "dash"), ("chance (uniform guess)", 0.125, "dash"),
        ("majority answer", 0.5, "dot"),
    ]  # fmt: skip
    assert [s.showlegend for s in shapes] == [True, False, True]  # one legend entry per kind
    assert shapes[1].x0 == pytest.approx(1 - 0.375) and shapes[1].x1 == pytest.approx(
        1 + 0.375
    )  # across "ood"
    assert "n = 32" in out.figure.data[0].text[0] and "[0.100, 0.950]" in out.figure.data[0].text[0]


def test_accuracy_per_dataset_is_horizontal_with_room_for_long_names():
    long = "raven-text-in_center_single_out_center_single"
    acc = pd.DataFrame({"module": ["invariant", "invariant"], "dataset": [long, "acre"],
                        "accuracy": [0.2, 0.4], "low": [0.1, 0.3], "high": [0.3, 0.5]})  # fmt: skip
    out = accuracy_bars(acc, category="dataset", size="two_column")
    wrapped = "raven-text-in_center_single_<br>out_center_single"  # broken at '_' into short lines
    assert out.figure.data[0].orientation == "h" and list(out.figure.data[0].y) == [wrapped, "acre"]
    assert out.figure.layout.margin.l >= len("raven-text-in_center_single_") * 0.5 * 11


def test_attribution_heatmap_diverging_centred():
    scores = np.array([[1.0, -3.0], [0.5, 2.0], [0.0, 0.0]])
    out = attribution_heatmap(["the", "the", "end"], scores, ["invariant", "domain_0"])
    (trace,) = out.figure.data
    assert trace.zmid == 0 and trace.zmin == -3 and trace.zmax == 3
    assert list(out.figure.layout.yaxis.ticktext) == ["the", "the", "end"]  # repeated tokens stay separate
    assert list(out.data.columns) == ["position", "token", "module", "score"] and len(out.data) == 6
    assert out.figure.layout.template.layout.colorscale.diverging is not None


def test_attribution_heatmap_caps_axis_labels_but_keeps_every_row_named():
    tokens = [f"t{i}" for i in range(250)]
    capped = attribution_heatmap(tokens, np.zeros((250, 2)), ["invariant", "domain_0"], max_token_labels=64)
    axis = capped.figure.layout.yaxis
    assert len(axis.ticktext) <= 64 and list(axis.ticktext[:2]) == ["t0", "t4"]  # every 4th, from the first
    assert list(axis.tickvals[:2]) == [0, 4]
    assert [row[0] for row in capped.figure.data[0].text] == tokens  # hover still names every row
    full = attribution_heatmap(tokens, np.zeros((250, 2)), ["invariant", "domain_0"])
    assert list(full.figure.layout.yaxis.ticktext) == tokens
    few = attribution_heatmap(tokens[:10], np.zeros((10, 2)), ["invariant", "domain_0"], max_token_labels=64)
    assert list(few.figure.layout.yaxis.ticktext) == tokens[:10]


def test_bad_color_by_rejected():
    with pytest.raises(ValueError, match="color_by"):
        projection_scatter(np.zeros((1, 2)), ["a"], ["x"], "colour")


def test_bad_coords_shape_rejected():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        projection_scatter(np.zeros((2, 3)), ["a", "b"], [0, 1])


def test_length_mismatch_rejected():
    with pytest.raises(ValueError, match="one per row"):
        projection_scatter(np.zeros((2, 2)), ["a"], [0, 1])


def test_history_missing_columns_rejected():
    with pytest.raises(ValueError, match="step"):
        metric_lines(pd.DataFrame({"run": [], "value": []}), "MI")


def test_accuracy_missing_columns_rejected():
    with pytest.raises(ValueError, match="split"):
        accuracy_bars(pd.DataFrame({"module": [], "accuracy": []}))


def test_attribution_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"\(T, M\)"):
        attribution_heatmap(["a"], np.zeros((2, 1)), ["invariant"])


def test_bad_ema_weight_rejected():
    with pytest.raises(ValueError, match="weight"):
        ema([1.0], 1.0)


def test_bad_size_rejected():
    with pytest.raises(ValueError, match="size"):
        similarity_heatmap(pd.DataFrame(np.eye(2)), size="three_column")
