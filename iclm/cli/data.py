"""`python -m iclm data make|mix|check|compare`: generate task files, build the paper's mixture (generated or
imported from a benchmark clone), check files and print their task profiles, compare two files' profiles."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from iclm.data.generate import TASKS

    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    make = sub.add_parser("make", help="generate one task file (evals JSONL)")
    make.add_argument("--task", required=True, choices=list(TASKS))
    make.add_argument("--render", default="text", choices=["text", "symbolic"])
    make.add_argument("--split", default="iid", help="acre: iid|comp|sys; pvr: iid|holdout")
    make.add_argument("--part", default="train", choices=["train", "test"], help="side of the split pair")
    make.add_argument("--config", default="center_single", help="raven configuration")
    make.add_argument("--complexity", type=int, default=0, help="pvr complexity 0-9")
    make.add_argument("--aggregation", default="sum", help="pvr: sum|min|max|median|majority")
    make.add_argument("--n-examples", type=int, default=3, help="pvr in-context examples per line")
    make.add_argument("--holdout", type=int, default=1, help="pvr holdout split: held-out permutations")
    make.add_argument(
        "--candidates",
        default="iraven",
        choices=["iraven", "benchmark"],
        help="raven answer sets: iraven (no context-free shortcut) or benchmark (one attribute changed each)",
    )
    make.add_argument("--n", type=int, required=True, help="number of lines")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("-o", "--output", required=True)
    mix = sub.add_parser("mix", help="build the paper's training mixture and test sets")
    mix.add_argument("config", nargs="?", help="YAML mixture config, e.g. configs/data-mix.yaml")
    mix.add_argument("--benchmark", metavar="PATH", help="import from a local clone of the public benchmark")
    mix.add_argument("--max-train", type=int, default=1000, help="with --benchmark: lines per training file")
    mix.add_argument("--max-test", type=int, default=None, help="with --benchmark: lines per test file")
    mix.add_argument("--pvr", action="store_true", help="with --benchmark: add the PVR files as test sets")
    mix.add_argument("-o", "--output", required=True, help="output folder")
    check = sub.add_parser("check", help="validate files, print stats and shortcut baselines")
    check.add_argument("files", nargs="+")
    check.add_argument("--max-prompt-chars", type=int, default=20_000)
    check.add_argument("--max-lines", type=int, default=200_000)
    compare = sub.add_parser("compare", help="print two files' task profiles side by side, flag differences")
    compare.add_argument("first")
    compare.add_argument("second")


def _make(args: argparse.Namespace) -> int:
    from iclm.data.evals_format import write_jsonl
    from iclm.data.generate import generate_records, task_fields, task_spec

    # the chosen task's fields that have a flag (the rest keep the spec's default); other tasks' flags unread
    fields = {name: getattr(args, name) for name in task_fields(args.task) if hasattr(args, name)}
    spec = task_spec(args.task, **fields)
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
    if (args.config is None) == (args.benchmark is None):
        raise ValueError("data mix takes either a YAML config or --benchmark PATH (exactly one)")
    if args.benchmark is not None:
        return _import(args)
    from iclm.data.mix import MixConfig, build_mix

    entries = build_mix(MixConfig.from_yaml(args.config), args.output, progress=True)
    logger.info("wrote %d files and manifest.json to %s", len(entries), args.output)
    return 0


def _import(args: argparse.Namespace) -> int:
    from iclm.data.benchmark import import_benchmark

    for name in ("max_train", "max_test"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
    report = import_benchmark(
        args.benchmark, args.output, max_train=args.max_train, max_test=args.max_test, pvr=args.pvr
    )
    for entry in report.entries:
        sys.stdout.write(f"{entry.file}: {entry.n} lines from {entry.source}\n")
    for path in report.missing:
        sys.stdout.write(f"absent: {path}\n")
    for err in report.errors:
        sys.stdout.write(f"rejected: {err}\n")
    logger.info("wrote %d files and manifest.json to %s", len(report.entries), args.output)
    return 0


def _check(args: argparse.Namespace) -> int:
    from iclm.data.check import format_report, report_of
    from iclm.data.examples import DataFileError, LoaderLimits
    from iclm.data.loader import load_examples
    from iclm.data.profile import format_profile, profile_examples

    limits = LoaderLimits(max_prompt_chars=args.max_prompt_chars, max_lines=args.max_lines)
    status = 0
    for path in args.files:
        try:
            loaded = load_examples(path, limits=limits)
            sys.stdout.write(format_report(report_of(path, loaded)) + "\n")
            sys.stdout.write(format_profile(profile_examples(loaded.examples)) + "\n")
        except DataFileError as err:
            sys.stdout.write(f"{path}: cannot read: {err.reason}\n")
            status = 1
    return status


def _compare(args: argparse.Namespace) -> int:
    from iclm.data.profile import compare_profiles, format_comparison, profile_file

    first, second = profile_file(args.first), profile_file(args.second)
    rows = compare_profiles(first, second)
    sys.stdout.write(format_comparison(rows, args.first, args.second) + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    commands = {"make": _make, "mix": _mix, "check": _check, "compare": _compare}
    return commands[args.data_command](args)
