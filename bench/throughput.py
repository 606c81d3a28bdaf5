"""Throughput of whole-experiment work against the hardware limit: evaluation, shared contexts or not.

One run measures both sides on the same examples (ratios are what to read: the machine is shared), counts
the tokens the decoder really processed (a hook on the base model) and turns them into achieved GFLOP/s
(2 x non-embedding parameters x tokens, plus the LM head at the positions read) beside the machine's peak
measured in the same run by large matmuls in fp32 and bf16.

    python bench/throughput.py                      # shipped iclm-k2 checkpoint, ACRE text + symbolic
    python bench/throughput.py --quick              # tiny backbone, seconds
    python bench/throughput.py --device cuda        # on a GPU machine

Writes bench/results/throughput[-quick].json.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def matmul_peak(device: str, dtype_name: str, size: int, repeats: int = 5) -> float:
    """Best GFLOP/s of a (size x size) linear layer on (size x size) inputs: `F.linear` is the kernel the
    model's layers run (on this CPU a bf16 `a @ b` takes a far slower path than a bf16 linear)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    x = torch.randn(size, size, device=device, dtype=dtype)
    w = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first run warms up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.nn.functional.linear(x, w)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


class TokenCounter:
    """Counts tokens (batch x length, padding included) through the model's decoder, and separately those
    of passes run with gradients (their backward costs about one more forward: the base is frozen, so only
    input gradients and the small LoRA weight gradients are computed)."""

    def __init__(self, model) -> None:
        import torch

        self.tokens = 0
        self.tokens_with_grad = 0
        self._grad_enabled = torch.is_grad_enabled
        self.handle = model.base.base_model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(ids.numel())
        if self._grad_enabled():
            self.tokens_with_grad += int(ids.numel())

    def flops(self, per_token: float) -> float:
        """Forward FLOPs of every pass plus one forward's worth for each pass that ran backward."""
        return per_token * (self.tokens + self.tokens_with_grad)

    def close(self) -> None:
        self.handle.remove()


def decoder_flops_per_token(model) -> float:
    """2 x the decoder's non-embedding parameters (a forward FLOP per multiply-add) per token."""
    embedding = model.base.get_input_embeddings().weight.numel()
    params = sum(p.numel() for p in model.base.base_model.parameters()) - embedding
    return 2.0 * params


def _examples(root: Path, n: int, renders: list[str]) -> list:
    from iclm.data.generate import task_spec, write_task_file
    from iclm.data.loader import load_examples

    out = []
    for render in renders:
        spec = task_spec(task="acre", n=n, seed=0, render=render, split="iid", part="test")
        path = write_task_file(spec, root / f"{spec.dataset}.jsonl")
        out += load_examples(path, domain=spec.domain).examples
    return out


def _model(args):
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    if args.quick:
        config = ICLMConfig(backbone="tiny", num_domains=2, dataset_names=["acre-text", "acre-symbolic"])
        return ICLMForCausalLM.from_config_and_backbone(config, load_backbone("tiny")).eval()
    return ICLMForCausalLM.from_pretrained(args.checkpoint).eval()


EVAL_SIDES = {  # name -> (share_context, packed): the engine's default is shared + packed
    "unshared_cached": (False, False),
    "shared_cached": (True, False),
    "unshared": (False, True),
    "shared": (True, True),
}


def bench_evaluation(model, examples: list, device: str, sides: tuple[str, ...] = tuple(EVAL_SIDES)) -> dict:
    """Examples/s and achieved GFLOP/s of `iclm.evaluation.run` with and without shared contexts, each
    packed (one pass per module over contexts + queries + choices, the default) and cached (continuations on
    copies of a KV cache, the previous path). "unshared" / "shared" are the packed sides."""
    import torch

    from iclm.evaluation.run import evaluate
    from iclm.readout import readouts

    n_readouts = len(readouts(model.config))
    flops_per_token = decoder_flops_per_token(model)
    rows, predictions = {}, {}
    with torch.inference_mode():  # warm-up (first calls pay for allocation and kernel selection)
        evaluate(model, model.tokenizer, examples[:4], progress=False)
    for name in sides:
        share, packed = EVAL_SIDES[name]
        counter = TokenCounter(model)
        start = time.perf_counter()
        with torch.inference_mode():
            result = evaluate(
                model, model.tokenizer, examples, share_context=share, packed=packed, progress=False
            )
        seconds = time.perf_counter() - start
        counter.close()
        predictions[name] = result.predictions
        rows[name] = {
            "seconds": seconds,
            "examples_per_s": len(examples) / seconds,
            "readouts": n_readouts,
            "readout_examples_per_s": len(examples) * n_readouts / seconds,
            "decoder_tokens": counter.tokens,
            "decoder_gflop_per_s": counter.flops(flops_per_token) / seconds / 1e9,
        }
    speed = {name: rows[name]["examples_per_s"] for name in sides}
    for ratio, (a, b) in {
        "ratio_shared_vs_unshared": ("shared", "unshared"),
        "ratio_shared_cached_vs_unshared_cached": ("shared_cached", "unshared_cached"),
        "ratio_shared_vs_unshared_cached": ("shared", "unshared_cached"),
        "ratio_packed_vs_cached_shared": ("shared", "shared_cached"),
    }.items():
        if a in speed and b in speed:
            rows[ratio] = speed[a] / speed[b]
    rows["same_predictions"] = all(p == predictions["shared"] for p in predictions.values())
    return rows


def _training_batches(examples: list, collator, batch_size: int, steps: int) -> tuple[list[dict], int]:
    """`steps` batches of whole puzzles in a seeded random order (as the group sampler batches them),
    collated by `collator`; both sides of a comparison get the same batches."""
    import random

    from iclm.training.sampler import fill_batches, find_groups

    groups = find_groups(examples)
    random.Random(0).shuffle(groups)  # as the training sampler draws them: files mixed, puzzles whole
    order = fill_batches(groups, batch_size)  # flat: every batch_size indices are one batch
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)][:steps]
    return [collator([examples[i] for i in batch]) for batch in batches], sum(len(b) for b in batches)


def bench_training(model, examples: list, steps: int, batch_size: int = 8) -> dict:
    """Training examples/s (forward + backward, loss_only, router embeddings from the base pass) with and
    without shared-context packing, on the same batches."""

    from iclm.data.collate import ICLMCollator

    names = sorted({e.domain or e.dataset for e in examples})
    dataset_ids = {name: i for i, name in enumerate(names)}
    flops_per_token = decoder_flops_per_token(model)
    rows = {}
    model.train()
    for pack in (False, True):
        collator = ICLMCollator(model.tokenizer, dataset_ids, 448, pack_shared_context=pack)
        batches, count = _training_batches(examples, collator, batch_size, steps)
        model.zero_grad(set_to_none=True)
        model(**batches[0], loss_only=True).loss.backward()  # warm-up
        counter = TokenCounter(model)
        start = time.perf_counter()
        for batch in batches:
            model(**batch, loss_only=True).loss.backward()
            model.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - start
        counter.close()
        rows["packed" if pack else "unpacked"] = {
            "seconds": seconds,
            "examples": count,
            "examples_per_s": count / seconds,
            "decoder_tokens": counter.tokens,
            "decoder_tokens_with_backward": counter.tokens_with_grad,
            "decoder_gflop_per_s": counter.flops(flops_per_token) / seconds / 1e9,
        }
    model.eval()
    rows["ratio_packed_vs_unpacked"] = rows["packed"]["examples_per_s"] / rows["unpacked"]["examples_per_s"]
    return rows


def _mix_examples(root: Path, n: int) -> list:
    """The CPU data mix's training files (ACRE + RAVEN, text + symbolic), `n` lines each, in file order."""
    from iclm.data.generate import task_spec, write_task_file
    from iclm.data.loader import load_examples

    out = []
    for task, render in (("acre", "text"), ("acre", "symbolic"), ("raven", "text"), ("raven", "symbolic")):
        spec = task_spec(task=task, n=n, seed=0, render=render, split="iid", part="train")
        path = write_task_file(spec, root / f"{spec.dataset}.jsonl")
        out += load_examples(path, domain=spec.domain).examples
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "iclm-k2"))
    parser.add_argument("--n", type=int, default=200, help="ACRE lines per rendering (4 per puzzle)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny backbone, a few examples")
    parser.add_argument("--part", choices=["all", "train", "eval"], default="all", help="what to measure")
    parser.add_argument("--steps", type=int, default=6, help="training steps (batch 8) per side")
    parser.add_argument(
        "--eval-sides",
        nargs="+",
        choices=list(EVAL_SIDES),
        default=list(EVAL_SIDES),
        help="evaluation sides to time (default all four; `unshared shared`: the packed pair alone)",
    )
    parser.add_argument("--output", help="JSON path (default bench/results/throughput[-quick].json)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    n = 24 if args.quick else args.n
    model = _model(args).to(args.device)
    results: dict = {
        "machine": {"platform": platform.platform(), "threads": args.threads, "device": args.device},
        "model": "tiny" if args.quick else args.checkpoint,
        "decoder_gflop_per_token": decoder_flops_per_token(model) / 1e9,
        "peak_gflop_per_s": {
            d: matmul_peak(args.device, d, 1024 if args.quick else 2048) for d in ("fp32", "bf16")
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "train"):
            steps = 2 if args.quick else args.steps
            acre = _examples(Path(tmp), 8 * steps, ["text", "symbolic"])
            results["training_acre"] = bench_training(model, acre, steps)
            results["training_mix"] = bench_training(model, _mix_examples(Path(tmp), 8 * steps), steps)
        for render in ("symbolic", "text") if args.part in ("all", "eval") else ():
            examples = _examples(Path(tmp), n, [render])
            found = bench_evaluation(model, examples, args.device, tuple(args.eval_sides))
            results[f"evaluation_acre_{render}"] = found
            results[f"evaluation_acre_{render}"]["examples"] = len(examples)
    fp32 = results["peak_gflop_per_s"]["fp32"]
    for key, sides in (("evaluation_", tuple(args.eval_sides)), ("training_", ("packed", "unpacked"))):
        for name in [k for k in results if k.startswith(key)]:
            for side in sides:
                results[name][side]["share_of_fp32_peak"] = results[name][side]["decoder_gflop_per_s"] / fp32
    stem = "throughput" + ("-quick" if args.quick else "") + ("" if args.part == "all" else f"-{args.part}")
    default = ROOT / "bench" / "results" / f"{stem}.json"
    out = Path(args.output) if args.output else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
