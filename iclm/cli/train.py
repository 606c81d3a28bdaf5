"""`python -m iclm train CONFIG.yaml [--output-dir DIR] [--max-steps N]`: train an ICLM or a baseline.

Rerunning the same command after an interruption resumes from the last checkpoint of the run folder.
Several processes: `accelerate launch --num_processes 2 [--cpu] -m iclm train CONFIG.yaml`
(see docs/training.md).
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config YAML (see configs/paper.yaml)")
    parser.add_argument("--output-dir", help="run folder (overrides training.output_dir)")
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many optimizer steps (overrides epochs)"
    )


def run(args: argparse.Namespace) -> int:
    """Bad configs, data, run folders and backbones raise ValueError / OSError naming the file and field:
    `iclm.cli.errors` prints them as one line."""
    from iclm.cli.errors import one_line
    from iclm.training.config import load_train_config
    from iclm.training.run import run_training

    if args.max_steps is not None and args.max_steps <= 0:
        raise ValueError(f"--max-steps={args.max_steps} is invalid; expected a positive number of steps")
    config = load_train_config(args.config)
    try:
        result = run_training(config, output_dir=args.output_dir, max_steps=args.max_steps)
    except (ValueError, OSError) as error:  # a data file, the backbone, the run folder: say which config
        message = one_line(error)
        if message.startswith(f"{args.config}: "):
            raise
        raise ValueError(f"{args.config}: {message}") from error
    if result.stopped:  # SIGTERM / SIGINT: the step's checkpoint is saved; the same command resumes
        logger.info("training stopped at step %d; run folder %s", result.global_step, result.run_dir)
    else:
        logger.info("training finished at step %d; run folder %s", result.global_step, result.run_dir)
    return 0
