"""A resumable evaluation: every scored batch appended to a JSON-lines journal, skipped when the run restarts.

Evaluating the experiment's 12 test sets with every readout takes hours on a CPU (RAVEN text prompts reach
1,100 tokens and an ICLM runs 1 + K + 1 passes over each), longer than one working session. With a journal
the run can stop at any moment (kill, machine gone) and `evaluate(..., journal=...)` continues where it
left off: the routes and each finished batch are read back instead of recomputed. The batches are the
same on every run (groups sorted by context length, a fixed batch size), so a resumed evaluation gives the
same predictions as one run straight through (tested).

The file: line 1 the header (what was evaluated and how: `iclm.fingerprints.model_hash` of the model,
`examples_hash` of the examples, and the settings); then one `routes` record; then one `batch` record per
scored batch (its index, member example ids and every readout's prediction rows). A header that differs from
the run's raises `JournalMismatch` naming the field, so a journal never mixes two models or two datasets. A
cut last line (the process killed mid-write) is dropped with a warning; it is the one batch scored again.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iclm.json_files import JsonFileError, iter_json_lines

logger = logging.getLogger(__name__)

FORMAT = "iclm-evaluation-journal/1"


class JournalMismatch(ValueError):
    """The journal records another evaluation (model, examples or settings); one line naming the field."""


def read_journal_lines(path: Path, label: str, redo: str) -> list[tuple[int, Any]]:
    """(line number, record) of a journal file; a last line cut by a kill (no newline) is dropped from the
    file with a warning saying `redo` (what runs again). Other bad lines come back as JsonFileError."""
    records = list(iter_json_lines(path, label))
    if records and isinstance(records[-1][1], JsonFileError) and not path.read_bytes().endswith(b"\n"):
        logger.warning("%s: the last line was cut (killed mid-write); %s", path, redo)
        data = path.read_bytes()
        path.write_bytes(data[: data.rfind(b"\n") + 1])
        records = records[:-1]
    return records


def check_journal_header(
    path: Path, found: dict[str, Any], expected: dict[str, Any], what: str, hint: str
) -> None:
    """JournalMismatch naming the first field where the file's header `found` differs from `expected`."""
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            raise JournalMismatch(
                f"{path}: the journal records another {what} ({key}: {found.get(key)!r} there, "
                f"{expected.get(key)!r} now); {hint}"
            )


@dataclass
class EvaluationJournal:
    """An open journal at `path` for the evaluation described by `header` (created if missing).

    `routes` and `batches` hold what earlier runs finished; `write_routes` / `write_batch` append and flush
    each record, so a kill loses at most the batch being scored."""

    path: Path
    header: dict[str, Any]
    routes: list[int] | None = None
    batches: dict[int, dict[str, dict[int, dict]]] = field(default_factory=dict)
    members: dict[int, list[str]] = field(default_factory=dict)  # batch index -> its example ids

    @classmethod
    def open(cls, path: str | os.PathLike, header: dict[str, Any]) -> EvaluationJournal:
        path = Path(path)
        header = {"format": FORMAT} | header
        journal = cls(path, header)
        if path.exists() and path.stat().st_size > 0:
            journal._read()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            journal._append(header)
        return journal

    @property
    def done(self) -> int:
        """Examples whose batch is finished."""
        return sum(len(next(iter(rows.values()), {})) for rows in self.batches.values())

    def write_routes(self, routes: list[int]) -> None:
        self.routes = list(routes)
        self._append({"kind": "routes", "routes": self.routes})

    def write_batch(self, index: int, ids: list[str], found: dict[str, dict[int, dict]]) -> None:
        """Batch `index` (members' example ids `ids`) scored: {readout: {example index: prediction row}}."""
        self.batches[index] = found
        self.members[index] = list(ids)
        rows = {name: {str(i): row for i, row in by_index.items()} for name, by_index in found.items()}
        self._append({"kind": "batch", "index": index, "ids": ids, "found": rows})

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _read(self) -> None:
        records = read_journal_lines(self.path, "evaluation journal", "that batch is scored again")
        if not records:  # only a cut header: start again
            self.path.write_bytes(b"")
            self._append(self.header)
            return
        for number, record in records:
            if isinstance(record, JsonFileError):
                raise record
            if number == records[0][0]:
                self._check_header(record)
            elif record.get("kind") == "routes":
                self.routes = [int(r) for r in record["routes"]]
            elif record.get("kind") == "batch":
                index = int(record["index"])
                self.members[index] = list(record["ids"])
                self.batches[index] = {
                    name: {int(i): row for i, row in rows.items()} for name, rows in record["found"].items()
                }
            else:
                raise JsonFileError(f"{self.path} line {number}: field 'kind' must be 'routes' or 'batch'")

    def _check_header(self, found: dict[str, Any]) -> None:
        hint = "pass a new --journal path or delete this one"
        check_journal_header(self.path, found, self.header, "evaluation", hint)
