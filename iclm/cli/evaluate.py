"""`python -m iclm evaluate CHECKPOINT --data FILE... [--out DIR] [--limit N] [--batch-size B]
[--max-length T] [--journal FILE] [--compare RESULTS.json...]`.

Writes `predictions.jsonl`, `results.json` and `results.md` to `--out` (default CHECKPOINT/eval/).
`--journal` makes a long evaluation resumable (`iclm.evaluation.journal`). `--compare` adds other runs'
results.json (e.g. baselines) as extra columns of `comparison.md`.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from iclm.data.examples import limit_per_dataset
from iclm.data.tokens import DEFAULT_MAX_LENGTH

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="trained model folder (a run folder of `python -m iclm train`)")
    parser.add_argument(
        "--data", nargs="+", required=True, help="evals-format files, or a `data mix` folder (its test files)"
    )
    parser.add_argument("--out", help="output folder (default: CHECKPOINT/eval)")
    parser.add_argument("--limit", type=int, help="score at most N examples per dataset")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="contexts per batch (default 8; an ACRE puzzle is one)"
    )
    parser.add_argument(
        "--no-share-context",
        dest="share_context",
        action="store_false",
        help="run every prompt whole (consecutive prompts sharing a context otherwise run it once)",
    )
    parser.add_argument(
        "--no-pack",
        dest="packed",
        action="store_const",
        const=False,
        default=None,
        help="run members' queries and choices as continuations on copies of a KV cache (the same numbers, "
        "slower) instead of packed after their context in one pass per module",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        help="prompt + answer tokens kept (longer prompts lose tokens from the left, with a warning); "
        f"default: the checkpoint's training_config.json max_length, else {DEFAULT_MAX_LENGTH}",
    )
    parser.add_argument("--max-new-tokens", type=int, default=8, help="cap on greedy answer length")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: cores left free by other processes, at least 1; on a CPU shared "
        "with a training run more threads than free cores make evaluation many times slower)",
    )
    parser.add_argument(
        "--journal",
        help="JSON-lines file recording every scored batch: a rerun with the same file, checkpoint, data and "
        "settings continues where a stopped run left off (hours-long evaluations across sessions)",
    )
    parser.add_argument("--compare", nargs="+", default=[], help="other results.json files to put beside")
    parser.add_argument("--name", help="column name of this checkpoint in tables (default: folder name)")


def _positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name}={value} is invalid; expected a positive number")


def run(args: argparse.Namespace) -> int:
    from iclm.evaluation import report

    for name in ("limit", "batch_size", "max_new_tokens", "max_length", "threads"):
        _positive(f"--{name.replace('_', '-')}", getattr(args, name))
    others = [(Path(p).parent.parent.name or p, report.load_results(p)) for p in args.compare]
    evaluation, out, name = _evaluate(args)
    from iclm.evaluation.run import write_evaluation

    write_evaluation(evaluation, out, name)
    if others:
        table = report.markdown_table([(name, evaluation.results | {"name": name})] + others)
        (out / "comparison.md").write_text(table, encoding="utf-8")
    logger.info("results in %s", out)
    print(report.markdown_table([(name, evaluation.results)]))  # noqa: T201 - the CLI's product
    return 0


def _evaluate(args: argparse.Namespace):
    import torch

    previous = torch.get_num_threads()
    _set_threads(args.threads)
    try:
        return _load_and_evaluate(args)
    finally:
        torch.set_num_threads(previous)


def _load_and_evaluate(args: argparse.Namespace):
    from iclm.evaluation.run import evaluate
    from iclm.model import ICLMForCausalLM
    from iclm.training.data import load_files, load_mix_role

    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint folder (no config.json)")
    out = Path(args.out) if args.out else checkpoint / "eval"
    if out.exists() and not out.is_dir():  # checked before the model work, not after it
        raise ValueError(f"--out {out}: is a file, not a folder")
    examples = []  # read before the model is built: a bad file fails in milliseconds, not after loading
    for path in args.data:
        loaded = load_mix_role(path, "test") if Path(path).is_dir() else load_files([path])
        examples += limit_per_dataset(loaded, args.limit)
    model = ICLMForCausalLM.from_pretrained(str(checkpoint))
    tokenizer = getattr(model, "tokenizer", None) or _tokenizer(checkpoint, model.config.backbone)
    name = args.name or checkpoint.name
    from iclm.checkpoint import max_length_for

    max_length = args.max_length or max_length_for(checkpoint)
    logger.info("evaluating %d examples with max_length=%d", len(examples), max_length)
    evaluation = evaluate(
        model,
        tokenizer,
        examples,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        max_length=max_length,
        share_context=args.share_context,
        packed=args.packed,
        journal=args.journal,
    )
    return evaluation, out, name


def free_cores() -> int:
    """CPU cores not busy with other processes (cores minus the 1-minute load average), at least 1."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, round(cores - load)))


def _set_threads(threads: int | None) -> None:
    import torch

    chosen = threads or free_cores()
    torch.set_num_threads(chosen)
    logger.info("using %d CPU thread(s) (%d cores; --threads overrides)", chosen, os.cpu_count() or 1)


def _tokenizer(checkpoint: Path, backbone: str):
    from transformers import AutoTokenizer

    if (checkpoint / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(checkpoint))
    from iclm.backbone import load_backbone

    return load_backbone(backbone).tokenizer
