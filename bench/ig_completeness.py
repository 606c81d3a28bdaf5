"""Integrated gradients' completeness error against its step count on a shipped checkpoint.

For one analysed example per task family (the first of each dataset group below, from the checkpoint's
analysis artifact), every readout's gold-answer log-probability is attributed with integrated gradients
(scaled baseline by default, first token kept, Gauss-Legendre) at each step count; the error |sum of
attributions - (f(x) - f(baseline))| is reported relative to f(x) - f(baseline). The studio's default
step count (`analysis.attribution.DEFAULT_IG_STEPS`) is the smallest that keeps the worst readout under 5%
here.
Writes bench/results/ig_completeness.json.

    OMP_NUM_THREADS=1 python bench/ig_completeness.py                   # checkpoints/iclm-k2
    python bench/ig_completeness.py --checkpoint checkpoints/baseline --steps 16 64
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ("acre-symbolic-iid", "acre-text-iid")  # ~130 and ~200 tokens; raven prompts (300-1200) cost hours
#: A free prompt too: the issue's example, where the answer follows without a space in the prompt.
FREE = {"id": "free:france", "dataset": "free prompt", "prompt": "The capital of France is", "gold": "Paris"}


def _examples(folder: Path, datasets, max_chars: int):
    import pandas as pd

    frame = pd.read_parquet(folder / "analysis" / "examples.parquet")
    picked = []
    for dataset in datasets:
        rows = frame[(frame["dataset"] == dataset) & (frame["prompt"].str.len() <= max_chars)]
        if len(rows):
            picked.append(rows.iloc[0])
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--baseline", default="scaled", choices=["scaled", "pad", "zeros"])
    parser.add_argument("--max-chars", type=int, default=1000, help="skip longer prompts (CPU time)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ig_completeness.json"))
    args = parser.parse_args()

    import torch

    from analysis.attribution import CompletenessWarning, attribute
    from iclm.model import ICLMForCausalLM

    torch.manual_seed(0)
    folder = Path(args.checkpoint)
    model = ICLMForCausalLM.from_pretrained(str(folder)).eval()
    model.name_or_path = str(folder)
    rows = []
    for example in [FREE, *_examples(folder, DATASETS, args.max_chars)]:
        for steps in args.steps:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CompletenessWarning)
                result = attribute(
                    model, model.tokenizer, example["prompt"], method="integrated_gradients",
                    target=str(example["gold"]), n_steps=steps, internal_batch_size=8, baseline=args.baseline,
                )  # fmt: skip
            seconds = time.perf_counter() - start
            for module, target in result.targets.items():
                rows.append(
                    {
                        "id": example["id"], "dataset": example["dataset"], "tokens": len(result.tokens),
                        "steps": steps, "readout": module, "logprob": target.logprob,
                        "explained": target.explained, "delta": target.delta,
                        "relative_delta": target.relative_delta, "seconds": seconds,
                    }
                )  # fmt: skip
            worst = max(t.relative_delta for t in result.targets.values())
            print(
                f"{example['dataset']:<32} {steps:>4} steps  worst {100 * worst:6.2f}%  {seconds:6.1f} s",
                flush=True,
            )
    worst_by_steps = {
        steps: max(r["relative_delta"] for r in rows if r["steps"] == steps) for steps in args.steps
    }
    report = {
        "checkpoint": str(folder),
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()},
        "method": f"integrated_gradients, {args.baseline} baseline (first token kept), gausslegendre, "
        "gold answer (whole, in context)",
        "worst_relative_delta_by_steps": worst_by_steps,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(worst_by_steps, indent=1))


if __name__ == "__main__":
    main()
