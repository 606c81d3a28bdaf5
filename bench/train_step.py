"""Training-step cost of an ICLM versus a single-LoRA baseline (issue: engine benchmark).

Each configuration runs in its own subprocess so that its peak RSS is its own. A step is what
`ICLMTrainer` runs: forward with `loss_only=True` (LM heads at the answer positions only), backward,
AdamW. Routing is oracle with balanced domain ids (example i -> domain i mod K): the worst case for sparse
dispatch, which then runs one domain pass per module. The oracle needs no router pass, and neither does a
learned router once its embeddings are cached (`RouterEmbeddingCache`, from the second epoch on); the
extra row "router pass" adds the frozen base's no-grad pass a learned router pays in its first epoch.
Targets are checked against DESIGN's single-LoRA step (the HF model + peft, its own loss: what DESIGN's
reference figure measured) and, stricter, against the engine's own single-LoRA variant, which like ICLM
projects only answer positions onto the vocabulary. Two rows show activation recomputation
(`ICLMConfig.recompute`): ICLM recomputing its invariant pass, and the engine baseline recomputing its pass.
Writes JSON to bench/results/train_step[-quick][-BxT].json and prints a table.

    python bench/train_step.py                      # smollm2-135m, batch 8 x 256
    python bench/train_step.py --batch 4 --seq 128  # the DESIGN comparison point
    python bench/train_step.py --quick              # tiny backbone, seconds
    python bench/train_step.py --bf16               # bf16 autocast (training.bf16: true)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# rows the ratios read (a misspelt name would only fail after the whole run)
PLAIN_PEFT = "plain peft LoRA (HF model, full logits)"
ENGINE_BASELINE = "baseline (single LoRA)"
SPARSE_K4 = "ICLM sparse K=4"
RECOMPUTE_INVARIANT = "ICLM sparse K=4, recompute=invariant"
RECOMPUTE_SHARE = "ICLM sparse K=4, recompute=invariant, share 2/3"
BASELINE_RECOMPUTED = "baseline (single LoRA), recompute=all"


@dataclass(frozen=True)
class Configuration:
    """One row: `router_pass` adds the frozen base's no-grad pass every step; `recompute` is ICLMConfig's."""

    name: str
    variant: str
    num_domains: int
    execution: str = "sparse"
    router_pass: bool = False
    recompute: str = "none"
    recompute_share: float = 1.0


CONFIGURATIONS: list[Configuration] = [
    Configuration(PLAIN_PEFT, "peft", 1),
    Configuration(ENGINE_BASELINE, "baseline", 1),
    Configuration("ICLM sparse K=2", "iclm", 2),
    Configuration(SPARSE_K4, "iclm", 4),
    Configuration("ICLM sparse K=8", "iclm", 8),
    Configuration("ICLM dense K=4", "iclm", 4, execution="dense"),
    Configuration("ICLM sparse K=4 + router pass", "iclm", 4, router_pass=True),
    Configuration(RECOMPUTE_INVARIANT, "iclm", 4, recompute="invariant"),
    # a share sized so the kept activations fit DESIGN's 1.3x memory against the engine's own baseline
    Configuration(RECOMPUTE_SHARE, "iclm", 4, recompute="invariant", recompute_share=2 / 3),
    Configuration(BASELINE_RECOMPUTED, "baseline", 1, recompute="all"),
]


# what a worker prints (its JSON line), copied into StepResult
MEASURED = (
    "seconds_per_step",
    "cpu_seconds_per_step",
    "peak_rss_gib",
    "saved_activations_gib",
    "saved_weights_gib",
    "loss",
)


@dataclass(frozen=True, kw_only=True)
class StepResult(Configuration):
    """A configuration and what its worker measured."""

    seconds_per_step: float
    cpu_seconds_per_step: float
    tokens_per_second: float
    peak_rss_gib: float
    saved_activations_gib: float
    saved_weights_gib: float
    loss: float


def run_worker(args: argparse.Namespace) -> None:
    """Build one model, run warm-up + measured optimizer steps, print one JSON line."""
    import torch

    sys.path.insert(0, str(ROOT))
    from iclm.config import AdapterConfig, ICLMConfig, RouterConfig
    from iclm.model import ICLMForCausalLM

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.variant == "peft":
        run_plain_peft_worker(args)
        return
    config = ICLMConfig(
        num_domains=args.k,
        variant=args.variant,
        execution=args.execution,
        recompute=args.recompute,
        recompute_share=args.recompute_share,
        backbone=args.backbone,
        router=RouterConfig(kind="oracle"),
        adapters=AdapterConfig(r=8, alpha=16),
    )
    model = ICLMForCausalLM.from_config_and_backbone(config)
    model.train()
    input_ids, attention_mask, labels, domain_ids = _batch(args, model.tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with _precision(args):
            if args.router_pass:  # what an uncached learned router adds: the frozen base, no grad
                model.router_embeddings(input_ids, attention_mask, labels == -100)
            out = model(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, domain_ids=domain_ids,
                loss_only=True,
            )  # fmt: skip
        out.loss.backward()
        optimizer.step()
        return float(out.loss)

    _measure(args, step, model)


def run_plain_peft_worker(args: argparse.Namespace) -> None:
    """What a user gets without the engine: the Hugging Face model + peft LoRA (r 8, q/k/v/o), the model's
    own loss over full (B, T, V) logits. The reference's "single LoRA" figure in DESIGN is this setup."""
    import torch
    from peft import LoraConfig, get_peft_model

    from iclm.backbone import load_backbone

    backbone = load_backbone(args.backbone)
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    model = get_peft_model(backbone.model, lora).train()
    input_ids, attention_mask, labels, _ = _batch(args, backbone.tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with _precision(args):
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        out.loss.backward()
        optimizer.step()
        return float(out.loss)

    _measure(args, step, model)


def _batch(args: argparse.Namespace, tokenizer):
    """Random real token ids (B, T); the last quarter of every sequence is the labelled answer."""
    import torch

    vocab = min(len(tokenizer), 1000)  # any real token ids do; the cost does not depend on which
    input_ids = torch.randint(3, vocab, (args.batch, args.seq))
    labels = torch.full_like(input_ids, -100)
    answer_start = args.seq * 3 // 4
    labels[:, answer_start:] = input_ids[:, answer_start:]
    domain_ids = torch.arange(args.batch) % args.k
    return input_ids, torch.ones_like(input_ids), labels, domain_ids


def _precision(args: argparse.Namespace):
    """training.bf16 = the Trainer's bf16 autocast: fp32 weights, bf16 matmuls and activations."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()


def _saved_for_backward(model, step) -> dict[str, float]:
    """GiB that one more step keeps for backward (unique storages seen by `saved_tensors_hooks`), split into
    the model's own weights (the frozen matrices the backward reads) and activations. Run after the peak
    RSS was read, so it does not change the measured numbers."""
    import torch

    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    activations = sum(n for ptr, n in saved.items() if ptr not in weights)
    held_weights = sum(n for ptr, n in saved.items() if ptr in weights)
    return {"saved_activations_gib": activations / 2**30, "saved_weights_gib": held_weights / 2**30}


def _measure(args: argparse.Namespace, step, model) -> None:
    """Warm-up + measured steps; prints one JSON line for the parent."""
    for _ in range(args.warmup):
        step()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    for _ in range(args.steps):
        loss = step()
    seconds = (time.perf_counter() - start) / args.steps
    cpu_seconds = (_cpu_seconds() - cpu_start) / args.steps
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    measured = {
        "seconds_per_step": seconds,
        "cpu_seconds_per_step": cpu_seconds,
        "peak_rss_gib": peak_kib / 2**20,
        "loss": loss,
    }
    print(json.dumps(measured | _saved_for_backward(model, step)))


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all threads). Unlike wall time it barely moves when other
    jobs share the cores, so ratios between configurations stay comparable on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_configuration(args: argparse.Namespace, row: Configuration) -> StepResult:
    command = [
        sys.executable, __file__, "--worker", "--variant", row.variant, "--k", str(row.num_domains),
        "--execution", row.execution, "--recompute", row.recompute,
        "--recompute-share", str(row.recompute_share), "--backbone", args.backbone,
        "--batch", str(args.batch), "--seq", str(args.seq), "--steps", str(args.steps),
        "--warmup", str(args.warmup), "--threads", str(args.threads),
    ] + (["--router-pass"] if row.router_pass else []) + (["--bf16"] if args.bf16 else [])  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{row.name} failed:\n{completed.stderr[-4000:]}")
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    measured = {key: measured[key] for key in MEASURED}
    tokens_per_second = args.batch * args.seq / measured["seconds_per_step"]
    return StepResult(**asdict(row), **measured, tokens_per_second=tokens_per_second)


def check_targets(results: list[StepResult], baseline_name: str) -> dict[str, dict[str, float | bool]]:
    """The DESIGN targets against the row `baseline_name`, computed from one run so every ratio compares like
    with like. Time ratios use CPU seconds per step (see `_cpu_seconds`); wall seconds are reported beside."""
    by_name = {r.name: r for r in results}
    base = by_name[baseline_name]
    k2, k4, k8 = by_name["ICLM sparse K=2"], by_name[SPARSE_K4], by_name["ICLM sparse K=8"]
    dense = by_name["ICLM dense K=4"]
    ratios = {
        "sparse_k4_over_baseline_time": (k4.cpu_seconds_per_step / base.cpu_seconds_per_step, 2.5, "<="),
        "dense_k4_over_sparse_k4_time": (dense.cpu_seconds_per_step / k4.cpu_seconds_per_step, 3.0, ">="),
        "sparse_k4_over_baseline_memory": (k4.peak_rss_gib / base.peak_rss_gib, 1.3, "<="),
        "sparse_k8_over_k2_time": (k8.cpu_seconds_per_step / k2.cpu_seconds_per_step, 1.15, "<="),
    }
    return {
        key: {"value": round(value, 3), "target": target, "met": _meets(value, op, target)}
        for key, (value, target, op) in ratios.items()
    }


RECOMPUTED_ROWS = {
    "recompute_invariant": RECOMPUTE_INVARIANT,
    "recompute_invariant_share_2_3": RECOMPUTE_SHARE,
}


def recompute_ratios(results: list[StepResult]) -> dict[str, float]:
    """What each recompute row buys and costs against each reference row (no targets of their own)."""
    by_name = {r.name: r for r in results}
    references = {
        "engine_baseline": by_name[ENGINE_BASELINE],
        "plain_peft": by_name[PLAIN_PEFT],
        "sparse_k4": by_name[SPARSE_K4],
        "recomputed_baseline": by_name[BASELINE_RECOMPUTED],
    }
    ratios = {}
    for prefix, row_name in RECOMPUTED_ROWS.items():
        row = by_name[row_name]
        for label, reference in references.items():
            ratios[f"{prefix}_over_{label}_time"] = round(
                row.cpu_seconds_per_step / reference.cpu_seconds_per_step, 3
            )
            ratios[f"{prefix}_over_{label}_memory"] = round(row.peak_rss_gib / reference.peak_rss_gib, 3)
    return ratios


def _meets(value: float, op: str, target: float) -> bool:
    return value <= target if op == "<=" else value >= target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny backbone, small batch: a smoke run")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seq", type=int, default=None)
    parser.add_argument("--steps", type=int, default=2, help="measured steps per configuration")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: honest CPU-time ratios when busy)"
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, as training.bf16: true")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="iclm", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--execution", default="sparse", help=argparse.SUPPRESS)
    parser.add_argument("--router-pass", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--recompute", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--recompute-share", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.backbone = args.backbone or ("tiny" if args.quick else "smollm2-135m")
    args.batch = args.batch or (8 if not args.quick else 4)
    args.seq = args.seq or (256 if not args.quick else 64)
    if args.worker:
        run_worker(args)
        return

    results = []
    for row in CONFIGURATIONS:
        result = run_configuration(args, row)
        print(
            f"{row.name:40s} {result.seconds_per_step:8.2f} s/step (wall) {result.cpu_seconds_per_step:8.2f} "
            f"CPU s/step {result.tokens_per_second:8.1f} tok/s {result.peak_rss_gib:6.2f} GiB "
            f"(saved for backward: {result.saved_activations_gib:.2f} activations)",
            flush=True,
        )
        results.append(result)
    report = {
        "benchmark": "train_step",
        "backbone": args.backbone,
        "batch": args.batch,
        "seq_len": args.seq,
        "measured_steps": args.steps,
        "threads": args.threads,
        "load_average_at_end": list(os.getloadavg()),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "routing": "oracle, balanced (example i -> domain i mod K)",
        "step": "ICLMTrainer's: forward(loss_only=True) + backward + AdamW",
        "precision": "bf16 autocast" if args.bf16 else "fp32",
        "results": [asdict(r) for r in results],
        # DESIGN sets the targets from the reference's single-LoRA step: the HF model + peft with its own loss
        "targets": check_targets(results, PLAIN_PEFT),
        # the engine's own single-LoRA variant also projects only answer positions: a stricter comparison
        "targets_against_engine_baseline": check_targets(results, ENGINE_BASELINE),
        "recompute": recompute_ratios(results),
    }
    suffix = ("-quick" if args.quick else "") + ("-bf16" if args.bf16 else "")
    output = args.output or ROOT / "bench" / "results" / f"train_step{suffix}-{args.batch}x{args.seq}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    for key in ("targets", "targets_against_engine_baseline", "recompute"):
        print(key, json.dumps(report[key], indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
