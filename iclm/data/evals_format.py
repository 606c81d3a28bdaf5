"""The OpenAI "evals" JSONL record format used by the Logical-and-abstract-reasoning benchmark.

A record is `{"input": [{"role": ..., "content": ...}, ...], "ideal": str|int, "choice_strings": [...]}`
(`choice_strings` is absent for open-answer tasks such as PVR). Generators build records with these
helpers and write them atomically so a killed run never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from iclm.file_modes import share_file

ROLES: tuple[str, ...] = ("system", "user", "assistant")


def message(role: str, content: str) -> dict[str, str]:
    """One chat message; raises ValueError on an unknown role."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    return {"role": role, "content": content}


def record(
    messages: Sequence[dict[str, str]], ideal: str | int, choices: Sequence[str | int] | None = None
) -> dict[str, Any]:
    """An evals record with the benchmark's key order (input, choice_strings, ideal)."""
    out: dict[str, Any] = {"input": list(messages)}
    if choices is not None:
        out["choice_strings"] = list(choices)
    out["ideal"] = ideal
    return out


def prompt_text(messages: Sequence[dict[str, str]]) -> str:
    """The prompt the model sees: message contents joined with a newline."""
    return "\n".join(m["content"] for m in messages)


def dumps(rec: dict[str, Any]) -> str:
    """One JSONL line, formatted like the benchmark files (", " and ": " separators, UTF-8 kept)."""
    return json.dumps(rec, ensure_ascii=False)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    """Write records as JSONL atomically (temp file in the same folder + rename); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for rec in records:
                handle.write(dumps(rec) + "\n")
        share_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write one JSON document atomically (used for manifests)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        share_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
