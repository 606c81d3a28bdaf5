"""Append-only, crash-safe `metrics.jsonl`: one JSON object a line, each line written atomically.

A line is serialised first and written with one `os.write` on an `O_APPEND` descriptor, then fsynced,
so a killed process leaves either the whole line or nothing. Non-finite floats are written as `null`
(JSON has no NaN); readers skip a torn last line.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclm.json_files import JsonFileError, iter_json_lines

logger = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: numpy/torch scalars -> Python, NaN/inf -> None, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Writes records to `<run>/metrics.jsonl`; `enabled=False` (non-zero ranks) makes it a no-op."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = (json.dumps(_clean(record), sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate_after(self, step: int) -> None:
        """Drop records with `step` > `step` (a resumed run re-logs the steps after its checkpoint).
        Rewritten through a temp file + rename so the file is never half-written."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path) if int(r.get("step", 0)) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class MetricsLog:
    """A metrics.jsonl as read: its complete records, and one error per line skipped (naming file and
    line): torn, not JSON, not an object, or without a whole-number `step` (every record has one)."""

    records: list[dict[str, Any]]
    skipped: list[JsonFileError]


def read_metrics_log(path: str | Path) -> MetricsLog:
    """Every record of a metrics.jsonl and the lines skipped; an unreadable file raises JsonFileError."""
    records, skipped = [], []
    for number, record in iter_json_lines(path, "metrics file"):
        if not isinstance(record, JsonFileError):
            step = record.get("step")
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                record = JsonFileError(f"{path}:{number}: step is {step!r:.40}, expected a whole number >= 0")
        (skipped if isinstance(record, JsonFileError) else records).append(record)
    return MetricsLog(records, skipped)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a metrics.jsonl (a torn or invalid line is skipped with a warning naming it;
    an unreadable file raises JsonFileError, one line)."""
    log = read_metrics_log(path)
    for error in log.skipped:
        logger.warning("%s; skipped", error)
    return log.records
