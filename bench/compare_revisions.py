"""Wall time of the same evaluation and analysis commands at two git revisions, interleaved in one run.

A refactor must leave the engine no slower. Each revision is checked out into its own temporary worktree and
run with this checkout's virtual environment (the working directory comes first on `sys.path`, so each side
imports its own code); the commands alternate A, B, A, B, ... so that a noisy shared machine slows both sides
alike, and the JSON reports every timing and the median ratio.

    python bench/compare_revisions.py b18c17c HEAD                 # evaluate + analyze on iclm-k2
    python bench/compare_revisions.py b18c17c HEAD --repeats 3 --limit 2
    python bench/compare_revisions.py 17123dd^ HEAD --app         # the studio, each side its app_latency.py

With `--app` each side runs its own `bench/app_latency.py` (a real browser, the same shipped checkpoints) and
the JSON compares what both sides measure: first render, page switch (slowest and median over the pages both
have), the 250-token custom prompt and gradient x input attribution.

The data: a small `data mix` (configs/experiment/data-probe.yaml's test files, --limit lines each), built
once with revision B's generator. Writes bench/results/compare_revisions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _worktree(revision: str, parent: Path) -> Path:
    target = parent / revision.replace("/", "_")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(target), revision], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    return target


def _analyze_command(tree: Path) -> list[str]:
    """`python -m analysis analyze` where the revision has it, else the engine's older `iclm analyze`."""
    module = "analysis" if (tree / "analysis" / "__main__.py").is_file() else "iclm"
    return [PYTHON, "-m", module, "analyze"]


def _commands(tree: Path, data: Path, out: Path, limit: int, checkpoint: str) -> dict[str, list[str]]:
    folder = str(ROOT / "checkpoints" / checkpoint)  # the same weights for both sides
    common = ["--data", str(data), "--limit", str(limit)]
    return {
        "evaluate": [PYTHON, "-m", "iclm", "evaluate", folder, *common, "--out", str(out / "eval")],
        "analyze": [*_analyze_command(tree), folder, *common, "--out", str(out / "analyze"), "--no-progress"],
    }


def _timed(command: list[str], cwd: Path, threads: int) -> float:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(cwd)}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(command[:5])} failed in {cwd}: {tail[0]}")
    return seconds


APP_METRICS = ("first_render_s", "custom_prompt_s", "attribution_s")


def _app_latency(tree: Path, out: Path, threads: int) -> dict[str, float]:
    """One run of the revision's own bench/app_latency.py -> the measures both revisions have."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(tree),
                        "ICLM_CHECKPOINTS_DIR": str(ROOT / "checkpoints")}  # fmt: skip
    done = subprocess.run([PYTHON, "bench/app_latency.py", "--out", str(out)], cwd=tree, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"bench/app_latency.py failed in {tree}: {tail[0]}")
    found = json.loads(out.read_text(encoding="utf-8"))
    return {name: found[name] for name in APP_METRICS} | {"page_switch_each_s": found["page_switch_each_s"]}


def _app_summary(runs: list[dict], pages: set[str]) -> dict[str, list[float]]:
    """Per measure, one value per run; page switches over the pages both revisions have."""
    summary = {name: [run[name] for run in runs] for name in APP_METRICS}
    summary["page_switch_max_s"] = [max(run["page_switch_each_s"][p] for p in pages) for run in runs]
    summary["page_switch_median_s"] = [
        statistics.median(run["page_switch_each_s"][p] for p in pages) for run in runs
    ]
    return summary


def _compare_app(trees: dict[str, Path], scratch: Path, repeats: int, threads: int) -> dict[str, dict]:
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for repeat in range(repeats):
        for side in ("before", "after") if repeat % 2 == 0 else ("after", "before"):
            found = _app_latency(trees[side], scratch / f"app-{side}-{repeat}.json", threads)
            runs[side].append(found)
            print(f"{side:6s} " + " ".join(f"{k} {found[k]:.2f}" for k in APP_METRICS), flush=True)
    pages = set(runs["before"][0]["page_switch_each_s"]) & set(runs["after"][0]["page_switch_each_s"])
    return {side: _app_summary(found, pages) for side, found in runs.items()} | {"pages": sorted(pages)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="revision A (e.g. the commit before a refactor)")
    parser.add_argument("after", help="revision B (e.g. HEAD)")
    parser.add_argument("--checkpoint", default="iclm-k2", help="shipped checkpoint folder name")
    parser.add_argument("--limit", type=int, default=2, help="lines per test file (12 files)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--app", action="store_true", help="compare the studio's latency instead")
    parser.add_argument("--out", type=Path, help="default bench/results/compare_revisions[_app].json")
    args = parser.parse_args()
    name = "compare_revisions_app.json" if args.app else "compare_revisions.json"
    args.out = args.out or ROOT / "bench" / "results" / name
    scratch = Path(tempfile.mkdtemp(prefix="compare-revisions-"))
    trees = {"before": _worktree(args.before, scratch), "after": _worktree(args.after, scratch)}
    try:
        if args.app:
            return _write_app(args, _compare_app(trees, scratch, args.repeats, args.threads))
        data = scratch / "data"
        mix = [PYTHON, "-m", "iclm", "data", "mix", "configs/experiment/data-probe.yaml", "-o", str(data)]
        env = os.environ | {"PYTHONPATH": str(trees["after"])}
        subprocess.run(mix, cwd=trees["after"], check=True, capture_output=True, env=env)
        timings: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        for repeat in range(args.repeats):
            for side in ("before", "after") if repeat % 2 == 0 else ("after", "before"):
                out = scratch / f"out-{side}-{repeat}"
                for name, command in _commands(trees[side], data, out, args.limit, args.checkpoint).items():
                    seconds = _timed(command, trees[side], args.threads)
                    timings[side].setdefault(name, []).append(seconds)
                    print(f"{side:6s} {name:8s} {seconds:7.1f} s", flush=True)
        return _write(args, timings, {"checkpoint": args.checkpoint, "lines_per_test_file": args.limit})
    finally:
        for tree in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def _write_app(args: argparse.Namespace, found: dict) -> int:
    pages = found.pop("pages")
    return _write(args, found, {"pages_compared": pages})


def _commit(revision: str) -> str:
    done = subprocess.run(["git", "rev-parse", revision], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or revision


def _write(args: argparse.Namespace, seconds: dict[str, dict[str, list[float]]], extra: dict) -> int:
    """The JSON: both revisions, every timing per side and measure, and the median ratio after / before."""
    result = {
        "revisions": {"before": args.before, "after": args.after},
        "commits": {"before": _commit(args.before), "after": _commit(args.after)},  # what HEAD etc. named
        "threads": args.threads,
        **extra,
        "seconds": seconds,
        "median_ratio_after_over_before": {
            name: statistics.median(seconds["after"][name]) / statistics.median(seconds["before"][name])
            for name in seconds["after"]
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(result["median_ratio_after_over_before"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
