"""`analysis.attribution.attribute` alone, in one process, on the prompt bench/app_latency.py times through
the studio: what of the browser's "gradient x input, all modules" figure is the attribution itself and what is
the page around it. Writes bench/results/attribution_alone.json and prints it.

    python bench/attribution_alone.py                       # checkpoints/iclm-k2, 250 tokens, 3 runs each
    python bench/attribution_alone.py --checkpoint checkpoints/baseline --repeats 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "iclm-k2")
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attribution_alone.json")
    args = parser.parse_args()
    import torch

    from analysis.attribution import attribute
    from bench.app_latency import prompt_of
    from iclm.model import ICLMForCausalLM

    torch.set_num_threads(args.threads)
    model = ICLMForCausalLM.from_pretrained(args.checkpoint)
    prompt = prompt_of(args.checkpoint, args.tokens)
    runs: dict[str, list[float]] = {}
    for precision in ("fp32", "bf16 autocast"):  # the studio's live default on a CPU with bf16 is autocast
        for _ in range(args.repeats + 1):  # the first run warms up and is dropped
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "fp32"):
                result = attribute(model, model.tokenizer, prompt, method="input_x_gradient")
            runs.setdefault(precision, []).append(time.perf_counter() - start)
        runs[precision] = runs[precision][1:]
    report = {
        "checkpoint": args.checkpoint.name,
        "tokens": args.tokens,
        "method": "input_x_gradient, every readout, each readout's own top token",
        "readouts": sorted(result.frame["module"].unique().tolist()),
        "seconds": runs,
        "median_s": {k: statistics.median(v) for k, v in runs.items()},
        "threads": args.threads,
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
