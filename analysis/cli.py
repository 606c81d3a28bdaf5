"""`python -m analysis analyze CHECKPOINT --data FILE_OR_MIX_FOLDER... [--out DIR] [--overwrite] [--limit N]
[--max-length T] [--forced-sample N] [--batch-size B]`.

The analysis' own command line: it lives here, above the engine, because it runs `analysis.collect`; the
engine's CLI imports nothing above `iclm/`. `python -m iclm analyze ...` is the same command through the
engine's plugin group (`iclm.commands` in pyproject.toml, registered when the project is installed, as
`make setup` does): this module is a subcommand provider (`HELP`, `add_arguments(parser)`, `run(args)`).

Runs the checkpoint over the data once and writes the analysis artifact (docs/api.md, "Analysis artifact")
to `--out` (default CHECKPOINT/analysis/). `--data` takes evals-format files and `python -m iclm data mix`
folders (their test files, with dataset, split (iid/ood) and domain from the manifest), as `evaluate` does.
An artifact of the same checkpoint, data, --limit, --max-length and --forced-sample is reused. `--out` is
replaced only when absent, empty or an earlier artifact: a non-empty folder of other files is refused
unless `--overwrite`, a regular file always is.
"""

from __future__ import annotations

import argparse
import logging
import sys

from iclm.cli.errors import add_debug_flag, run_reporting_errors

logger = logging.getLogger(__name__)

HELP = "run a checkpoint over data once and write an analysis artifact"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from iclm.data.tokens import DEFAULT_MAX_LENGTH

    parser.add_argument("checkpoint", help="trained model folder (with config.json)")
    parser.add_argument(
        "--data", nargs="+", required=True, help="evals-format files, or a `data mix` folder (its test files)"
    )
    parser.add_argument("--out", help="artifact folder (default: CHECKPOINT/analysis)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even when it is a non-empty folder that holds no analysis artifact",
    )
    parser.add_argument("--limit", type=int, help="at most N examples per dataset (first N in file order)")
    parser.add_argument(
        "--max-length",
        type=int,
        help="prompt + answer tokens kept (longer prompts lose tokens from the left, with a warning); "
        f"default: the checkpoint's training_config.json max_length, else {DEFAULT_MAX_LENGTH}",
    )
    parser.add_argument("--forced-sample", type=int, default=32, help="examples run through every domain")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=8, help="cap on greedy answer length")
    parser.add_argument("--seed", type=int, default=0, help="seed of the forced sample")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="fp32 (default: the evaluation's numbers) or bf16 autocast (about 2x faster on CPUs with bf16 "
        "math and on GPUs; close scores can then pick another choice)",
    )
    parser.add_argument(
        "--journal",
        help="a folder that keeps every finished batch: a stopped run given the same folder continues where "
        "it left off (commit it to carry a long collection to another machine)",
    )


def run(args: argparse.Namespace) -> int:
    """Bad checkpoints, data and --out folders raise ValueError / OSError naming the file and field:
    `iclm.cli.errors` prints them as one line."""
    if args.forced_sample < 0:
        raise ValueError(f"--forced-sample={args.forced_sample} is invalid; expected >= 0")
    for name in ("batch_size", "max_new_tokens", "limit", "max_length"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid; expected > 0")
    from analysis.collect import collect

    artifact = collect(
        args.checkpoint,
        args.data,
        args.out,
        forced_sample=args.forced_sample,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        limit=args.limit,
        max_length=args.max_length,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        precision=args.precision,
        journal=args.journal,
    )
    frame = artifact.examples
    accuracy = frame.groupby(["dataset", "split"])["correct_aggregated"].mean()
    logger.info("artifact with %d examples; accuracy per dataset:\n%s", len(frame), accuracy.to_string())
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m analysis analyze ...` (one subcommand today; the parser leaves room for more)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analysis of ICLM checkpoints.")
    add_debug_flag(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyze = sub.add_parser("analyze", help=HELP)
    add_arguments(analyze)
    add_debug_flag(analyze, top_level=False)
    return run_reporting_errors(run, parser.parse_args(argv))
