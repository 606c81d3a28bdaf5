"""Analysis collection examples/s: today's `analysis.collect` against an earlier revision's, in one run.

Each side runs in its own checkout (the earlier revision in a temporary git worktree, `--before`, default the
last revision whose collect ran the modules twice per batch; today's is this working tree) with this
checkout's virtual environment, on the same checkpoint and data files, and only `collect` is timed (the model
is loaded first). Both artifacts are then compared (routes, predictions, pooled states) so the speed-up is
for the same result. With `--repeats 2` the sides alternate (A B B A) so a noisy machine slows both alike.

    python bench/collect_speed.py --n 12             # shipped iclm-k2, ACRE text + symbolic and RAVEN lines
    python bench/collect_speed.py --quick            # tiny backbone (saved once, loaded by both sides)

Writes bench/results/collect_speed[-quick].json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEFORE = "a236b81"  # the last revision whose collect ran the modules twice per batch

# Run inside a checkout (its own code first on sys.path): load, time collect only, print one JSON line.
_SIDE = """
import json, sys, time
import torch
checkpoint, out, threads, precision = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
files = sys.argv[5:]
torch.set_num_threads(threads)
options = {} if precision == "-" else {"precision": precision}
from analysis.collect import collect
from iclm.model import ICLMForCausalLM
model = ICLMForCausalLM.from_pretrained(checkpoint).eval()
start = time.perf_counter()
artifact = collect(model, files, out, forced_sample=8, progress=False, **options)
print(json.dumps({"seconds": time.perf_counter() - start, "examples": len(artifact.examples)}))
"""


def _files(root: Path, n: int) -> list[str]:
    from iclm.data.generate import task_spec, write_task_file

    files = []
    for task, render, where in (
        ("acre", "symbolic", {"split": "iid"}),
        ("acre", "text", {"split": "iid"}),
        ("raven", "symbolic", {"config": "center_single"}),
    ):
        spec = task_spec(task=task, n=n, seed=0, render=render, part="test", **where)
        files.append(str(write_task_file(spec, root / f"{spec.dataset}.jsonl")))
    return files


def _tiny_checkpoint(folder: Path) -> str:
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_config_and_backbone(
        ICLMConfig(backbone="tiny", num_domains=2), load_backbone("tiny")
    )
    model.save_pretrained(str(folder))
    return str(folder)


def _run_side(tree: Path, checkpoint: str, out: Path, threads: int, precision: str, files: list[str]) -> dict:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", _SIDE, checkpoint, str(out), str(threads), precision, *files]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"collect failed in {tree}: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(before: Path, today: Path) -> dict:
    """Same routes and predictions (and how many rows differ per column), and the largest difference of each
    pooled state (float16 on disk)."""
    import numpy as np
    import pandas as pd
    from safetensors.numpy import load_file

    a, b = (pd.read_parquet(p / "examples.parquet") for p in (before, today))
    columns = [c for c in a.columns if c.startswith(("route", "pred_", "correct_"))]
    sa, sb = (load_file(str(p / "states.safetensors")) for p in (before, today))
    differing = {
        c: int((a[c].astype("string").fillna("") != b[c].astype("string").fillna("")).sum()) for c in columns
    }
    return {
        "same_routes_and_predictions": bool(a[columns].equals(b[columns])),
        "rows_differing": {c: count for c, count in differing.items() if count},
        "rows": len(a),
        "max_state_difference": {
            key: float(np.abs(sa[key].astype(np.float32) - sb[key].astype(np.float32)).max())
            for key in sa
            if key != "forced_index"
        },
    }


def main() -> None:
    from bench.compare_revisions import _worktree

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--n", type=int, default=16, help="lines per file (3 files)")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating A B B A ...")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="also time today's collect with precision='bf16'")
    args = parser.parse_args()
    n = 8 if args.quick else args.n
    results: dict = {"checkpoint": "tiny" if args.quick else args.checkpoint, "before": args.before,
                     "threads": args.threads, "lines_per_file": n}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        before = _worktree(args.before, scratch)
        sides = {"before": (before, "-"), "today": (ROOT, "fp32")}  # side -> (checkout, precision)
        if args.bf16:
            sides["today_bf16"] = (ROOT, "bf16")
        try:
            checkpoint = _tiny_checkpoint(scratch / "tiny") if args.quick else args.checkpoint
            files = _files(scratch, n)
            runs: dict[str, list[dict]] = {side: [] for side in sides}
            names = list(sides)
            order = [names if r % 2 == 0 else names[::-1] for r in range(args.repeats)]
            for repeat, ordered in enumerate(order):
                for side in ordered:
                    tree, precision = sides[side]
                    out = scratch / f"{side}-{repeat}"
                    runs[side].append(_run_side(tree, checkpoint, out, args.threads, precision, files))
                    print(f"{side:10s} {runs[side][-1]['seconds']:7.1f} s", flush=True)
            results |= _compare(scratch / "before-0", scratch / "today-0")
            if args.bf16:
                results["today_bf16_vs_today"] = _compare(scratch / "today-0", scratch / "today_bf16-0")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           capture_output=True)  # fmt: skip
    for side, found in runs.items():
        seconds = statistics.median(r["seconds"] for r in found)
        count = found[0]["examples"]
        results[side] = {"seconds": [r["seconds"] for r in found], "examples": count,
                         "examples_per_s": count / seconds}  # fmt: skip
    for side in runs:
        if side != "before":
            ratio = results[side]["examples_per_s"] / results["before"]["examples_per_s"]
            results[f"ratio_{side}_vs_before"] = ratio
    out = ROOT / "bench" / "results" / ("collect_speed-quick.json" if args.quick else "collect_speed.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))  # noqa: T201 - the benchmark's product


if __name__ == "__main__":
    main()
