"""A resumable analysis collection: every finished batch kept in a journal folder, read back on restart.

Collecting the experiment's artifact (`analysis.collect`, 64 examples of 12 test sets) takes hours on a
2-core CPU for a K = 4 model (RAVEN prompts reach 1,100 tokens), longer than one working session. With
`collect(..., journal=FOLDER)` the run can stop at any moment and continue where it left off, on this
machine or on a fresh clone where the folder was committed: the batches are the same on every run (groups
in file order, a fixed batch size), so a resumed collection writes the same artifact as one run straight
through (tested).

The folder: `journal.jsonl`, line 1 the header (format, `iclm.fingerprints.model_hash` of the model,
`examples_hash` of the examples, every setting), then one `batch` record per finished batch (its index,
member example ids, routes, every readout's predictions, the forced sample's answers, and the name of the
batch's tensor file); and `batch-NNNNNN.safetensors` per batch (its pooled states, float16 as the artifact
stores them). The tensor file is written (and synced) before its record, so a record always names a
complete file. A header that differs from the run's raises `JournalMismatch` naming the field; a cut last
line (killed mid-write) is dropped with a warning and that batch runs again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from iclm.evaluation.journal import JournalMismatch, check_journal_header, read_journal_lines
from iclm.json_files import JsonFileError

FORMAT = "iclm-analysis-journal/1"
INDEX = "journal.jsonl"
FORCED = "forced_"  # tensor-name prefix of the forced sample's pooled states: forced_<k>

__all__ = ["AnalysisJournal", "BatchRecord", "JournalMismatch"]


@dataclass(frozen=True)
class BatchRecord:
    """One finished batch as `analysis.collect._batch_pass` returned it: routes (B,), pooled states
    {name: (B, H)}, predictions {readout: [B]} and the forced sample's {k: (pooled (F, H), answers [F])}."""

    ids: list[str]
    routes: torch.Tensor
    states: dict[str, torch.Tensor]
    predictions: dict[str, list]
    forced: dict[int, tuple[torch.Tensor, list]]


@dataclass
class AnalysisJournal:
    """An open journal folder for the collection described by `header` (created if missing)."""

    folder: Path
    header: dict[str, Any]
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> its JSON record

    @classmethod
    def open(cls, folder: str | os.PathLike, header: dict[str, Any]) -> AnalysisJournal:
        journal = cls(Path(folder), {"format": FORMAT} | header)
        index = journal.folder / INDEX
        if journal.folder.exists() and not journal.folder.is_dir():
            raise NotADirectoryError(f"{journal.folder}: the analysis journal must be a folder")
        if index.exists() and index.stat().st_size > 0:
            journal._read()
        else:
            journal.folder.mkdir(parents=True, exist_ok=True)
            index.write_bytes(b"")
            journal._append(journal.header)
        return journal

    @property
    def done(self) -> int:
        """Examples whose batch is finished."""
        return sum(len(record["ids"]) for record in self.batches.values())

    def read(self, index: int, ids: list[str]) -> BatchRecord | None:
        """Batch `index` if the journal holds it (with these member ids), else None."""
        record = self.batches.get(index)
        if record is None:
            return None
        if record["ids"] != ids:  # the header pins examples and settings: a changed grouping rule
            raise ValueError(
                f"{self.folder}: batch {index} holds other examples than this run's; use a new journal"
            )
        from safetensors.torch import load_file

        path = self.folder / record["tensors"]
        try:
            tensors = load_file(path)
        except (
            OSError,
            RuntimeError,
            ValueError,
        ) as error:  # safetensors raises SafetensorError (a ValueError)
            raise JsonFileError(
                f"{path}: unreadable batch tensors of the analysis journal ({error})"
            ) from error
        forced = {
            int(k): (tensors[f"{FORCED}{k}"].float(), answers) for k, answers in record["forced"].items()
        }
        states = {
            name: t.float() for name, t in tensors.items() if name != "routes" and not name.startswith(FORCED)
        }
        return BatchRecord(ids, tensors["routes"].long(), states, record["predictions"], forced)

    def write(self, index: int, batch: BatchRecord) -> None:
        """Keep batch `index`: its tensor file first (synced), then its record."""
        from safetensors.torch import save_file

        name = f"batch-{index:06d}.safetensors"
        tensors = {key: value.to(torch.float16).contiguous() for key, value in batch.states.items()}
        tensors["routes"] = batch.routes.to(torch.int64).contiguous()
        for k, (pooled, _) in batch.forced.items():
            tensors[f"{FORCED}{k}"] = pooled.to(torch.float16).contiguous()
        path = self.folder / name
        save_file(tensors, str(path))
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
        record = {
            "kind": "batch",
            "index": index,
            "ids": list(batch.ids),
            "predictions": batch.predictions,
            "forced": {str(k): answers for k, (_, answers) in batch.forced.items()},
            "tensors": name,
        }
        self._append(record)
        self.batches[index] = json.loads(json.dumps(record))  # as it reads back (string keys)

    def _append(self, record: dict[str, Any]) -> None:
        with (self.folder / INDEX).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _read(self) -> None:
        index = self.folder / INDEX
        records = read_journal_lines(index, "analysis journal", "that batch runs again")
        if not records:  # only a cut header: start again
            index.write_bytes(b"")
            self._append(self.header)
            return
        for number, record in records:
            if isinstance(record, JsonFileError):
                raise record
            if number == records[0][0]:
                self._check_header(record)
            elif record.get("kind") == "batch":
                self.batches[int(record["index"])] = record
            else:
                raise JsonFileError(f"{index} line {number}: field 'kind' must be 'batch'")

    def _check_header(self, found: dict[str, Any]) -> None:
        hint = "pass a new --journal folder or delete this one"
        check_journal_header(self.folder / INDEX, found, self.header, "collection", hint)
