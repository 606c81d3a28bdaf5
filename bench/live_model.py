"""The studio's live model work without Streamlit: what `bench/app_latency.py` measures minus the app.

On the shipped checkpoint (default iclm-k2) and a 250-token prompt, times `predict_all_modules` (3 choices)
and gradient x input attribution of every readout, `--repeats` times each, in three numeric set-ups:
fp32; bf16 autocast over fp32 weights; bf16 autocast over Linear weights stored in bf16 (what the studio
loads for bf16, `analysis.precision.store_linear_weights_in_bf16`). And on three kinds of thread:
- "lane": `studio.torch_lane`, a fresh thread per job while no other thread holds an OpenMP team (what the
  studio does; the model is loaded on the lane too, so these run first);
- "main thread": the process's main thread, which then keeps its OpenMP team;
- "fresh thread beside an idle team": a fresh thread per job while the main thread's team lives on (what
  Streamlit's pooled script threads did before the lane).
Writes bench/results/live_model.json.

    python bench/live_model.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def _timings(model, prompt: str, precision: str, repeats: int, run) -> dict[str, list[float]]:
    """Each job goes through `run` (the lane, a fresh thread, or directly on this thread)."""
    from analysis.attribution import attribute
    from analysis.module_predictions import predict_all_modules
    from analysis.precision import autocast

    def timed(work):
        def job():
            with autocast("cpu", precision):  # thread-local: entered on the thread that does the work
                start = time.perf_counter()
                work()
                return round(time.perf_counter() - start, 3)

        return run(job)

    out: dict[str, list[float]] = {"predict_all_modules_s": [], "input_x_gradient_all_s": []}
    for _ in range(repeats):
        out["predict_all_modules_s"].append(
            timed(lambda: predict_all_modules(model, model.tokenizer, prompt, ["on", "off", "undetermined"]))
        )
        out["input_x_gradient_all_s"].append(
            timed(lambda: attribute(model, model.tokenizer, prompt, method="input_x_gradient"))
        )
    return out


def _on_fresh_thread(job):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", job()))
    thread.start()
    thread.join()
    return box["result"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "live_model.json")
    args = parser.parse_args()

    import torch
    from app_latency import prompt_of

    from analysis.precision import store_linear_weights_in_bf16
    from iclm.model import ICLMForCausalLM
    from studio import torch_lane

    folder = Path(args.checkpoint)

    def load(bf16_weights: bool):
        model = ICLMForCausalLM.from_pretrained(str(folder)).eval()
        return store_linear_weights_in_bf16(model) if bf16_weights else model

    models = {False: torch_lane.run(load, False), True: torch_lane.run(load, True)}
    setups = {  # name: (precision, Linear weights stored in bf16)
        "fp32": ("fp32", False),
        "bf16 autocast, fp32 weights": ("bf16", False),
        "bf16 autocast, bf16 Linear weights": ("bf16", True),
    }
    prompt = prompt_of(folder, args.tokens)
    report = {
        "benchmark": "live_model",
        "checkpoint": folder.name,
        "prompt_tokens": args.tokens,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "runs": {},
    }
    threads = {  # in this order: the lane needs a process where no other thread has run torch yet
        "lane": torch_lane.run,
        "main thread": lambda job: job(),
        "fresh thread beside an idle team": _on_fresh_thread,
    }
    for thread_name, run in threads.items():
        for setup, (precision, bf16_weights) in setups.items():
            name = f"{setup} / {thread_name}"
            report["runs"][name] = _timings(models[bf16_weights], prompt, precision, args.repeats, run)
            print(name, report["runs"][name], flush=True)
    report["load_average_1min"] = os.getloadavg()[0]
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
