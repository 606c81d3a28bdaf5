"""The studio in a real headless Chromium: every page renders, an upload is processed, an export downloads.

Starts `streamlit run app.py` on a free localhost port against the test checkpoints and drives Debian's
/usr/bin/chromium with playwright (no `playwright install`).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from pathlib import Path

import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS, free_port, start_server
from bench.tiny_checkpoints import build_checkpoints

pytestmark = pytest.mark.browser

PAGES = {  # url path -> title prefix
    "": "Overview",
    "clusters": "Router clusters",
    "dynamics": "Training dynamics",
    "correlation": "Module correlation & MI",
    "predictions": "Predictions & attribution",
    "prompts": "Custom prompts",
    "interventions": "Interventions",
    "slices": "Slices",
    "compare": "Compare checkpoints",
    "continual": "Continual learning",
}


def wait_for_title(page, prefix: str, timeout_ms: int = 90_000) -> None:
    page.get_by_role("heading", level=1).filter(has_text=prefix).first.wait_for(timeout=timeout_ms)
    page.wait_for_function(  # the script run is over when streamlit's status widget disappears
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']"
    ).first.inner_text()


SERVERS: dict[str, subprocess.Popen] = {}  # url -> the streamlit process serving it
BUILT: dict[str, Path] = {}  # "checkpoints" -> the test checkpoints' folder (shared by every test module)


@pytest.fixture
def slices_kept_as_they_were(server_url):
    """The test checkpoints are built once per process and shared with tests/studio: a slice saved here is
    taken out again afterwards, so their slice listings see only their own."""
    path = BUILT["checkpoints"] / "iclm-tiny" / "analysis" / "slices.json"
    before = path.read_bytes() if path.exists() else None
    yield
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(before)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    checkpoints = build_checkpoints(tmp_path_factory.mktemp("studio-browser"))
    BUILT["checkpoints"] = checkpoints
    port = free_port()
    server = start_server(checkpoints, port)
    SERVERS[f"http://127.0.0.1:{port}"] = server
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_every_page_upload_and_export_in_a_real_browser(server_url, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    # The server's first visit is a deep link: with the page scripts in a folder named `pages/`, Streamlit
    # served that script directly (legacy multipage mode), without app.py's sidebar or checkpoint.
    page.goto(f"{server_url}/clusters", wait_until="domcontentloaded")
    wait_for_title(page, "Router clusters")
    sidebar = page.locator("[data-testid='stSidebar']")
    export_set = sidebar.get_by_role("button", name="Export figure set")
    export_set.wait_for(timeout=30_000)  # the shared sidebar (raises if it never appears)
    assert page.get_by_text("Page not found").count() == 0
    page.goto(server_url, wait_until="domcontentloaded")
    wait_for_title(page, "Overview")
    export_set.wait_for(timeout=30_000)
    shots = os.environ.get("STUDIO_SCREENSHOTS")  # optional: a folder for one screenshot per page
    for path, title in PAGES.items():
        page.goto(f"{server_url}/{path}", wait_until="domcontentloaded")
        wait_for_title(page, title)
        no_exception(page)
        assert sidebar.get_by_text("iclm-tiny").count() >= 1
        if shots:
            page.screenshot(path=str(Path(shots) / f"{path or 'overview'}.png"), full_page=True)

    # upload a prompt file on the custom-prompts page: bad line reported, good lines predicted
    page.goto(f"{server_url}/prompts", wait_until="domcontentloaded")
    wait_for_title(page, "Custom prompts")
    page.get_by_role("tab", name="Upload a file").click()
    upload = tmp_path / "prompts.jsonl"
    upload.write_text(
        '{"prompt": "1 2 3 ?", "answer": "1"}\n{broken\n{"prompt": "<b>bold?</b>", "answer": "0"}\n'
    )
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(upload))
    page.get_by_text("1 line(s) skipped").wait_for(timeout=120_000)
    page.get_by_text("Download JSONL").wait_for(timeout=120_000)
    no_exception(page)
    assert page.locator("b", has_text="bold?").count() == 0  # user text never becomes HTML

    # download an exported figure (the CSV and the PNG of the overview's accuracy chart)
    page.goto(server_url, wait_until="domcontentloaded")
    wait_for_title(page, "Overview")
    for label, check in (
        ("CSV", lambda b: b.startswith(b"module,split,dataset,accuracy,low,high,n")),  # with its interval
        ("PNG", lambda b: b[:8] == b"\x89PNG\r\n\x1a\n"),
    ):
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name=label, exact=True).first.click()
        payload = Path(download.value.path()).read_bytes()
        assert check(payload), payload[:40]
    context.close()


def _labels_inside(payload: bytes) -> None:
    """Every character of a one-page PDF lies inside the page, the axis and dataset names are there, and
    the x axis title "dataset" overlaps no other text (positions read back with pdfplumber)."""
    import io

    import pdfplumber

    assert payload[:4] == b"%PDF"
    with pdfplumber.open(io.BytesIO(payload)) as pdf:
        (sheet,) = pdf.pages
        chars, width, height = sheet.chars, sheet.width, sheet.height
    assert chars, "the PDF has no text"
    outside = [
        c["text"] for c in chars if c["x0"] < 0 or c["x1"] > width or c["top"] < 0 or c["bottom"] > height
    ]
    assert not outside, f"{len(outside)} characters outside the {width}x{height} page: {''.join(outside)}"
    text = "".join(c["text"] for c in chars)
    for name in ("acre", "pvr", "cluster", "dataset", "router"):
        assert name in text, name
    runs = [chars[i : i + 7] for i in range(len(chars) - 6)]
    title = next(
        (r for r in runs if "".join(c["text"] for c in r) == "dataset" and all(c["upright"] for c in r)), []
    )
    assert title, "the x axis title is not in the PDF"
    for t in title:
        for c in (c for c in chars if not any(c is x for x in title)):
            dx = min(t["x1"], c["x1"]) - max(t["x0"], c["x0"])
            dy = min(t["bottom"], c["bottom"]) - max(t["top"], c["top"])
            assert not (dx > 0.5 and dy > 0.5), f"the axis title overlaps {c['text']!r}"


def test_the_contingency_pdf_keeps_every_label_inside_its_page(server_url, browser):
    """The exported contingency heatmap cut its dataset labels ("acre-symb...") and laid them over the axis
    title. Checked in the PDF of the page's own PDF button (two-column) and in the figure set's (one-column;
    the old layout overlapped the title there)."""
    import io
    import zipfile

    pytest.importorskip("pdfplumber")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server_url}/clusters", wait_until="domcontentloaded")
    wait_for_title(page, "Router clusters")
    no_exception(page)
    with page.expect_download(timeout=120_000) as download:
        page.locator(".st-key-dl_pdf_clusters_contingency button").click()
    _labels_inside(Path(download.value.path()).read_bytes())
    with page.expect_download(timeout=300_000) as download:
        page.locator("[data-testid='stSidebar']").get_by_role("button", name="Export figure set").click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as zf:
        assert {"manifest.json", "plotly.min.js", "contingency_all.pdf"} <= set(zf.namelist())
        _labels_inside(zf.read("contingency_all.pdf"))
    context.close()


def test_links_restore_a_view_and_unknown_paths_open_without_a_dialog(server_url, browser):
    """The URL holds the page, checkpoint and main controls: a reload keeps them and a link opened in a
    new session restores them; /overview and a path naming no page open Overview, no "Page not found"."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    for path in ("overview", "no-such-page"):
        page.goto(f"{server_url}/{path}", wait_until="domcontentloaded")
        wait_for_title(page, "Overview")
        no_exception(page)
        page.wait_for_timeout(500)  # the dialog, when there is one, comes with the page
        assert page.get_by_text("Page not found").count() == 0
    page.goto(
        f"{server_url}/predictions?checkpoint=baseline-tiny&pred_split=ood", wait_until="domcontentloaded"
    )
    wait_for_title(page, "Predictions & attribution · baseline-tiny")
    no_exception(page)
    page.wait_for_function("() => window.location.search.includes('pred_split=ood')", timeout=30_000)
    url = page.url
    page.reload(wait_until="domcontentloaded")
    wait_for_title(page, "Predictions & attribution · baseline-tiny")
    assert "pred_split=ood" in page.url and "checkpoint=baseline-tiny" in page.url
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # a colleague's browser
    fresh.goto(url, wait_until="domcontentloaded")
    wait_for_title(fresh, "Predictions & attribution · baseline-tiny")
    no_exception(fresh)
    assert fresh.get_by_text("ood").count() >= 1
    context.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, every thread (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_long_attribution(page, server_url: str) -> None:
    """Custom prompts: a long typed prompt, integrated gradients at 512 steps (a job of minutes here)."""
    page.goto(f"{server_url}/prompts", wait_until="domcontentloaded")
    wait_for_title(page, "Custom prompts")
    box = page.get_by_label("One prompt per line")
    box.fill(" ".join(f"the block {i} is red and the light is on ;" for i in range(40)))
    box.press("Control+Enter")
    page.get_by_text("Predictions (1 prompts)").wait_for(timeout=120_000)
    page.wait_for_function(DONE_JS, timeout=120_000)  # a rerun under an open dropdown detaches its options
    for attempt in range(3):
        page.get_by_label("Attribution method").click()
        try:
            page.get_by_role("option", name="Integrated gradients").click(timeout=10_000)
            break
        except Exception:  # playwright's TimeoutError: the page reran; open the dropdown again
            if attempt == 2:
                raise
            page.wait_for_function(DONE_JS, timeout=60_000)
    steps = page.get_by_label("IG steps", exact=True).and_(page.locator("input"))
    steps.fill("512")
    steps.press("Enter")
    page.wait_for_function(DONE_JS, timeout=60_000)
    page.get_by_role("button", name="Attribute").click()
    page.get_by_role("button", name="Cancel").wait_for(timeout=60_000)  # the job's progress and Cancel


DONE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def test_a_long_job_never_blocks_another_session_and_cancel_frees_the_cpu(server_url, browser):
    """Session A runs a long attribution; session B's typed prompt answers meanwhile; A's Cancel stops the
    job (the server's CPU goes idle) and A's next prompt answers."""
    a = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    b = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _start_long_attribution(a, server_url)
    assert a.get_by_text("steps").count() >= 1
    b.goto(f"{server_url}/prompts", wait_until="domcontentloaded")
    wait_for_title(b, "Custom prompts")
    box = b.get_by_label("One prompt per line")
    box.fill("Is the red cube on?")
    start = time.monotonic()
    box.press("Control+Enter")
    b.get_by_text("Predictions (1 prompts)").wait_for(timeout=60_000)
    answered = time.monotonic() - start
    assert a.get_by_role("button", name="Cancel").count() == 1  # A's job still running meanwhile
    assert answered < 30, answered  # the 2 s target is bench/app_latency.py's; this is the blocking test
    a.get_by_role("button", name="Cancel").click()
    a.get_by_text("cancelled after").wait_for(timeout=30_000)
    pid = SERVERS[server_url].pid
    time.sleep(1.0)
    before = _cpu_seconds(pid)
    time.sleep(3.0)
    assert _cpu_seconds(pid) - before < 1.0  # idle: the cancelled job no longer computes
    box = a.get_by_label("One prompt per line")
    box.fill("Is the blue cylinder on?")
    box.press("Control+Enter")
    a.get_by_text("Predictions (1 prompts)").wait_for(timeout=60_000)
    no_exception(a)
    no_exception(b)


def _lasso_around(page, chart) -> None:
    """Drag a lasso around the whole plotting area of a plotly chart (the studio's scatter starts in lasso
    mode): a closed path along the area's border, in small steps as a hand would draw it."""
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first
    area.wait_for(timeout=60_000)
    box = area.bounding_box()
    left, top = box["x"] + 3, box["y"] + 3
    right, bottom = box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top + 4)]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False):
        for step in range(1, 11):
            page.mouse.move(x0 + (x1 - x0) * step / 10, y0 + (y1 - y0) * step / 10)
    page.mouse.up()


def test_a_lasso_selection_becomes_a_slice_with_accuracy_and_intervals(
    server_url, browser, slices_kept_as_they_were
):
    """Router clusters: a lasso around every point lists the selected examples; saved as a slice, it is
    listed on the Slices page with each module's accuracy, n and 95% interval."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server_url}/clusters?checkpoint=iclm-tiny", wait_until="domcontentloaded")
    wait_for_title(page, "Router clusters")
    no_exception(page)
    chart = page.locator(".stPlotlyChart").first
    _lasso_around(page, chart)
    heading = page.get_by_role("heading", name="Selected examples")
    heading.wait_for(timeout=60_000)
    page.wait_for_function(DONE_JS, timeout=60_000)
    selected = int(heading.inner_text().split("(")[1].rstrip(")"))
    assert selected >= 2, heading.inner_text()
    name = page.get_by_label("Slice name")
    name.fill("lassoed in the browser")
    name.press("Enter")
    page.wait_for_function(DONE_JS, timeout=60_000)
    page.get_by_role("button", name=f"Save {selected} as a slice").click()
    page.get_by_text(f"Saved lassoed in the browser ({selected} examples)").wait_for(timeout=60_000)
    page.goto(f"{server_url}/slices?checkpoint=iclm-tiny", wait_until="domcontentloaded")
    wait_for_title(page, "Slices")
    no_exception(page)
    page.get_by_text("Error bars: 95% Wilson intervals").wait_for(timeout=60_000)
    page.locator(".stPlotlyChart").filter(has_text="lassoed in the browser").wait_for(timeout=60_000)
    page.wait_for_function(DONE_JS, timeout=60_000)
    with page.expect_download(timeout=120_000) as download:  # the accuracy figure's data, as exported
        page.get_by_role("button", name="CSV", exact=True).first.click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    ours = [r for r in rows if r["slice"] == "lassoed in the browser"]
    assert {"aggregated", "invariant"} <= {r["module"] for r in ours}, rows[:3]
    for r in ours:  # every module's accuracy over the selection, with n and a Wilson interval around it
        assert 0 < int(r["n"]) <= selected, r
        assert float(r["low"]) <= float(r["accuracy"]) <= float(r["high"]), r
        assert float(r["high"]) - float(r["low"]) > 0, r
    page.context.close()


def test_the_datapoint_editor_routes_predicts_and_places_an_edited_prompt(server_url, browser):
    """Predictions & attribution: editing the shown example's prompt routes the edited text, predicts it
    with every module beside the original and places both on the PCA map."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server_url}/predictions?checkpoint=iclm-tiny", wait_until="domcontentloaded")
    wait_for_title(page, "Predictions & attribution")
    no_exception(page)
    editor = page.get_by_label("Edited prompt")
    editor.wait_for(timeout=60_000)
    editor.fill(editor.input_value() + " Reworded: is the light on?")
    editor.press("Control+Enter")
    page.get_by_text("Route: domain_").wait_for(timeout=120_000)
    page.wait_for_function(DONE_JS, timeout=120_000)
    no_exception(page)
    route = page.get_by_text("Route: domain_").inner_text()
    assert "(moved)" in route or "(unchanged)" in route, route
    page.get_by_text("Squared distances to the codes").wait_for(timeout=10_000)
    page.locator(".stPlotlyChart").filter(has_text="The original and the edited prompt").wait_for(
        timeout=60_000
    )
    page.context.close()
