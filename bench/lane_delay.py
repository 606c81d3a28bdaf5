"""What a running studio job adds to a live prompt on the model lane alone, without a browser or a page.

`bench/app_latency.py` measures the two-session case through Chromium (session A's integrated gradients
job, session B's 250-token prompt); this one times only B's model work (`studio.live.run_prompts` through
`studio.torch_lane`, as the Custom prompts page calls it) alone and beside A's job (`attribute` with 512
integrated-gradients steps, one point a step, as the studio runs it), in one process. The difference
between the two benches is the page work outside the lane.

    python bench/lane_delay.py            # shipped iclm-k2, bf16 (the sidebar's default here), 3 + 3 runs

Writes bench/results/lane_delay.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from analysis.attribution import attribute
    from analysis.precision import autocast, default_precision, store_linear_weights_in_bf16
    from bench.app_latency import prompt_of
    from iclm.data.examples import Example
    from iclm.model import ICLMForCausalLM
    from studio import torch_lane
    from studio.attribution_view import LIVE_IG_BATCH
    from studio.jobs import JobRegistry
    from studio.live import run_prompts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "iclm-k2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lane_delay.json")
    args = parser.parse_args()
    precision = default_precision("cpu")
    model = ICLMForCausalLM.from_pretrained(str(args.checkpoint)).eval()
    if precision == "bf16":
        store_linear_weights_in_bf16(model)
    prompt = prompt_of(args.checkpoint, 250)
    examples = [Example("b", prompt + " again", "", None, "custom", "iid")]

    def request():
        with autocast("cpu", precision):
            return run_prompts(model, model.tokenizer, examples)

    def timed() -> float:
        started = time.perf_counter()
        torch_lane.run(request)
        return time.perf_counter() - started

    timed()  # warm-up: the first pass pays set-up
    alone = [timed() for _ in range(args.repeats)]

    def integrated_gradients(progress):
        with autocast("cpu", precision):
            return attribute(model, model.tokenizer, prompt, method="integrated_gradients", n_steps=512,
                             internal_batch_size=LIVE_IG_BATCH, progress=progress)  # fmt: skip

    job = JobRegistry().submit("integrated gradients", "IG", integrated_gradients)
    while job.done < 3:
        time.sleep(0.05)
    beside = []
    for _ in range(args.repeats):
        time.sleep(1.0)  # a request arrives at some point of the job's step
        beside.append(timed())
    still_running = not job.finished
    job.cancel()
    job.wait(30)
    result = {
        "checkpoint": args.checkpoint.name,
        "precision": precision,
        "threads": torch.get_num_threads(),
        "prompt_alone_s": alone,
        "prompt_beside_job_s": beside,
        "added_median_s": statistics.median(beside) - statistics.median(alone),
        "job_still_running": still_running,
        "load_average_1min": os.getloadavg()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
