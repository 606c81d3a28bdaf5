"""Tests for analysis/export.py: real PNG/SVG/PDF via kaleido + Chromium, one browser per set, fallbacks."""

import io
import json
import struct
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from analysis.accuracy_figures import accuracy_bars
from analysis.attribution_figures import attribution_heatmap
from analysis.export import (
    StaticExportUnavailable,
    StaticRenderer,
    browser_start_count,
    export_figure_set,
    find_browser,
)
from analysis.figures import (
    FigureWithData,
    contingency_heatmap,
    metric_lines,
    projection_scatter,
    similarity_heatmap,
)

needs_browser = pytest.mark.skipif(find_browser() is None, reason="no Chrome/Chromium installed")


def _figure_set() -> dict[str, FigureWithData]:
    rng = np.random.default_rng(0)
    names = ["invariant", "domain_0", "aggregated"]
    table = pd.DataFrame(
        [[5, 1], [0, 6]],
        index=pd.Index([0, 1], name="cluster"),
        columns=pd.Index(["acre", "raven"], name="dataset"),
    )
    history = pd.DataFrame({"run": "seed0", "step": np.arange(10), "value": rng.normal(size=10)})
    acc = pd.DataFrame(
        {"module": ["invariant", "invariant"], "split": ["iid", "ood"], "accuracy": [0.8, 0.6]}
    )
    return {
        "projection": projection_scatter(
            rng.normal(size=(40, 2)), [f"e{i}" for i in range(40)], [i % 2 for i in range(40)]
        ),
        "contingency": contingency_heatmap(table),
        "cka": similarity_heatmap(pd.DataFrame(np.eye(3), index=names, columns=names)),
        "mi": metric_lines(history, "MI", smoothing=0.5),
        "accuracy": accuracy_bars(acc),
        "attribution": attribution_heatmap(["a", "b"], rng.normal(size=(2, 3)), names),
    }


@pytest.fixture(scope="module")
def renderer():
    with StaticRenderer() as r:
        yield r


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("scale", [1, 2.5])
def test_png_signature_and_pixel_size(renderer, scale):
    fig = _figure_set()["cka"].figure  # one-column template: 336 x 252 CSS px
    png = renderer.render(fig, "png", scale=scale)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    assert (width, height) == (round(336 * scale), round(252 * scale))
    png = renderer.render(fig, "png", width=400, height=300, scale=2)
    assert struct.unpack(">II", png[16:24]) == (800, 600)


@pytest.mark.browser
@needs_browser
def test_svg_is_xml_and_pdf_is_pdf(renderer):
    fig = _figure_set()["accuracy"].figure
    root = ET.fromstring(renderer.render(fig, "svg"))
    assert root.tag.endswith("svg")
    assert renderer.render(fig, "pdf")[:4] == b"%PDF"
    assert len(renderer.browser_pids) == 1


@pytest.mark.browser
@needs_browser
def test_figure_set_zip_with_single_browser_start(tmp_path):
    figures = dict(list(_figure_set().items())[:5])
    before = browser_start_count()
    result = export_figure_set(figures, tmp_path / "paper.zip", scale=2)
    assert browser_start_count() - before == 1  # 5 figures x 3 static formats, one Chromium
    assert result.browser_starts == 1 and result.skipped == []
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
        formats = ["png", "svg", "pdf", "html", "plotly.json", "json", "csv"]
        assert names == {f"{n}.{f}" for n in figures for f in formats} | {"plotly.min.js"}
        assert zf.read("cka.png")[:8] == b"\x89PNG\r\n\x1a\n"
        assert zf.read("mi.pdf")[:4] == b"%PDF"
        ET.fromstring(zf.read("contingency.svg"))
        csv = pd.read_csv(io.BytesIO(zf.read("contingency.csv")))
        assert csv["count"].sum() == 12
        fig = pio.from_json(zf.read("accuracy.plotly.json").decode())
        assert [t.name for t in fig.data] == ["invariant"]
        assert json.loads(zf.read("contingency.json")) == csv.to_dict(orient="records")  # the same records
        html = zf.read("projection.html").decode()
        assert "<html>" in html and "Plotly.newPlot" in html and 'src="plotly.min.js"' in html
        assert len(html) < 100_000 and len(zf.read("plotly.min.js")) > 1_000_000  # one plotly.js, shared


def test_no_browser_raises_with_install_hint(no_browser, tmp_path):
    assert find_browser() is None
    with pytest.raises(StaticExportUnavailable, match="apt-get install chromium"):
        export_figure_set(_figure_set(), tmp_path / "out", formats=["png", "csv"])


def test_no_browser_skip_still_exports_data(no_browser, tmp_path):
    result = export_figure_set(
        _figure_set(),
        tmp_path / "out",
        formats=["pdf", "html", "plotly", "json", "csv"],
        on_missing_browser="skip",
        html_plotlyjs="cdn",
    )
    assert "cka.pdf" in result.skipped and len(result.skipped) == 6
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == result.files
    assert len(result.files) == 24 and result.browser_starts == 0
    data = json.loads((tmp_path / "out" / "attribution.plotly.json").read_text())
    assert data["data"][0]["type"] == "heatmap"
    records = json.loads((tmp_path / "out" / "attribution.json").read_text())
    assert records == pd.read_csv(tmp_path / "out" / "attribution.csv").to_dict(orient="records")


def test_data_formats_never_start_a_browser(tmp_path):
    before = browser_start_count()
    result = export_figure_set(_figure_set(), tmp_path / "set.zip", formats=["csv", "json"])
    assert browser_start_count() == before and result.browser_starts == 0
    assert sorted(zipfile.ZipFile(result.path).namelist()) == result.files


def test_unknown_format_rejected(tmp_path):
    with pytest.raises(ValueError, match="formats"):
        export_figure_set(_figure_set(), tmp_path / "x", formats=["gif"])


def test_path_like_figure_name_rejected(tmp_path):
    with pytest.raises(ValueError, match="valid file name"):
        export_figure_set({"../evil": _figure_set()["cka"]}, tmp_path / "x", formats=["csv"])


def test_empty_figure_set_rejected(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        export_figure_set({}, tmp_path / "x", formats=["csv"])


def test_bad_missing_browser_policy_rejected(tmp_path):
    with pytest.raises(ValueError, match="on_missing_browser"):
        export_figure_set(_figure_set(), tmp_path / "x", formats=["csv"], on_missing_browser="ignore")


@pytest.mark.browser
@needs_browser
def test_bad_render_format_rejected(renderer):
    with pytest.raises(ValueError, match="fmt"):
        renderer.render(_figure_set()["cka"].figure, "gif")


def test_csv_exports_neutralise_spreadsheet_formulas():
    import pandas as pd

    from analysis.export import safe_csv

    frame = pd.DataFrame(
        {
            "prompt": ["=cmd|' /C calc'!A0", "+SUM(1,2)", "@SUM(1)", "-2+3", "plain", None],
            "score": [-1.5, 2.0, 0.0, 1.0, 3.0, 4.0],
            "=HYPERLINK(1)": ["a", "b", "c", "d", "e", "f"],
        }
    )
    import csv
    import io

    rows = list(csv.reader(io.StringIO(safe_csv(frame).decode("utf-8"))))
    assert rows[0] == ["prompt", "score", "'=HYPERLINK(1)"]
    assert [r[0] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "'+SUM(1,2)", "'@SUM(1)", "'-2+3", "plain", ""]
    assert [r[1] for r in rows[1:3]] == ["-1.5", "2.0"]  # numbers are not text: kept as they are
    assert frame["prompt"][0] == "=cmd|' /C calc'!A0"  # the caller's frame is not changed


def test_a_figure_set_carries_its_manifest(tmp_path):
    settings = {"checkpoint": {"name": "iclm-k2"}, "figures": {"cka": {"settings": {"scope": "all"}}}}
    result = export_figure_set(_figure_set(), tmp_path / "set.zip", formats=["csv"], manifest=settings)
    with zipfile.ZipFile(result.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["checkpoint"] == {"name": "iclm-k2"}
    assert manifest["figures"]["cka"]["settings"] == {"scope": "all"}
    assert "cka.csv" in manifest["files"] and manifest["exported"]


def test_reserved_names_rejected(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        export_figure_set({"manifest": _figure_set()["cka"]}, tmp_path / "x", formats=["json"])


def _ink_on_border(png: bytes) -> dict[str, int]:
    """Non-white pixels in the outermost 2-pixel frame of a PNG per side (a clipped label leaves ink)."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    ink = image < 200
    return {"top": int(ink[:2].sum()), "bottom": int(ink[-2:].sum()), "left": int(ink[:, :2].sum()),
            "right": int(ink[:, -2:].sum())}  # fmt: skip


LONG = ["acre-symbolic-iid", "raven-text-in_center_single_out_center_single", "acre-text-comp"]


def _wide_figures(size: str) -> list[FigureWithData]:
    table = pd.DataFrame([[5, 0, 2], [1, 4, 3]], index=pd.Index([0, 1], name="cluster"),
                         columns=pd.Index(LONG, name="dataset"))  # fmt: skip
    history = pd.DataFrame(
        [{"run": run, "step": s, "value": s * 0.1, "module": m} for run in ("iclm-k2", "no-invariant-k2")
         for m in ("invariant_lm", "domain_lm", "mi") for s in range(5)]
    )  # fmt: skip
    acc = pd.DataFrame({"module": ["invariant"] * 3, "dataset": LONG, "accuracy": [0.2, 0.5, 0.9],
                        "low": [0.1, 0.3, 0.7], "high": [0.4, 0.7, 0.97]})  # fmt: skip
    return [
        contingency_heatmap(table, title="Examples per cluster and dataset", size=size),
        metric_lines(history, "Loss terms (nats)", title="Loss terms", size=size),
        accuracy_bars(acc, category="dataset", size=size, title="Accuracy per dataset"),
        attribution_heatmap(
            LONG,
            np.ones((3, 4)),
            ["aggregated", "invariant", "domain_0", "domain_1"],
            title="Integrated gradients: log p( on) (route 0)",
            size=size,
        ),  # fmt: skip
    ]


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("size", ["one_column", "two_column"])
def test_nothing_is_clipped_at_either_column_size(renderer, size):
    """The contingency heatmap cut "acre-symbolic-iid" and ran into its axis title; the margins now come
    from the labels (automargin), so no ink touches the image's edge, with long dataset and run names."""
    for item in _wide_figures(size):
        border = _ink_on_border(renderer.render(item.figure, "png", scale=1))
        assert border == {"top": 0, "bottom": 0, "left": 0, "right": 0}, item.figure.layout.title.text


def test_one_column_legends_go_under_the_plot_in_rows():
    history = pd.DataFrame(
        [{"run": run, "step": s, "value": 1.0 * s, "module": m} for run in ("iclm-k2", "no-invariant-k2")
         for m in ("lm", "invariant_lm", "domain_lm", "mi", "routing") for s in range(3)]
    )  # fmt: skip
    one = metric_lines(history, "Loss terms", size="one_column").figure
    assert one.layout.legend.orientation == "h" and one.layout.legend.yref == "container"
    assert one.layout.height > 252 and one.layout.margin.b > 40  # the plot keeps its height
    two = metric_lines(history, "Loss terms", size="two_column").figure
    assert two.layout.legend.orientation is None  # beside the plot in a two-column figure
