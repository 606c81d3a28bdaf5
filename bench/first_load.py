"""Time to the studio's first page in headless Chromium, and where the first script run spends it.

`bench/app_latency.py` measures a whole session; this one isolates the first load of a fresh server, the
number that moved most across the redesign: server start to /_stcore/health, page open to the Overview
heading, and to the end of the run, plus the number of script runs. `--trees` times other checkouts of the
project (e.g. a worktree of an older revision) against the same checkpoints, alternating, in one run.

    python bench/first_load.py                                 # this checkout, 3 loads
    git worktree add /tmp/old 17123dd^ && python bench/first_load.py --trees /tmp/old . --repeats 2

Writes bench/results/first_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import CHROMIUM, CHROMIUM_ARGS, free_port, start_server  # noqa: E402

DONE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
             && !document.querySelector('[data-testid="stSkeleton"]')"""


def load_once(tree: Path, checkpoints: Path) -> dict[str, float]:
    """One fresh server of `tree` and one browser load of its first page."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="first-load-")) / "server.log"
    started = time.perf_counter()
    server = start_server(checkpoints, port, tree=tree, debug_log=log)
    try:
        health = time.perf_counter() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            opened = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}", wait_until="domcontentloaded")
            page.get_by_role("heading", level=1).filter(has_text="Overview").first.wait_for(timeout=300_000)
            heading = time.perf_counter() - opened
            page.wait_for_timeout(150)  # let streamlit show its running indicator if the run goes on
            page.wait_for_function(DONE, timeout=300_000)
            done = time.perf_counter() - opened
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    runs = sum("Beginning script thread" in line for line in log.read_text(errors="replace").splitlines())
    return {"health_s": health, "heading_s": heading, "done_s": done, "script_runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trees", nargs="+", type=Path, default=[ROOT], help="checkouts to time (default: this)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "first_load.json")
    args = parser.parse_args()
    found: dict[str, list[dict[str, float]]] = {str(t): [] for t in args.trees}
    for repeat in range(args.repeats):
        for tree in args.trees if repeat % 2 == 0 else args.trees[::-1]:
            timing = load_once(tree.resolve(), args.checkpoints.resolve())
            found[str(tree)].append(timing)
            print(tree, " ".join(f"{k} {v:.2f}" for k, v in timing.items()), flush=True)
    result = {
        "checkpoints": str(args.checkpoints),
        "loads": found,
        "median_done_s": {tree: statistics.median(t["done_s"] for t in runs) for tree, runs in found.items()},
        "load_average_1min": os.getloadavg()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["median_done_s"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
