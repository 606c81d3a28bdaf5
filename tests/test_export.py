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
        assert names == {f"{n}.{f}" for n in figures for f in ["png", "svg", "pdf", "html", "json", "csv"]}
        assert zf.read("cka.png")[:8] == b"\x89PNG\r\n\x1a\n"
        assert zf.read("mi.pdf")[:4] == b"%PDF"
        ET.fromstring(zf.read("contingency.svg"))
        csv = pd.read_csv(io.BytesIO(zf.read("contingency.csv")))
        assert csv["count"].sum() == 12
        fig = pio.from_json(zf.read("accuracy.json").decode())
        assert [t.name for t in fig.data] == ["invariant"]
        html = zf.read("projection.html").decode()
        assert "<html>" in html and "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js embedded


def test_no_browser_raises_with_install_hint(no_browser, tmp_path):
    assert find_browser() is None
    with pytest.raises(StaticExportUnavailable, match="apt-get install chromium"):
        export_figure_set(_figure_set(), tmp_path / "out", formats=["png", "csv"])


def test_no_browser_skip_still_exports_data(no_browser, tmp_path):
    result = export_figure_set(
        _figure_set(),
        tmp_path / "out",
        formats=["pdf", "html", "json", "csv"],
        on_missing_browser="skip",
        html_plotlyjs="cdn",
    )
    assert "cka.pdf" in result.skipped and len(result.skipped) == 6
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == result.files
    assert len(result.files) == 18 and result.browser_starts == 0
    data = json.loads((tmp_path / "out" / "attribution.json").read_text())
    assert data["data"][0]["type"] == "heatmap"


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
