"""Named slices of the analysed examples: per-module accuracy with 95% Wilson intervals, saved as JSON with
the checkpoint's analysis artifact, compared side by side.

A slice is a name, the example ids it holds and where it came from (a lasso selection, a filter, an
uploaded file). `slices.json` beside the artifact's manifest holds a checkpoint's slices; they are read
with the project's bounded JSON reader and written atomically. A slice whose ids the artifact no longer
holds (the artifact was collected again on other data) keeps them and says how many are missing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from iclm.evaluation.statistics import wilson_interval
from iclm.file_modes import share_file
from iclm.json_files import JsonFileError, read_json

SLICES_FILE = "slices.json"
MAX_NAME = 80
_CORRECT = re.compile(r"^correct_(.+)$")


@dataclass(frozen=True)
class Slice:
    """name, the example ids, where it came from ("selection" | "filter" | "upload" | free text) and when."""

    name: str
    ids: tuple[str, ...]
    source: str
    created: str

    @classmethod
    def make(cls, name: str, ids: list[str], source: str) -> Slice:
        name = " ".join(str(name).split())
        if not name or len(name) > MAX_NAME:
            raise ValueError(f"a slice needs a name of 1 to {MAX_NAME} characters, got {len(name)}")
        if not ids:
            raise ValueError("a slice needs at least one example")
        return cls(name, tuple(dict.fromkeys(str(i) for i in ids)), source, datetime.now(UTC).isoformat())


def slice_accuracy(examples: pd.DataFrame, chosen: Slice) -> pd.DataFrame:
    """Per readout (every `correct_<readout>` column of the artifact's examples): n, accuracy and its 95%
    Wilson interval over the slice's examples that have a gold answer; plus how many ids are missing."""
    members = examples[examples["id"].isin(set(chosen.ids))]
    rows = []
    for column in examples.columns:
        found = _CORRECT.match(column)
        if found is None:
            continue
        scored = members[column].dropna().astype(bool)
        interval = wilson_interval(int(scored.sum()), len(scored))
        rows.append(
            {
                "slice": chosen.name,
                "module": found.group(1),
                "n": len(scored),
                "accuracy": interval.accuracy if len(scored) else None,
                "low": interval.low,
                "high": interval.high,
                "missing": len(chosen.ids) - len(members),
            }
        )
    return pd.DataFrame(rows, columns=["slice", "module", "n", "accuracy", "low", "high", "missing"])


def read_slices(artifact_folder: str | os.PathLike) -> list[Slice]:
    """The slices saved with an artifact (empty when none were); JsonFileError naming a bad slices.json."""
    path = Path(artifact_folder) / SLICES_FILE
    if not path.exists():
        return []
    raw = read_json(path, "slices file")
    try:
        return [
            Slice(str(s["name"]), tuple(str(i) for i in s["ids"]), str(s["source"]), str(s["created"]))
            for s in raw
        ]
    except (KeyError, TypeError) as error:
        raise JsonFileError(f"{path}: not a list of slices ({type(error).__name__}: {error})") from error


def save_slice(artifact_folder: str | os.PathLike, new: Slice) -> list[Slice]:
    """Add (or replace, by name) a slice in the artifact's slices.json, atomically; returns every slice.
    PermissionError (an OSError) when the folder is read-only."""
    folder = Path(artifact_folder)
    slices = [s for s in read_slices(folder) if s.name != new.name] + [new]
    _write(folder, slices)
    return slices


def _write(folder: Path, slices: list[Slice]) -> None:
    payload = json.dumps([asdict(s) | {"ids": list(s.ids)} for s in slices], indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{SLICES_FILE}-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        share_file(tmp)
        os.replace(tmp, folder / SLICES_FILE)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def prompt_accuracy(rows: pd.DataFrame) -> pd.DataFrame:
    """Per readout of `studio.live.run_prompts` rows (`pred_<readout>` columns, `gold`): n, accuracy and its
    95% Wilson interval over the rows with a gold answer (an uploaded labelled file)."""
    from analysis.predict import is_correct

    labelled = rows[rows["gold"].astype(str).str.strip() != ""]
    out = []
    for column in [c for c in rows.columns if c.startswith("pred_")]:
        flags = [bool(is_correct(p, g)) for p, g in zip(labelled[column], labelled["gold"], strict=True)]
        interval = wilson_interval(sum(flags), len(flags))
        accuracy = interval.accuracy if flags else None
        out.append(
            {"module": column.removeprefix("pred_"), "n": len(flags), "accuracy": accuracy,
             "low": interval.low, "high": interval.high}
        )  # fmt: skip
    return pd.DataFrame(out, columns=["module", "n", "accuracy", "low", "high"])
