"""The paper's mixture from a local clone of the public benchmark (Logical-and-abstract-reasoning).

The benchmark is Strong-AI-Lab/Logical-and-abstract-reasoning on GitHub. `import_benchmark(root, out_dir)`
writes the folder `build_mix` writes (evals JSONL files named ``<dataset>-<role>.jsonl`` and
``manifest.json``), so training, evaluation and analysis read both alike:

- training: ACRE text/symbolic IID and RAVEN text/symbolic center_single, at most `max_train` lines each
  (the authors' ``max_size``); the benchmark stores no training part for most of them, so the first part
  found of ``train``, then ``val`` is used, and the manifest names the file it came from;
- test: ACRE IID/Comp/Sys, RAVEN center_single and every o.o.d. configuration present; PVR optional.

ACRE is read from ``data/ACRE/raw/<Split>/<part>.json`` (the ACRE generator's output) when present and
converted to evals JSONL as the benchmark's processing does: one line per query, the 6 context panels as
system messages, the query as a user message, labels 0/1/2 as off/undetermined/on (the rendering is
`iclm.data.acre.render_records`, tested equal to the benchmark's own files); otherwise its processed
``data/ACRE/<render>/<Split>/<part>.jsonl`` is copied. Files that are absent are listed in the report.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from iclm.data import acre
from iclm.data.evals_format import write_json, write_jsonl
from iclm.data.examples import DataFileError, LineError
from iclm.data.mix import MANIFEST, MixEntry
from iclm.data.raven import CONFIGS as RAVEN_CONFIGS

ACRE_SPLIT_FOLDERS: dict[str, str] = {"iid": "IID", "comp": "Comp", "sys": "Sys"}
RAW_LABELS: tuple[str, ...] = ("off", "undetermined", "on")  # the generator's 0 / 1 / 2
PANELS_PER_TRIAL = 10  # 6 context panels, then 4 queries


@dataclass(frozen=True)
class ImportReport:
    """What the import wrote, which files it looked for and did not find, and rejected raw trials."""

    entries: list[MixEntry]
    missing: list[str]
    errors: list[LineError] = field(default_factory=list)


def data_root(root: str | os.PathLike[str]) -> Path:
    """The benchmark's ``data`` folder: `root` itself or its ``data`` child (a clone's root)."""
    path = Path(root)
    if (path / "data" / "ACRE").is_dir() or (path / "data" / "RAVEN").is_dir():
        return path / "data"
    if (path / "ACRE").is_dir() or (path / "RAVEN").is_dir():
        return path
    raise DataFileError(str(path), "not a benchmark clone: no data/ACRE or data/RAVEN folder inside")


def _trial_error(path: Path, number: int, field_name: str, reason: str) -> LineError:
    return LineError(str(path), number, field_name, reason)


def _panel_objects(panel: dict, path: Path, number: int) -> tuple[int, ...] | LineError:
    objects = panel.get("objects")
    if not isinstance(objects, list) or not objects:
        return _trial_error(path, number, "objects", "must be a non-empty list of object ids")
    if not all(type(o) is int and 0 <= o < acre.NUM_OBJECTS for o in objects):
        return _trial_error(path, number, "objects", f"ids must be integers in [0, {acre.NUM_OBJECTS})")
    return tuple(objects)


def parse_raw_trial(trial: object, path: Path, number: int) -> tuple[tuple, list] | LineError:
    """(context panels, [(query objects, answer)]) of one raw ACRE trial, or the error naming its field."""
    if not isinstance(trial, list) or len(trial) != PANELS_PER_TRIAL:
        return _trial_error(path, number, "trial", f"must be a list of {PANELS_PER_TRIAL} panels")
    context, queries = [], []
    for i, panel in enumerate(trial):
        if not isinstance(panel, dict):
            return _trial_error(path, number, f"panel {i + 1}", "must be an object")
        objects = _panel_objects(panel, path, number)
        if isinstance(objects, LineError):
            return objects
        state = panel.get("light_state")
        if i < 6:
            if state not in ("on", "off"):
                return _trial_error(path, number, "light_state", f"context panel {i + 1} must be on/off")
            context.append(acre.Panel(objects, state == "on"))
            continue
        label = panel.get("label")
        if state != "no" or type(label) is not int or not 0 <= label < 3:
            return _trial_error(path, number, "label", f"query panel {i + 1} needs light_state no, label 0-2")
        queries.append((objects, RAW_LABELS[label]))
    return tuple(context), queries


def convert_raw_acre(path: Path, render: str, limit: int | None) -> tuple[list[dict], list[LineError]]:
    """Evals records of a raw ACRE file (4 per trial, in file order) and one error per rejected trial."""
    try:
        trials = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFileError(str(path), f"cannot read raw ACRE JSON: {err}") from err
    if not isinstance(trials, list):
        raise DataFileError(str(path), "raw ACRE JSON must be a list of trials")
    records: list[dict] = []
    errors: list[LineError] = []
    for number, trial in enumerate(trials, start=1):
        parsed = parse_raw_trial(trial, path, number)
        if isinstance(parsed, LineError):
            errors.append(parsed)
            continue
        records.extend(acre.render_records(parsed[0], parsed[1], render))  # type: ignore[arg-type]
        if limit is not None and len(records) >= limit:
            break
    return records[:limit] if limit is not None else records, errors


def _read_lines(path: Path, limit: int | None) -> list[dict]:
    """The first `limit` records of a processed evals file (validated later by the loader)."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                out.append(json.loads(line))
                if limit is not None and len(out) >= limit:
                    break
    return out


@dataclass(frozen=True)
class _Wanted:
    dataset: str
    domain: str
    role: str
    split: str
    task: str
    candidates: tuple[Path, ...]  # tried in order; raw ACRE JSON first


def _wanted(data: Path, renders: tuple[str, ...], tasks: tuple[str, ...], pvr: bool) -> list[_Wanted]:
    out: list[_Wanted] = []
    for render in renders:
        if "acre" in tasks:
            for split, folder in ACRE_SPLIT_FOLDERS.items():
                roles = (
                    [("train", ("train", "val")), ("test", ("test",))]
                    if split == "iid"
                    else [("test", ("test",))]
                )
                for role, parts in roles:
                    paths = [data / "ACRE" / "raw" / folder / f"{p}.json" for p in parts]
                    paths += [data / "ACRE" / render / folder / f"{p}.jsonl" for p in parts]
                    kind = "iid" if split == "iid" else "ood"
                    out.append(
                        _Wanted(f"acre-{render}-{split}", f"acre-{render}", role, kind, "acre", tuple(paths))
                    )
        if "raven" in tasks:
            for config in RAVEN_CONFIGS:
                roles = (
                    [("train", ("train", "val")), ("test", ("test",))] if config == "center_single" else []
                )
                roles = roles or [("test", ("test",))]
                for role, parts in roles:
                    paths = tuple(data / "RAVEN" / render / f"{config}_{p}.jsonl" for p in parts)
                    kind = "iid" if config == "center_single" else "ood"
                    out.append(
                        _Wanted(f"raven-{render}-{config}", f"raven-{render}", role, kind, "raven", paths)
                    )
    if pvr:
        for folder in sorted((data / "PVR" / "symbolic").glob("*/")):
            for path in sorted(folder.glob("*.jsonl")):
                name = f"pvr-symbolic-{folder.name.lower()}-{path.stem}"
                out.append(_Wanted(name, "pvr-symbolic", "test", "iid", "pvr", (path,)))
    return out


def import_benchmark(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    renders: tuple[str, ...] = ("text", "symbolic"),
    tasks: tuple[str, ...] = ("acre", "raven"),
    max_train: int | None = 1000,
    max_test: int | None = None,
    pvr: bool = False,
) -> ImportReport:
    """Write the mixture folder from a benchmark clone; absent files are listed, present ones used."""
    data = data_root(root)
    out = Path(out_dir)
    entries, missing, errors = [], [], []
    for want in _wanted(data, renders, tasks, pvr):
        found = next((p for p in want.candidates if p.is_file()), None)
        if found is None:
            missing.append(" or ".join(str(p.relative_to(data)) for p in want.candidates))
            continue
        limit = max_train if want.role == "train" else max_test
        if found.suffix == ".json":
            render = want.domain.split("-")[1]
            records, bad = convert_raw_acre(found, render, limit)
            errors += bad
        else:
            records = _read_lines(found, limit)
        file = f"{want.dataset}-{want.role}.jsonl"
        write_jsonl(out / file, records)
        source = str(found.relative_to(data))
        entries.append(
            MixEntry(
                file, want.dataset, want.domain, want.role, want.split, want.task, len(records), 0, source
            )
        )
    if not entries:
        raise DataFileError(str(data), "no benchmark file found; looked for: " + "; ".join(missing))
    write_json(
        out / MANIFEST, {"benchmark": str(data), "files": [asdict(e) for e in entries], "missing": missing}
    )
    return ImportReport(entries, missing, errors)
