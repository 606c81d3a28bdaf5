"""`python -m iclm extend CHECKPOINT --data NEW... -o OUT [--invariant frozen|trained|anchored] ...`: add a
domain module for a new task to a trained ICLM and train it (continual learning; iclm/extension.py).

The old domain adapters, the router's projector and old codes never train; the invariant module is frozen
(default), trained, or trained with an anchor to its old weights (`--anchor l2|ewc`, `--anchor-weight`);
`--train-aggregation` lets the aggregation train too. `--replay N --old FILES` mixes N old examples into the
new task's data; `--old` also feeds the EWC Fisher. `--probe FILES` (old and new test files) makes
metrics.jsonl follow how the router assigns each dataset over the extension's training. Rerunning the same
command resumes. OUT gets a checkpoint (loads like any other) with `lineage.json`.

`--sequential` fine-tunes the checkpoint on the new task as it is instead (no domain added, nothing frozen;
a baseline too): the sequential fine-tuning that continual learning is measured against.
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="the trained ICLM to extend (a folder with config.json)")
    parser.add_argument("--data", nargs="+", required=True, help="the new task's training files")
    parser.add_argument("-o", "--out", required=True, help="folder of the extended checkpoint (a new run)")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="fine-tune the checkpoint as it is (no domain added, every module trains; baselines too)",
    )
    parser.add_argument("--invariant", default="frozen", choices=["frozen", "trained", "anchored"])
    parser.add_argument("--anchor", default="l2", choices=["l2", "ewc"], help="with --invariant anchored")
    parser.add_argument("--anchor-weight", type=float, default=1.0)
    parser.add_argument("--train-aggregation", action="store_true", help="let the aggregation train too")
    parser.add_argument("--old", nargs="*", default=[], help="old-task files: replay sample and EWC Fisher")
    parser.add_argument("--replay", type=int, default=0, help="old examples mixed into the new task's data")
    parser.add_argument("--probe", nargs="*", default=[], help="probe files (old and new test files)")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument(
        "--probe-every",
        type=int,
        help="run the probe every N steps and at the last (default: at every record, fine on tiny models; "
        "minutes a probe on SmolLM2)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=448)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Bad checkpoints, data and settings raise ValueError / OSError naming what is wrong: `iclm.cli.errors`
    prints them as one line."""
    from iclm.extension import ExtensionPlan
    from iclm.training.extension import ExtensionData, run_extension, run_sequential

    if args.sequential and (args.invariant != "frozen" or args.train_aggregation):
        raise ValueError("--sequential trains every module: --invariant and --train-aggregation do not apply")
    plan = ExtensionPlan(
        invariant=args.invariant,
        anchor=args.anchor,
        anchor_weight=args.anchor_weight,
        train_aggregation=args.train_aggregation,
        replay=args.replay,
    )
    training = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_length": args.max_length,
        "save_every": args.save_every,
        "seed": args.seed,
        "lr_schedule": "constant",
        "log_every": max(1, min(10, args.max_steps // 10)),
    }
    if args.probe_every is not None:
        training["probe_every"] = args.probe_every
    data = ExtensionData(new=tuple(args.data), old=tuple(args.old), probe=tuple(args.probe))
    if args.sequential:
        result = run_sequential(args.checkpoint, data, args.out, training, replay=args.replay)
    else:
        result = run_extension(args.checkpoint, data, args.out, plan, training)
    verb = "stopped" if result.stopped else "finished"
    logger.info("extension %s at step %d; checkpoint folder %s", verb, result.global_step, result.run_dir)
    return 0
