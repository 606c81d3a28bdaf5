"""Expected failures of a command end as one line on stderr (`error: ...`, exit status 2); `--debug` shows
the traceback instead.

"Expected" means what bad input produces: every error the project raises for a bad file, config, checkpoint
or argument is a `ValueError` (DataFileError, JsonFileError, CheckpointError, BackboneError, RunFolderError,
ArtifactError, UnicodeDecodeError ...) and the file system's are `OSError`s (missing, unreadable, a folder
where a file was expected, read-only). Their messages name the file, line and field. Anything else
(TypeError, KeyError, AssertionError) is a bug and keeps its traceback, so it gets reported and fixed
rather than hidden behind a tidy line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 2

DEBUG_HELP = "show the full traceback of an error instead of its one-line message"


def expected_errors() -> tuple[type[BaseException], ...]:
    """The error types turned into one line. safetensors' own error (a header or file that is not
    safetensors) joins when the library is importable: it derives from Exception only."""
    found: list[type[BaseException]] = [ValueError, OSError]
    try:
        from safetensors import SafetensorError
    except ImportError:  # the data commands run without the model stack
        pass
    else:
        found.append(SafetensorError)
    return tuple(found)


def one_line(error: BaseException) -> str:
    """The error's message on one line (whitespace runs, newlines included, become one space). An
    OSError's str names its file; an error with an empty message is named by its type."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def add_debug_flag(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """`--debug` on the program and on each subcommand (so it may follow the subcommand's arguments). A
    subcommand's copy only sets the flag when given, so it never resets the program's."""
    default = False if top_level else argparse.SUPPRESS
    parser.add_argument("--debug", action="store_true", default=default, help=DEBUG_HELP)
    for action in parser._actions:  # nested actions (`data check ...`) take it after their own arguments
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                add_debug_flag(nested, top_level=False)


def run_reporting_errors(run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """run(args), with the expected errors printed as `error: <message>` and exit status 2."""
    try:
        return int(run(args) or 0)
    except expected_errors() as error:
        if getattr(args, "debug", False):
            raise
        sys.stderr.write(f"error: {one_line(error)}\n")
        return EXIT_BAD_INPUT
