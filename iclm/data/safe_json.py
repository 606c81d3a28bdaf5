"""One JSON parser for user lines: bounded nesting and number length, duplicate keys refused.

`json.loads` alone turns a deeply nested line into a RecursionError and a 5,000-digit integer into a bare
ValueError, neither naming the file or line, and keeps the last of two duplicate keys silently. `loads`
raises `JsonLineError(reason)` instead, which the loader turns into a line error naming file, line and field.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # nesting of arrays/objects; evals records need 3
MAX_NUMBER_CHARS = 100  # longer integer or float literals are refused (Python caps ints at 4,300 digits)


class JsonLineError(ValueError):
    """A line that is not acceptable JSON; `reason` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _depth(text: str) -> int:
    """Deepest array/object nesting of a JSON text (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _number(kind):
    def parse(literal: str):
        if len(literal) > MAX_NUMBER_CHARS:
            raise JsonLineError(f"a number with {len(literal)} characters (at most {MAX_NUMBER_CHARS})")
        return kind(literal)

    return parse


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonLineError(f"duplicate key {key!r}")
        out[key] = value
    return out


def loads(text: str) -> Any:
    """Parse one JSON value; JsonLineError on bad syntax, nesting deeper than MAX_DEPTH, over-long numbers
    or duplicate keys."""
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise JsonLineError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as err:
        raise JsonLineError(f"invalid JSON: {err.msg} at column {err.colno}") from err
    except RecursionError as err:  # a deep nesting the pre-check could not see (should not happen)
        raise JsonLineError("nested too deeply") from err
