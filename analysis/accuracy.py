"""Accuracy tables with their uncertainty: n, correct, 95% Wilson interval, and the chance and majority
baselines of each dataset and split, from results.json (and predictions.jsonl where results.json is older).

Each cell of results.json rests on 32-64 examples, so an accuracy without its n and interval cannot be read:
0.28 on 32 examples is [0.16, 0.45]. Newer results.json files carry the intervals (`intervals`) and the
baselines (`chance`, `majority`) the evaluation computed (`iclm.evaluation.report`); an older one is
completed from its predictions.jsonl by the evaluation's own `aggregate` (`with_statistics`, as
scripts/results_table.py does), and without predictions the interval is recomputed from accuracy x n (exact:
the accuracy is correct / n). Chance needs each example's number of choices, which older predictions did not
record: it is then missing (NaN), never guessed.

A split's baselines are the example-weighted means of its datasets': chance is then exactly the expected
accuracy of a uniform guess over the split's examples with choices (the ones choice scoring scores),
majority that of answering each dataset's most frequent gold answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from iclm.evaluation.report import aggregate
from iclm.evaluation.statistics import wilson_interval
from iclm.json_files import JsonFileError, iter_json_lines

COLUMNS = ["checkpoint", "readout", "dataset", "split", "n", "correct", "accuracy", "low", "high"]
BASELINE_COLUMNS = ["dataset", "split", "n", "chance", "majority"]


def cell(entry: dict[str, Any], method: str, readout: str) -> dict[str, float] | None:
    """{n, correct, accuracy, low, high} of one results.json cell (None where the readout has none)."""
    accuracy = entry.get(method, {}).get(readout)
    if accuracy is None:
        return None
    stored = entry.get("intervals", {}).get(method, {}).get(readout)
    if stored is not None:
        return {k: stored[k] for k in ("n", "correct", "accuracy", "low", "high")}
    n = int(entry["n"])
    interval = wilson_interval(int(round(accuracy * n)), n)
    return {
        "n": n,
        "correct": interval.correct,
        "accuracy": accuracy,
        "low": interval.low,
        "high": interval.high,
    }


def _rows(name: str, entries: Iterable[tuple[str, str, dict]], method: str) -> list[dict]:
    rows = []
    for dataset, split, entry in entries:
        for readout in entry.get(method, {}):
            found = cell(entry, method, readout)
            if found is not None:
                rows.append(
                    {"checkpoint": name, "readout": readout, "dataset": dataset, "split": split} | found
                )
    return rows


def split_accuracy(named_results: list[tuple[str, dict[str, Any]]], method: str) -> pd.DataFrame:
    """One row per (checkpoint, readout, split) with n, correct, accuracy and its 95% Wilson interval
    (dataset is "all")."""
    rows = []
    for name, results in named_results:
        entries = [("all", split, entry) for split, entry in results.get("splits", {}).items()]
        rows += _rows(name, entries, method)
    return pd.DataFrame(rows, columns=COLUMNS)


def dataset_accuracy(name: str, results: dict[str, Any], method: str) -> pd.DataFrame:
    """One row per (readout, dataset) of one checkpoint, with n, correct, accuracy and its interval."""
    entries = [(e["dataset"], e["split"], e) for e in results.get("datasets", [])]
    return pd.DataFrame(_rows(name, entries, method), columns=COLUMNS)


def read_predictions(path) -> list[dict]:
    """The rows of a predictions.jsonl (bad lines skipped: they cannot be scored)."""
    return [row for _, row in iter_json_lines(path, "predictions") if not isinstance(row, JsonFileError)]


def with_statistics(results: dict[str, Any], predictions: list[dict] | None) -> dict[str, Any]:
    """results.json with intervals, chance and majority: as written when it has them, else aggregated again
    from its predictions (same accuracies, per-readout n, Wilson intervals, baselines)."""
    has = all("intervals" in e and "majority" in e for e in results.get("datasets", []))
    if has or not predictions:
        return results
    return results | aggregate(predictions, list(results.get("readouts", [])))


def dataset_baselines(results: dict[str, Any]) -> pd.DataFrame:
    """Chance and majority accuracy per dataset (NaN where results.json has none)."""
    rows = [{k: entry.get(k) for k in BASELINE_COLUMNS} for entry in results.get("datasets", [])]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS).astype({"chance": float, "majority": float})


def split_baselines(baselines: pd.DataFrame) -> pd.DataFrame:
    """Per split: the example-weighted mean of its datasets' chance (over the datasets that have choices:
    choice scoring scores only those) and majority (NaN when no dataset has the value)."""
    rows = []
    for split, part in baselines.groupby("split", sort=True):
        row = {"dataset": "all", "split": split, "n": int(part["n"].sum())}
        for column in ("chance", "majority"):
            known = part[part[column].notna()]
            weights = known["n"].to_numpy(dtype=float)
            row[column] = float(np.average(known[column], weights=weights)) if len(known) else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def summed_intervals(summary: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Accuracy with its Wilson interval from correct/scored counts summed over the other columns
    (`summary`: columns `by` + n_correct, n_scored); groups with nothing scored are left out."""
    grouped = summary.groupby(by, sort=False)[["n_correct", "n_scored"]].sum().reset_index()
    grouped = grouped[grouped["n_scored"] > 0].reset_index(drop=True)
    intervals = [
        wilson_interval(int(c), int(n))
        for c, n in zip(grouped["n_correct"], grouped["n_scored"], strict=True)
    ]
    return grouped.assign(
        n=grouped["n_scored"].astype(int),
        correct=grouped["n_correct"].astype(int),
        accuracy=[i.accuracy for i in intervals],
        low=[i.low for i in intervals],
        high=[i.high for i in intervals],
    )[[*by, "n", "correct", "accuracy", "low", "high"]]
