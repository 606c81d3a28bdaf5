"""Evaluation results: aggregation per dataset/split/readout, JSON + markdown output, comparison tables.

results.json:
  {"readouts": [...], "datasets": [{"dataset", "split", "n", "greedy": {readout: acc}, "choice": {...},
     "intervals": {"greedy"|"choice": {readout: {"accuracy", "correct", "n", "low", "high"}}},
     "chance": float|null, "majority": float|null}],
   "splits": {"iid"|"ood": {"n", "greedy": {...}, "choice": {...}, "intervals": {...}}},
   "model": {...}, "name": str}
Accuracies are fractions in [0, 1]; a readout missing for a dataset (e.g. oracle on an unknown domain,
choice scoring without choices) is left out of that dataset's dict. Every accuracy has its 95% Wilson
interval beside it (`intervals`, iclm/evaluation/statistics.py); `chance` is the expected accuracy of a
uniform guess among each example's choices, `majority` that of always answering the most frequent gold
answer (predictions written before these fields existed give null).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from iclm.evaluation.statistics import Interval, chance_accuracy, majority_accuracy, wilson_interval
from iclm.json_files import JsonFileError, read_json_object

_JSON_NAMES = {list: "array", dict: "object"}

METHODS = ("greedy", "choice")


def outcomes(rows: list[dict], readout: str, method: str) -> list[bool]:
    """Per-example correctness of `readout` under `method` ("greedy" | "choice"), rows that have it."""
    key = f"{method}_correct"
    return [bool(r["readouts"][readout][key]) for r in rows if key in r["readouts"].get(readout, {})]


def _accuracy(rows: list[dict], readouts: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {m: {} for m in METHODS}
    intervals: dict[str, dict[str, dict]] = {m: {} for m in METHODS}
    for method in METHODS:
        for name in readouts:
            flags = outcomes(rows, name, method)
            if flags:
                out[method][name] = sum(flags) / len(flags)
                intervals[method][name] = _interval_dict(wilson_interval(sum(flags), len(flags)))
    return out | {"intervals": intervals}


def _interval_dict(interval: Interval) -> dict[str, float | int]:
    return {f: getattr(interval, f) for f in ("accuracy", "correct", "n", "low", "high")}


def _baselines(rows: list[dict]) -> dict[str, float | None]:
    """Chance (uniform guess among the choices) and majority-answer accuracy of a dataset's rows."""
    sizes = [r.get("num_choices") for r in rows]  # None: predictions written before the field existed
    chance = chance_accuracy(sizes) if None not in sizes else None
    return {"chance": chance, "majority": majority_accuracy([r["gold"] for r in rows])}


def aggregate(predictions: list[dict], readouts: list[str]) -> dict[str, Any]:
    """Accuracy per (dataset, split) and per split, for every readout and scoring method."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in predictions:
        groups.setdefault((row["dataset"], row["split"]), []).append(row)
    datasets = [
        {"dataset": d, "split": s, "n": len(rows)} | _accuracy(rows, readouts) | _baselines(rows)
        for (d, s), rows in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))
    ]
    splits = {}
    for split in ("iid", "ood"):
        rows = [r for r in predictions if r["split"] == split]
        if rows:
            splits[split] = {"n": len(rows)} | _accuracy(rows, readouts)
    return {"readouts": list(readouts), "datasets": datasets, "splits": splits}


def _cell(entry: dict, readout: str) -> str:
    parts = [f"{100 * entry[m][readout]:.1f}" if readout in entry.get(m, {}) else "–" for m in METHODS]
    return " / ".join(parts)


def markdown_table(results: list[tuple[str, dict[str, Any]]]) -> str:
    """One table for one or several results (e.g. ICLM and its baselines): a row per dataset (split),
    a column per (run, readout); cells are "greedy / choice" accuracy in %."""
    columns = [(name, r, readout) for name, r in results for readout in r["readouts"]]
    header = ["dataset", "split", "n"] + [
        f"{name}:{readout}" if name else readout for name, _, readout in columns
    ]
    keys: list[tuple[str, str]] = []
    for _, r in results:
        for entry in r["datasets"]:
            if (entry["dataset"], entry["split"]) not in keys:
                keys.append((entry["dataset"], entry["split"]))
    for split in ("iid", "ood"):
        if any(split in r["splits"] for _, r in results):
            keys.append((f"**all {split}**", split))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset, split in keys:
        cells, n = [], ""
        for _, r, readout in columns:
            entry = _find(r, dataset, split)
            n = n or (str(entry["n"]) if entry else "")
            cells.append(_cell(entry, readout) if entry else "–")
        lines.append("| " + " | ".join([dataset, split, n] + cells) + " |")
    legend = "\nCells: greedy exact match / choice scoring accuracy (%); – = not applicable.\n"
    return "\n".join(lines) + "\n" + legend


def summary_table(results: list[tuple[str, dict[str, Any]]]) -> str:
    """The compact table of a paper: a row per (run, readout), i.i.d. and o.o.d. accuracy over all their
    datasets, each as "greedy / choice" in %; n = examples per split."""
    splits = [s for s in ("iid", "ood") if any(s in r["splits"] for _, r in results)]
    header = ["run", "readout"] + [f"{s} (n)" for s in splits]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results:
        for readout in r["readouts"]:
            cells = []
            for split in splits:
                entry = r["splits"].get(split)
                cells.append(f"{_cell(entry, readout)} ({entry['n']})" if entry else "–")
            lines.append("| " + " | ".join([name, readout, *cells]) + " |")
    return "\n".join(lines) + "\n\nCells: greedy exact match / choice scoring accuracy (%).\n"


def _find(results: dict, dataset: str, split: str) -> dict | None:
    if dataset.startswith("**all "):
        return results["splits"].get(split)
    for entry in results["datasets"]:
        if entry["dataset"] == dataset and entry["split"] == split:
            return entry
    return None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_outputs(predictions: list[dict], results: dict, out_dir, name: str = "") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = results | {"name": name}
    _atomic_write(
        out / "predictions.jsonl", "".join(json.dumps(p, sort_keys=True) + "\n" for p in predictions)
    )
    _atomic_write(out / "results.json", json.dumps(results, indent=2, sort_keys=True) + "\n")
    _atomic_write(out / "results.md", markdown_table([(name, results)]))


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results.json written by `write_outputs`; a clear error if it is not one."""
    path = Path(path)
    results = read_json_object(path, "evaluation results")  # JsonFileError (a ValueError), one line
    for key, kind in (("readouts", list), ("datasets", list), ("splits", dict)):
        if key not in results:
            raise JsonFileError(
                f"{path}: field '{key}' missing; not a results.json of `python -m iclm evaluate`"
            )
        if not isinstance(results[key], kind):
            raise JsonFileError(f"{path}: field '{key}' must be a JSON {_JSON_NAMES[kind]}")
    for index, entry in enumerate(results["datasets"]):
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("dataset", "split"))):
            raise JsonFileError(f"{path}: datasets[{index}] is not an object with the strings dataset, split")
    for split, entry in results["splits"].items():
        if not isinstance(entry, dict):
            raise JsonFileError(f"{path}: splits[{split!r}] is not a JSON object")
    return results
