"""Command line: `python -m iclm data|train|evaluate|analyze ...`.

Each subcommand lives in its own module under `iclm/cli/` exposing `add_arguments(parser)` and
`run(args) -> int`; modules are imported lazily so `python -m iclm data ...` never pays for torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "data": ("iclm.cli.data", "generate, mix and check task files"),
    "train": ("iclm.cli.train", "train an ICLM or a baseline from a YAML config"),
    "evaluate": ("iclm.cli.evaluate", "accuracy per dataset and module of a checkpoint"),
    "analyze": ("iclm.cli.analyze", "run a checkpoint over data once and write an analysis artifact"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iclm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        if name == chosen:  # only the chosen subcommand's module is imported
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
