"""Export figures for a paper: PNG/SVG/PDF through kaleido (headless Chromium), the interactive figure as
HTML and plotly JSON, and its data as CSV plus the same records as JSON.

Static images need a Chrome/Chromium binary; kaleido 1.x drives it through choreographer, which already
passes ``--no-sandbox --disable-gpu --headless`` (needed when running as root). ``StaticRenderer`` starts ONE
browser and reuses it for every figure of a set. Without a browser, static formats raise
``StaticExportUnavailable`` (with the fix in its message) while HTML, JSON and CSV still export.

A figure set's HTML files share ONE plotly.js (``plotly.min.js`` beside them, 4.8 MB once instead of in
every file), and the set carries ``manifest.json``: what was exported, when, from which checkpoint and
artifact, with every figure's settings (the caller's `manifest`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import plotly.graph_objects as go

from analysis.figures import FigureWithData
from iclm.file_modes import share_file

logger = logging.getLogger(__name__)

Format = Literal["png", "svg", "pdf", "html", "plotly", "csv", "json"]
STATIC_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
#: html and plotly (``<name>.plotly.json``) hold the figure; csv and json the same data records.
DATA_FORMATS: tuple[str, ...] = ("html", "plotly", "csv", "json")
ALL_FORMATS: tuple[str, ...] = STATIC_FORMATS + DATA_FORMATS
PlotlyJs = Literal["embed", "cdn", "shared"]
SHARED_PLOTLYJS = "plotly.min.js"
MANIFEST = "manifest.json"
RESERVED_NAMES = frozenset({"manifest", "plotly.min"})
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "Static export (PNG/SVG/PDF) needs Chrome or Chromium. Install it with `apt-get install chromium` "
    "(Debian/Ubuntu), or run `kaleido_get_chrome`, or set BROWSER_PATH to the browser binary. "
    "HTML, JSON and CSV export work without it."
)
_browser_starts = 0  # process-wide count of browsers started by StaticRenderer (tests check reuse with it)


class StaticExportUnavailable(RuntimeError):
    """No usable Chrome/Chromium for PNG/SVG/PDF export; the message says how to install one."""


def browser_start_count() -> int:
    """How many browsers ``StaticRenderer`` has started in this process."""
    return _browser_starts


def find_browser() -> str | None:
    """Path of a Chrome/Chromium binary: $BROWSER_PATH, then /usr/bin/chromium, then PATH; None if absent."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.access(env, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in BROWSER_NAMES:
        if path := shutil.which(name):
            return path
    return None


class StaticRenderer:
    """One headless browser, reused to render many figures to PNG/SVG/PDF bytes.

    Use as a context manager: ``with StaticRenderer() as r: png = r.render(fig, "png", scale=3)``.
    kaleido is asyncio-based; the renderer runs its own event loop in a daemon thread, so it works from
    plain scripts, Streamlit script threads and notebooks (which already run a loop) alike.
    """

    def __init__(self, browser_path: str | None = None, timeout_s: float = 90.0) -> None:
        self.browser_path = browser_path
        self.timeout_s = timeout_s
        self.browser_pids: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None

    def _run(self, coro):
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s + 30)

    def start(self) -> StaticRenderer:
        """Start the browser (once). Raises StaticExportUnavailable when no browser can be started."""
        global _browser_starts
        if self._kaleido is not None:
            return self
        path = self.browser_path or find_browser()
        if path is None:
            raise StaticExportUnavailable(f"No Chrome/Chromium found. {INSTALL_HINT}")
        import kaleido  # heavy; imported only for static export

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido-loop", daemon=True)
        self._thread.start()

        async def _open():
            k = kaleido.Kaleido(path=path, n=1, timeout=self.timeout_s, mathjax=False)
            await k.open()
            return k

        try:
            self._kaleido = self._run(_open())
        except Exception as err:
            self._stop_loop()
            raise StaticExportUnavailable(
                f"Could not start the browser at {path}: {err}. {INSTALL_HINT}"
            ) from err
        _browser_starts += 1
        self.browser_pids.append(self._kaleido.subprocess.pid)
        logger.info("started headless browser %s (pid %d)", path, self.browser_pids[-1])
        return self

    def render(
        self,
        fig: go.Figure,
        fmt: Literal["png", "svg", "pdf"],
        width: int | None = None,
        height: int | None = None,
        scale: float = 1.0,
    ) -> bytes:
        """Render ``fig`` to bytes; width/height default to its layout (CSS px). PNG pixels = px x scale."""
        if fmt not in STATIC_FORMATS:
            raise ValueError(f"fmt={fmt!r} is not one of {list(STATIC_FORMATS)}")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.start()
        opts = {"format": fmt, "scale": scale}
        width = width or fig.layout.width
        height = height or fig.layout.height
        if width:
            opts["width"] = width
        if height:
            opts["height"] = height
        return self._run(self._kaleido.calc_fig(fig, opts=opts))

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop.close()
        self._loop, self._thread = None, None

    def close(self) -> None:
        """Close the browser and stop the event-loop thread (safe to call twice)."""
        if self._kaleido is not None:
            try:
                self._run(self._kaleido.close())
            except Exception as err:  # a dead browser must not hide the caller's own error
                logger.warning("closing the headless browser failed: %s", err)
            self._kaleido = None
        self._stop_loop()

    def __enter__(self) -> StaticRenderer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class ExportResult:
    """Where the set went (a folder or a .zip), the relative file names written, and what was skipped."""

    path: Path
    files: list[str]
    skipped: list[str] = field(default_factory=list)
    browser_starts: int = 0


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula


def _neutralise(value):
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice); numbers
    and other cells are kept as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_csv(data: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV whose text cells and column names cannot inject spreadsheet formulas."""
    safe = data.copy()
    safe.columns = [_neutralise(str(c)) for c in safe.columns]
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_neutralise, na_action="ignore")
    return safe.to_csv(index=False).encode("utf-8")


def _cell(value):
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value.item() if hasattr(value, "item") else value


def records_json(data: pd.DataFrame) -> bytes:
    """The frame's rows as a JSON list of records: the same records, at the same precision, as its CSV
    (NaN as null)."""
    import json

    records = [{str(k): _cell(v) for k, v in row.items()} for row in data.to_dict(orient="records")]
    return json.dumps(records, indent=1, ensure_ascii=False, default=str).encode("utf-8")


def _html(fig: go.Figure, plotlyjs: PlotlyJs) -> bytes:
    include = {"embed": True, "cdn": "cdn", "shared": SHARED_PLOTLYJS}[plotlyjs]
    return fig.to_html(include_plotlyjs=include, full_html=True).encode()


def _check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in ALL_FORMATS]
    if bad or not formats:
        raise ValueError(f"formats={list(formats)} must be a non-empty subset of {list(ALL_FORMATS)}")
    return formats


def _check_name(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(
            f"figure name {name!r} is reserved for the set's own files ({sorted(RESERVED_NAMES)})"
        )
    if not name or name in {".", ".."} or any(c in name for c in '/\\:*?"<>|\0'):
        raise ValueError(f'figure name {name!r} is not a valid file name (no path separators or :*?"<>|)')
    return name


def figure_files(
    name: str,
    item: FigureWithData,
    formats: Iterable[str],
    renderer: StaticRenderer | None = None,
    scale: float = 3.0,
    html_plotlyjs: PlotlyJs = "embed",
) -> dict[str, bytes]:
    """File name -> bytes for one figure in the given formats (static ones need ``renderer``). With
    ``html_plotlyjs="shared"`` the HTML loads ``plotly.min.js`` from beside it (a figure set writes it)."""
    out: dict[str, bytes] = {}
    for fmt in _check_formats(formats):
        if fmt in STATIC_FORMATS:
            if renderer is None:
                raise StaticExportUnavailable(f"{fmt} needs a StaticRenderer. {INSTALL_HINT}")
            out[f"{name}.{fmt}"] = renderer.render(item.figure, fmt, scale=scale if fmt == "png" else 1.0)
        elif fmt == "html":
            out[f"{name}.html"] = _html(item.figure, html_plotlyjs)
        elif fmt == "plotly":
            out[f"{name}.plotly.json"] = item.figure.to_json().encode()
        elif fmt == "json":
            out[f"{name}.json"] = records_json(item.data)
        else:
            out[f"{name}.csv"] = safe_csv(item.data)
    return out


def _write_atomic(target: Path, files: Mapping[str, bytes], as_zip: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if as_zip:
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for rel, payload in files.items():
                    zf.writestr(rel, payload)
            share_file(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    target.mkdir(parents=True, exist_ok=True)
    for rel, payload in files.items():
        fd, tmp = tempfile.mkstemp(dir=target, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        share_file(tmp)
        os.replace(tmp, target / rel)


def _manifest(manifest: Mapping, files: Mapping[str, bytes], skipped: list[str]) -> bytes:
    import json
    from datetime import UTC, datetime

    import plotly

    written = {
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "plotly": plotly.__version__,
        "files": sorted(files),
        "skipped": skipped,
    }
    return json.dumps(dict(manifest) | written, indent=1, sort_keys=True, default=str).encode("utf-8")


def export_figure_set(
    figures: Mapping[str, FigureWithData],
    out: str | Path,
    formats: Iterable[Format] = ALL_FORMATS,
    scale: float = 3.0,
    on_missing_browser: Literal["raise", "skip"] = "raise",
    html_plotlyjs: PlotlyJs = "shared",
    renderer: StaticRenderer | None = None,
    manifest: Mapping | None = None,
) -> ExportResult:
    """Export every figure with its data: ``<name>.<fmt>`` for each format, into a folder or a ``.zip``.

    Args:
        figures: name -> FigureWithData; names become file names.
        out: a folder, or a path ending in ``.zip`` (written atomically).
        formats: any of png, svg, pdf (one shared browser for the whole set), html, json, csv.
        scale: PNG pixel multiplier (3 = 288 dpi at the template's 96 px per inch).
        on_missing_browser: ``raise`` StaticExportUnavailable, or ``skip`` static formats (listed in
            ``skipped``) and export the rest.
        renderer: an already started StaticRenderer to reuse across calls (not closed here).
        html_plotlyjs: "shared" (default): one plotly.min.js beside the HTML files; "embed": in each;
            "cdn": loaded from the plotly CDN (needs the internet).
        manifest: written as manifest.json with the files and the export time added (see module docstring).
    """
    formats = _check_formats(formats)
    names = [_check_name(n) for n in figures]
    if not names:
        raise ValueError("figures is empty: nothing to export")
    if on_missing_browser not in ("raise", "skip"):
        raise ValueError(f"on_missing_browser={on_missing_browser!r} is not one of ['raise', 'skip']")
    static = [f for f in formats if f in STATIC_FORMATS]
    skipped: list[str] = []
    owned = None
    if static and renderer is None:
        try:
            owned = renderer = StaticRenderer().start()
        except StaticExportUnavailable:
            if on_missing_browser == "raise":
                raise
            logger.warning("no browser: skipping %s. %s", static, INSTALL_HINT)
            skipped = [f"{n}.{f}" for n in names for f in static]
            formats = tuple(f for f in formats if f not in STATIC_FORMATS)
    starts_before = browser_start_count() - (1 if owned is not None else 0)
    files: dict[str, bytes] = {}
    try:
        for name in names if formats else []:
            files.update(figure_files(name, figures[name], formats, renderer, scale, html_plotlyjs))
    finally:
        if owned is not None:
            owned.close()
    if html_plotlyjs == "shared" and any(f.endswith(".html") for f in files):
        from plotly.offline import get_plotlyjs

        files[SHARED_PLOTLYJS] = get_plotlyjs().encode("utf-8")
    if manifest is not None:
        files[MANIFEST] = _manifest(manifest, files, skipped)
    target = Path(out)
    _write_atomic(target, files, as_zip=target.suffix.lower() == ".zip")
    return ExportResult(target, sorted(files), skipped, browser_start_count() - starts_before)
