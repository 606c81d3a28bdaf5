"""`python -m iclm data make|mix|check`: generate task files, build the paper's mixture, check files."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    make = sub.add_parser("make", help="generate one task file (evals JSONL)")
    make.add_argument("--task", required=True, choices=["acre", "raven", "pvr"])
    make.add_argument("--render", default="text", choices=["text", "symbolic"])
    make.add_argument("--split", default="iid", help="acre: iid|comp|sys; pvr: iid|holdout")
    make.add_argument("--part", default="train", choices=["train", "test"], help="side of the split pair")
    make.add_argument("--config", default="center_single", help="raven configuration")
    make.add_argument("--complexity", type=int, default=0, help="pvr complexity 0-2")
    make.add_argument("--aggregation", default="sum", help="pvr: sum|min|max|median|majority")
    make.add_argument("--n-examples", type=int, default=4, help="pvr in-context examples per line")
    make.add_argument("--n", type=int, required=True, help="number of lines")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("-o", "--output", required=True)
    mix = sub.add_parser("mix", help="build the paper's training mixture and test sets")
    mix.add_argument("config", help="YAML mixture config, e.g. configs/data-mix.yaml")
    mix.add_argument("-o", "--output", required=True, help="output folder")
    check = sub.add_parser("check", help="validate files, print stats and shortcut baselines")
    check.add_argument("files", nargs="+")
    check.add_argument("--max-prompt-chars", type=int, default=20_000)
    check.add_argument("--max-lines", type=int, default=200_000)


def _make(args: argparse.Namespace) -> int:
    from iclm.data.evals_format import write_jsonl
    from iclm.data.generate import TaskSpec, generate_records

    names = (
        "task",
        "n",
        "seed",
        "render",
        "split",
        "part",
        "config",
        "complexity",
        "aggregation",
        "n_examples",
    )
    spec = TaskSpec(**{name: getattr(args, name) for name in names})
    records = generate_records(spec)
    if args.n >= 2000:
        from tqdm import tqdm

        records = tqdm(records, desc=f"writing {spec.dataset}", unit="line")
    write_jsonl(args.output, records)
    logger.info(
        "wrote %d lines of %s (%s) to %s", args.n, spec.dataset, "ood" if spec.is_ood else "iid", args.output
    )
    return 0


def _mix(args: argparse.Namespace) -> int:
    from iclm.data.mix import MixConfig, build_mix

    entries = build_mix(MixConfig.from_yaml(args.config), args.output, progress=True)
    logger.info("wrote %d files and manifest.json to %s", len(entries), args.output)
    return 0


def _check(args: argparse.Namespace) -> int:
    from iclm.data.check import check_file, format_report
    from iclm.data.examples import DataFileError, LoaderLimits

    limits = LoaderLimits(max_prompt_chars=args.max_prompt_chars, max_lines=args.max_lines)
    status = 0
    for path in args.files:
        try:
            sys.stdout.write(format_report(check_file(path, limits)) + "\n")
        except DataFileError as err:
            sys.stdout.write(f"{path}: cannot read: {err.reason}\n")
            status = 1
    return status


def run(args: argparse.Namespace) -> int:
    try:
        return {"make": _make, "mix": _mix, "check": _check}[args.data_command](args)
    except ValueError as err:
        logger.error("%s", err)
        return 2
