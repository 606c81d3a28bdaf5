"""Cost of the model-dependent analysis: artifact collection, projections, attribution, per-module prediction.

Writes JSON to bench/results/analysis[-quick].json and prints it.

    python bench/analysis.py            # smollm2-135m (an untrained ICLM, K=2), 2 threads
    python bench/analysis.py --quick    # tiny backbone, seconds
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _model(backbone: str, num_domains: int):
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    config = ICLMConfig(backbone=backbone, num_domains=num_domains)
    return ICLMForCausalLM.from_config_and_backbone(config, load_backbone(backbone)).eval()


def _data(root: Path, n: int) -> list[str]:
    from iclm.data.generate import task_spec, write_task_file

    files = []
    for task, split in (("acre", "iid"), ("pvr", "holdout")):
        spec = task_spec(task=task, n=n // 2, seed=0, render="symbolic", split=split, part="test")
        files.append(str(write_task_file(spec, root / f"{spec.dataset}.jsonl")))
    return files


def _prompt(tokenizer, tokens: int) -> str:
    """A prompt of about `tokens` tokens (ACRE-like text, cut at the token level)."""
    text = " ".join(
        f"Object {i} is a red metal cube; the machine lights up when it is on the panel." for i in range(200)
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: tokens - 1]
    return tokenizer.decode(ids) + "\nIs the blicket"


def _timed(fn, repeats: int = 1) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_collect(model, files: list[str], n: int) -> dict:
    from analysis.collect import collect

    with tempfile.TemporaryDirectory() as out:
        seconds = _timed(lambda: collect(model, files, Path(out) / "a", forced_sample=8, progress=False))
    return {"examples": n, "forced_sample": 8, "seconds": seconds, "examples_per_s": n / seconds}


def _collect_section(model, n: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        return bench_collect(model, _data(Path(root), n), n)


def bench_projection(hidden: int) -> dict:
    import numpy as np

    try:
        from analysis.projection import project
    except ImportError:
        return {"skipped": "analysis.projection not available"}
    found = {}
    rng = np.random.default_rng(0)
    for n in (2_000, 20_000):
        x = rng.standard_normal((n, hidden)).astype(np.float32)
        for method in ("pca", "umap"):
            found[f"{method}_{n}_s"] = _timed(lambda x=x, m=method: project(x, m, seed=0))
    return found


def bench_attribution(model, prompt: str, n_steps: int) -> dict:
    from analysis.attribution import attribute

    tokenizer = model.tokenizer
    modules = ["aggregated", *model.module_names]
    ixg = _timed(lambda: attribute(model, tokenizer, prompt, method="input_x_gradient"))
    ig = _timed(
        lambda: attribute(
            model, tokenizer, prompt, method="integrated_gradients", n_steps=n_steps, modules=["invariant"]
        )
    )
    return {
        "modules": modules,
        "input_x_gradient_all_modules_s": ixg,
        "input_x_gradient_per_module_s": ixg / len(modules),
        "integrated_gradients_n_steps": n_steps,
        "integrated_gradients_per_module_s": ig,
    }


def bench_predict_all(model, prompt: str) -> dict:
    from analysis.interventions import predict_all_modules

    tokenizer = model.tokenizer
    predict_all_modules(model, tokenizer, prompt)  # warm-up
    free = _timed(lambda: predict_all_modules(model, tokenizer, prompt), repeats=3)
    choices = ("on", "off", "undetermined")
    chosen = _timed(lambda: predict_all_modules(model, tokenizer, prompt, choices), repeats=3)
    return {"no_choices_s": free, "three_choices_s": chosen, "target_s": 2.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny backbone")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--examples", type=int, default=None, help="examples collected (default 32; quick 16)"
    )
    parser.add_argument("--n-steps", type=int, default=16, help="integrated-gradients steps")
    parser.add_argument("--prompt-tokens", type=int, default=250)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    backbone = "tiny" if args.quick else "smollm2-135m"
    n = args.examples or (16 if args.quick else 32)
    model = _model(backbone, num_domains=2)
    prompt = _prompt(model.tokenizer, args.prompt_tokens)
    prompt_tokens = len(model.tokenizer(prompt)["input_ids"])
    hidden = model.base.config.get_text_config().hidden_size
    out = ROOT / "bench" / "results" / ("analysis-quick.json" if args.quick else "analysis.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "backbone": backbone,
        "num_domains": 2,
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "prompt_tokens": prompt_tokens,
    }
    sections = {  # cheapest first; the file is rewritten after each, so a cut-off run keeps what it measured
        "predict_all_modules": lambda: bench_predict_all(model, prompt),
        "attribution": lambda: bench_attribution(model, prompt, args.n_steps),
        "collect": lambda: _collect_section(model, n),
        "projection": lambda: bench_projection(hidden),
    }
    for name, run in sections.items():
        results[name] = run()
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))  # noqa: T201 - the benchmark's product
    return 0


if __name__ == "__main__":
    sys.exit(main())
