"""analysis.accuracy: Wilson intervals against hand-computed values, results completed from predictions,
chance and majority per dataset and split."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.accuracy import (
    cell,
    dataset_accuracy,
    dataset_baselines,
    split_accuracy,
    split_baselines,
    summed_intervals,
    with_statistics,
)

# Old-format results.json (no intervals, no baselines), as the shipped checkpoints have.
OLD = {
    "readouts": ["model", "invariant"],
    "datasets": [
        {"dataset": "acre", "split": "iid", "n": 32, "choice": {"model": 9 / 32, "invariant": 0.5}},
        {"dataset": "raven", "split": "ood", "n": 8, "choice": {"model": 0.0}},
    ],
    "splits": {"iid": {"n": 32, "choice": {"model": 9 / 32}}, "ood": {"n": 64, "choice": {"model": 12 / 64}}},
}


@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [(9, 32, 0.1556, 0.4537), (12, 64, 0.1106, 0.2997), (0, 8, 0.0, 0.3244), (8, 8, 0.6756, 1.0)],
)
def test_wilson_interval_of_a_cell_matches_hand_computed_values(correct, n, low, high):
    """Hand-computed with z = 1.96: centre (p + z^2/2n) / (1 + z^2/n), half-width
    z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)."""
    found = cell({"n": n, "choice": {"model": correct / n}}, "choice", "model")
    assert found["correct"] == correct and found["n"] == n
    assert found["low"] == pytest.approx(low, abs=1e-4) and found["high"] == pytest.approx(high, abs=1e-4)


def test_split_rows_carry_n_and_intervals():
    rows = split_accuracy([("run", OLD)], "choice")
    iid = rows[rows["split"] == "iid"].iloc[0]
    assert (iid["n"], iid["correct"]) == (32, 9) and iid["low"] == pytest.approx(0.1556, abs=1e-4)
    assert set(rows["dataset"]) == {"all"}
    per_dataset = dataset_accuracy("run", OLD, "choice")
    assert len(per_dataset) == 3 and per_dataset["low"].le(per_dataset["accuracy"]).all()


def test_stored_intervals_are_used_as_written():
    entry = {"n": 10, "choice": {"model": 0.5}}
    entry["intervals"] = {
        "choice": {"model": {"accuracy": 0.5, "correct": 4, "n": 8, "low": 0.1, "high": 0.9}}
    }
    assert cell(entry, "choice", "model")["n"] == 8  # per-readout n of the evaluation, not the dataset's


def _prediction(dataset, split, gold, correct, num_choices=None):
    row = {"dataset": dataset, "split": split, "gold": gold, "id": f"{dataset}:{gold}:{correct}"}
    row["readouts"] = {"model": {"choice": gold, "choice_correct": correct}}
    return row | ({} if num_choices is None else {"num_choices": num_choices})


def test_old_results_are_completed_from_their_predictions():
    predictions = [_prediction("acre", "iid", g, c) for g, c in [("on", True), ("on", False), ("off", True)]]
    results = {"readouts": ["model"], "datasets": [{"dataset": "acre", "split": "iid", "n": 3}], "splits": {}}
    completed = with_statistics(results, predictions)
    entry = completed["datasets"][0]
    assert entry["intervals"]["choice"]["model"]["correct"] == 2
    assert entry["majority"] == pytest.approx(2 / 3) and entry["chance"] is None  # no num_choices recorded
    baselines = dataset_baselines(completed)
    assert math.isnan(baselines["chance"].iloc[0]) and baselines["majority"].iloc[0] == pytest.approx(2 / 3)


def test_split_baselines_are_example_weighted():
    baselines = pd.DataFrame(
        {"dataset": ["a", "b"], "split": ["iid", "iid"], "n": [30, 10], "chance": [1 / 3, 1 / 8],
         "majority": [0.5, 0.25]}
    )  # fmt: skip
    (row,) = split_baselines(baselines).itertuples(index=False)
    assert row.n == 40 and row.chance == pytest.approx((30 / 3 + 10 / 8) / 40)
    assert row.majority == pytest.approx((15 + 2.5) / 40)


def test_summed_intervals_from_counts():
    summary = pd.DataFrame(
        {"intervention": ["none", "none", "drop"], "split": ["iid", "iid", "iid"], "n_correct": [4, 5, 0],
         "n_scored": [16, 16, 0]}
    )  # fmt: skip
    rows = summed_intervals(summary, ["intervention", "split"])
    assert rows["intervention"].tolist() == ["none"]  # nothing scored: left out, not a 0% bar
    assert (rows["n"].item(), rows["correct"].item()) == (32, 9)
    assert rows["low"].item() == pytest.approx(0.1556, abs=1e-4)
