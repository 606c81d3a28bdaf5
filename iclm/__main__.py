"""Command line: `python -m iclm data|train|evaluate ...`, plus the commands of installed plugins.

Each built-in subcommand lives in its own module under `iclm/cli/` exposing `add_arguments(parser)` and
`run(args) -> int`; modules are imported lazily so `python -m iclm data ...` never pays for torch.

Plugins: a package above the engine adds a subcommand by naming a module of the same shape (plus a `HELP`
line) in the entry-point group `iclm.commands` of its pyproject.toml. This project's `analysis` package
adds `analyze` that way (`analyze = "analysis.cli"`), so `python -m iclm analyze ...` runs
`python -m analysis analyze ...` once the project is installed (`pip install -e .`, as `make setup` does)
while `iclm/` itself imports nothing above it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

from iclm.cli.errors import add_debug_flag, run_reporting_errors

PLUGIN_GROUP = "iclm.commands"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: the module that runs it (`add_arguments`, `run`) and its one-line help."""

    module: str
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


BUILT_IN: dict[str, Subcommand] = {
    "data": Subcommand("iclm.cli.data", "generate, mix and check task files"),
    "train": Subcommand("iclm.cli.train", "train an ICLM or a baseline from a YAML config"),
    "evaluate": Subcommand("iclm.cli.evaluate", "accuracy per dataset and module of a checkpoint"),
    "extend": Subcommand("iclm.cli.extend", "add a domain module for a new task to a trained ICLM"),
}


def plugin_subcommands() -> dict[str, Subcommand]:
    """The subcommands registered in the `iclm.commands` entry-point group (a built-in name wins). Each
    provider module is imported for its `HELP` line: providers keep their heavy imports inside `run`. One
    that fails to import is skipped with a warning, so a broken plugin never breaks `python -m iclm data`."""
    found: dict[str, Subcommand] = {}
    for point in entry_points(group=PLUGIN_GROUP):
        if point.name in BUILT_IN or point.name in found:
            continue
        try:
            module = importlib.import_module(point.value)
        except ImportError as error:
            logger.warning("plugin command %r (%s) cannot be imported: %s", point.name, point.value, error)
            continue
        found[point.name] = Subcommand(point.value, getattr(module, "HELP", f"(from {point.value})"))
    return found


def subcommands() -> dict[str, Subcommand]:
    """Built-in subcommands, then the installed plugins'."""
    return BUILT_IN | plugin_subcommands()


def build_parser(argv: list[str], commands: dict[str, Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iclm",
        description=__doc__.splitlines()[0],
        epilog=f"More commands come from installed plugins (entry-point group {PLUGIN_GROUP}); `analyze` is "
        "`python -m analysis analyze`, also here once the project is installed (pip install -e .).",
    )
    add_debug_flag(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, command in commands.items():
        sub_parser = sub.add_parser(name, help=command.help)
        if name == chosen:  # only the chosen subcommand's module is imported
            command.load().add_arguments(sub_parser)
            add_debug_flag(sub_parser, top_level=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    commands = subcommands()
    args = build_parser(argv, commands).parse_args(argv)
    return run_reporting_errors(commands[args.command].load().run, args)


if __name__ == "__main__":
    sys.exit(main())
