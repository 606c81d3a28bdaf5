"""Turn pasted text or an uploaded file into Examples through `iclm.data.load_examples` (on a temp file).

Errors keep the user's file name (not the temp path). A whole-file problem (binary, empty, not UTF-8,
too large) comes back as a message; per-line problems as a table while the valid lines are used.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass
class Loaded:
    """examples: the valid ones; errors: one row per bad line (file, line, field, reason); fatal: a
    whole-file message (then there are no examples)."""

    examples: list = field(default_factory=list)
    errors: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["file", "line", "field", "reason"])
    )
    fatal: str | None = None


def _dataset(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(name).stem).strip("-").lower()
    return stem or "upload"


def load_bytes(name: str, payload: bytes, split: str = "iid") -> Loaded:
    """Load an uploaded file's bytes (its suffix picks the format; .json is read as JSONL) as `split`."""
    from iclm.data.examples import DataFileError
    from iclm.data.loader import load_examples

    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return Loaded(fatal=f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if len(payload) > MAX_UPLOAD_BYTES:
        return Loaded(
            fatal=f"{name}: {len(payload)} bytes, more than the studio's {MAX_UPLOAD_BYTES} byte limit"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{'.jsonl' if suffix == '.json' else suffix}"
        path.write_bytes(payload)
        try:
            result = load_examples(path, dataset=_dataset(name), split=split)
        except DataFileError as exc:
            return Loaded(fatal=f"{name}: {exc.reason}")
    errors = pd.DataFrame(
        [{"file": name, "line": e.line, "field": e.field, "reason": e.reason} for e in result.errors],
        columns=["file", "line", "field", "reason"],
    )
    return Loaded(examples=result.examples, errors=errors)


def load_text(text: str) -> Loaded:
    """Prompts typed in the text area: one prompt per line (write \\n for a line break inside a prompt)."""
    return load_bytes("typed.txt", text.encode("utf-8")) if text.strip() else Loaded()
