"""Reading the project's JSON files (config.json, results.json, manifests, metrics.jsonl) defensively.

These files are written by the project, but a checkpoint or run folder can come from anyone: `json.loads`
alone turns a deeply nested value into a RecursionError, a 5,000-digit number into a bare ValueError, and a
multi-GB file into a memory spike, none naming the file. Every reader here goes through the one bounded
parser (`iclm.data.safe_json`: nesting depth, number length, duplicate keys) and raises `JsonFileError`,
one line naming the file (and line, for JSON lines) and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iclm.data.safe_json import JsonLineError, loads

MAX_JSON_FILE_BYTES = 256 * 2**20  # a metrics.jsonl of 100k records is ~100 MB; configs are kilobytes


class JsonFileError(ValueError):
    """A JSON file that cannot be read as what it should be; the message is one line naming the file."""


def _text(path: Path, what: str, max_bytes: int) -> str:
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise JsonFileError(f"{path}: {size:,} bytes, more than a {what} may have ({max_bytes:,})")
        data = path.read_bytes()
    except OSError as error:
        raise JsonFileError(f"{path}: cannot read the {what}: {error.strerror or error}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonFileError(f"{path}: the {what} is not UTF-8 text (byte {error.start})") from error


def read_json(path: str | os.PathLike, what: str = "JSON file", max_bytes: int = MAX_JSON_FILE_BYTES) -> Any:
    """The value of a JSON file; JsonFileError (one line, naming the file) on any problem."""
    path = Path(path)
    try:
        return loads(_text(path, what, max_bytes))
    except JsonLineError as error:
        raise JsonFileError(f"{path}: the {what} is not valid JSON: {error.reason}") from error


def read_json_object(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """read_json, and the value must be an object (a list-shaped config is refused by name)."""
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise JsonFileError(f"{path}: the {what} holds a JSON {type(value).__name__}, expected an object")
    return value


def iter_json_lines(
    path: str | os.PathLike, what: str = "JSON lines file"
) -> Iterator[tuple[int, dict[str, Any] | JsonFileError]]:
    """(line number, object) for each non-blank line, split on "\\n" only (U+2028 is legal inside JSON
    strings); a bad line yields (line number, JsonFileError naming file and line) so callers choose to skip
    or stop."""
    path = Path(path)
    for number, line in enumerate(_text(path, what, MAX_JSON_FILE_BYTES).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = loads(line)
        except JsonLineError as error:
            yield number, JsonFileError(f"{path}:{number}: not valid JSON: {error.reason}")
            continue
        if not isinstance(value, dict):
            yield number, JsonFileError(f"{path}:{number}: a JSON {type(value).__name__}, expected an object")
            continue
        yield number, value
