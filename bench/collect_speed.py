"""Analysis collection examples/s: today's `analysis.collect` against an earlier revision's, in one run.

The earlier implementation is read from git (`--before`, default the revision before collection ran in one
set of passes) and run on the same checkpoint and data; both artifacts are compared (routes, predictions,
pooled states) so the speed-up is for the same result.

    python bench/collect_speed.py                    # shipped iclm-k2, ACRE text + symbolic and RAVEN lines
    python bench/collect_speed.py --quick            # tiny backbone

Writes bench/results/collect_speed[-quick].json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEFORE = "a236b81"  # the last revision whose collect ran the modules twice per batch


def load_before(revision: str):
    """The `analysis.collect` module of `revision`, importable beside today's."""
    source = subprocess.run(
        ["git", "show", f"{revision}:analysis/collect.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "collect_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("analysis.collect_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def _files(root: Path, n: int) -> list[str]:
    from iclm.data.generate import task_spec, write_task_file

    files = []
    for task, render in (("acre", "symbolic"), ("acre", "text"), ("raven", "symbolic")):
        spec = task_spec(task=task, n=n, seed=0, render=render, split="iid", part="test")
        files.append(str(write_task_file(spec, root / f"{spec.dataset}.jsonl")))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--n", type=int, default=16, help="lines per file (3 files)")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import numpy as np
    import torch

    from analysis import collect as today
    from iclm.model import ICLMForCausalLM

    torch.set_num_threads(args.threads)
    before = load_before(args.before)
    if args.quick:
        from iclm.backbone import load_backbone
        from iclm.config import ICLMConfig

        config = ICLMConfig(backbone="tiny", num_domains=2)
        model = ICLMForCausalLM.from_config_and_backbone(config, load_backbone("tiny")).eval()
    else:
        model = ICLMForCausalLM.from_pretrained(args.checkpoint).eval()
    n = 8 if args.quick else args.n
    results: dict = {"checkpoint": "tiny" if args.quick else args.checkpoint, "before": args.before}
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp), n)
        artifacts = {}
        for name, module in (("before", before), ("today", today)):
            start = time.perf_counter()
            artifacts[name] = module.collect(model, files, Path(tmp) / name, forced_sample=8, progress=False)
            seconds = time.perf_counter() - start
            count = len(artifacts[name].examples)
            results[name] = {"seconds": seconds, "examples": count, "examples_per_s": count / seconds}
    a, b = artifacts["before"], artifacts["today"]
    columns = [c for c in a.examples.columns if c.startswith(("route", "pred_", "correct_"))]
    results["same_routes_and_predictions"] = bool(a.examples[columns].equals(b.examples[columns]))
    results["max_state_difference"] = {
        key: float(np.abs(a.states[key] - b.states[key]).max()) for key in a.states if key != "forced_index"
    }
    results["ratio_today_vs_before"] = (
        results["today"]["examples_per_s"] / results["before"]["examples_per_s"]
    )
    out = ROOT / "bench" / "results" / ("collect_speed-quick.json" if args.quick else "collect_speed.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
