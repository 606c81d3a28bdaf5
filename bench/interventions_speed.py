"""The studio's dataset-sample interventions (`analysis.interventions.intervention_table`): an earlier
revision's against today's, same checkpoint and examples, in one run.

Each side runs in its own checkout (the earlier one in a temporary git worktree) with this checkout's virtual
environment; only `intervention_table` is timed (model loaded and warmed up first), with every standard
intervention of the checkpoint (6 for a K = 2 ICLM). The default `--before` is the last revision that ran each
intervention's module passes on its own and did not share an ACRE puzzle's context; the predictions of both
sides are compared.

    python bench/interventions_speed.py              # shipped iclm-k2, 16 ACRE symbolic + 16 ACRE text lines

Writes bench/results/interventions_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEFORE = "09d7488"

_SIDE = """
import json, sys, time, torch
checkpoint, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
import tempfile
from pathlib import Path
from iclm.data.generate import task_spec, write_task_file
from iclm.data.loader import load_examples
from iclm.model import ICLMForCausalLM
from analysis.interventions import intervention_table
folder, examples = Path(tempfile.mkdtemp()), []
for render in ("symbolic", "text"):
    spec = task_spec(task="acre", n=n, seed=0, render=render, split="iid", part="test")
    examples += load_examples(write_task_file(spec, folder / f"{spec.dataset}.jsonl")).examples
model = ICLMForCausalLM.from_pretrained(checkpoint).eval()
intervention_table(model, model.tokenizer, examples[:4])  # warm-up
start = time.perf_counter()
table = intervention_table(model, model.tokenizer, examples)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "examples": len(examples), "rows": len(table),
                  "interventions": sorted(set(table["intervention"])),
                  "predictions": table["prediction"].astype(str).tolist()}))
"""


def _side(tree: Path, checkpoint: str, threads: int, n: int) -> dict:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", _SIDE, checkpoint, str(threads), str(n)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"intervention_table failed in {tree}: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench.compare_revisions import _worktree

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--n", type=int, default=16, help="ACRE lines per rendering (4 per puzzle)")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = _worktree(args.before, Path(tmp))
        try:
            sides = {"before": _side(before, args.checkpoint, args.threads, args.n)}
            sides["today"] = _side(ROOT, args.checkpoint, args.threads, args.n)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           capture_output=True)  # fmt: skip
    results = {"checkpoint": args.checkpoint, "before": args.before, "threads": args.threads}
    for name, found in sides.items():
        results[name] = {k: found[k] for k in ("seconds", "examples", "rows", "interventions")}
        results[name]["examples_per_s"] = found["examples"] / found["seconds"]
    results["same_predictions"] = sides["before"]["predictions"] == sides["today"]["predictions"]
    results["ratio_today_vs_before"] = (
        results["today"]["examples_per_s"] / results["before"]["examples_per_s"]
    )
    out = ROOT / "bench" / "results" / "interventions_speed.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))  # noqa: T201 - the benchmark's product


if __name__ == "__main__":
    main()
