"""The studio's live model work without Streamlit: what `bench/app_latency.py` measures minus the app.

On the shipped checkpoint (default iclm-k2) and a 250-token prompt, times `predict_all_modules` (3 choices)
and gradient x input attribution of every readout, in fp32 and bf16 autocast, on the main thread and on a
fresh thread (Streamlit runs every rerun in a fresh thread). Each is run `--repeats` times; all timings are
kept. Writes bench/results/live_model.json.

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


def _timings(model, prompt: str, precision: str, repeats: int) -> dict[str, list[float]]:
    from analysis.attribution import attribute
    from analysis.module_predictions import predict_all_modules
    from analysis.precision import autocast

    out: dict[str, list[float]] = {"predict_all_modules_s": [], "input_x_gradient_all_s": []}
    for _ in range(repeats):
        with autocast("cpu", precision):
            start = time.perf_counter()
            predict_all_modules(model, model.tokenizer, prompt, ["on", "off", "undetermined"])
            out["predict_all_modules_s"].append(round(time.perf_counter() - start, 3))
            start = time.perf_counter()
            attribute(model, model.tokenizer, prompt, method="input_x_gradient")
            out["input_x_gradient_all_s"].append(round(time.perf_counter() - start, 3))
    return out


def _on_fresh_thread(fn, *args):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn(*args)))
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

    from iclm.model import ICLMForCausalLM

    folder = Path(args.checkpoint)
    model = ICLMForCausalLM.from_pretrained(str(folder)).eval()
    prompt = prompt_of(folder, args.tokens)
    report = {
        "benchmark": "live_model",
        "checkpoint": folder.name,
        "prompt_tokens": args.tokens,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "runs": {},
    }
    for precision in ("fp32", "bf16"):
        report["runs"][f"{precision} main thread"] = _timings(model, prompt, precision, args.repeats)
        report["runs"][f"{precision} fresh thread"] = _on_fresh_thread(
            _timings, model, prompt, precision, args.repeats
        )
        for name in (f"{precision} main thread", f"{precision} fresh thread"):
            print(name, report["runs"][name], flush=True)
    report["load_average_1min"] = os.getloadavg()[0]
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
