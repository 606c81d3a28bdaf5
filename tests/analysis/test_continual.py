"""analysis/continual.py: before/after accuracy with paired intervals, routing over training and the
invariant module's drift."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.continual import before_after, invariant_drift, routing_over_training
from iclm.evaluation.statistics import mcnemar, wilson_interval


def _row(i, dataset, correct, split="iid"):
    return {"id": i, "dataset": dataset, "split": split, "readouts": {"model": {"choice_correct": correct}}}


def test_before_after_pairs_by_id_and_gives_forgetting_for_old_tasks_only():
    before = [
        _row("a1", "old", True),
        _row("a2", "old", True),
        _row("a3", "old", True),
        _row("a4", "old", False),
    ]
    before += [_row("n1", "new", False), _row("n2", "new", False), _row("x", "old", True)]  # x: before only
    after = [
        _row("a4", "old", False),
        _row("a3", "old", False),
        _row("a2", "old", True),
        _row("a1", "old", True),
    ]
    after += [_row("n1", "new", True), _row("n2", "new", False)]
    table = before_after(before, after, new_datasets=["new"]).set_index("dataset")
    old, new = table.loc["old"], table.loc["new"]
    assert (old["n"], old["role"], new["role"]) == (4, "old", "new")
    assert (old["before"], old["after"], old["change"]) == (0.75, 0.5, -0.25)
    assert old["forgetting"] == 0.25 and np.isnan(new["forgetting"])  # no forgetting of a new task
    assert (old["before low"], old["before high"]) == pytest.approx(
        (wilson_interval(3, 4).low, wilson_interval(3, 4).high)
    )
    assert old["change low"] <= -0.25 <= old["change high"]
    assert old["McNemar p"] == mcnemar([True, True, True, False], [True, True, False, False]).p_value
    assert new["change"] == 0.5


def test_routing_over_training_is_tidy():
    records = [
        {"step": 10, "probe_routing_by_dataset": {"old": {"domain_0": 1.0, "domain_1": 0.0}}},
        {"step": 20, "loss": 1.0},
        {"step": 30, "probe_routing_by_dataset": {"new": {"domain_0": 0.25, "domain_1": 0.75}}},
    ]
    frame = routing_over_training(records)
    assert len(frame) == 4 and frame.query("step == 30 and domain == 'domain_1'")["share"].item() == 0.75
    assert list(routing_over_training([]).columns) == ["step", "dataset", "domain", "share"]


def test_invariant_drift_matches_examples_by_id_and_is_one_for_a_rotation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 6))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    ids = [f"e{i}" for i in range(20)]
    order = rng.permutation(20)
    same = invariant_drift(x, ids, (2.0 * x @ rotation)[order], [ids[k] for k in order], n_boot=50)
    assert same.cka == pytest.approx(1.0) and same.n == 20
    moved = invariant_drift(x, ids, rng.normal(size=(20, 6)), ids, n_boot=50)
    assert moved.cka < 0.9 and moved.low <= moved.cka <= moved.high
    with pytest.raises(ValueError, match="3 examples"):
        invariant_drift(x, ids, x[:2], ["e0", "zz"])


def test_pooled_forgetting_weighs_every_old_example_once_and_leaves_new_tasks_out():
    from analysis.continual import pooled_forgetting

    kept = [_row(f"b{k}", "old_b", k < 2) for k in range(4)]  # the same 2 of 4 right on both sides
    before = [_row(f"a{k}", "old_a", True) for k in range(4)] + kept
    after = [_row(f"a{k}", "old_a", k < 1) for k in range(4)] + kept
    before += [_row("n1", "new", False)]
    after += [_row("n1", "new", True)]  # learned: not a negative forgetting in the pool
    pooled = pooled_forgetting(before, after, new_datasets=["new"])
    assert (pooled.n, pooled.datasets) == (8, 2)
    assert (pooled.before, pooled.after) == (6 / 8, 3 / 8)
    assert pooled.forgetting == pytest.approx(3 / 8)
    assert pooled.low <= 3 / 8 <= pooled.high  # 3 lost, none gained: McNemar p = 0.25, the interval holds 0
    assert pooled.low < 0 and pooled.high < 1
    expected = mcnemar([True] * 6 + [False] * 2, [True] * 3 + [False] * 5)
    assert pooled.p_value == pytest.approx(expected.p_value)
    assert pooled_forgetting(before[-1:], after[-1:], new_datasets=["new"]) is None  # no old example


def test_parent_on_new_task_completes_the_parent_and_never_overrides_its_own_rows():
    from analysis.continual import with_parent_on_new_task

    parent = [_row("a1", "old", True)]
    extra = [_row("a1", "old", False), _row("n1", "new", True)]
    merged = with_parent_on_new_task(parent, extra)
    kept = [(r["id"], r["readouts"]["model"]["choice_correct"]) for r in merged]
    assert kept == [("a1", True), ("n1", True)]


def test_a_dataset_without_choices_is_scored_by_greedy_match_under_choice_scoring():
    """PVR's answers are free-form: no choice_correct; its row uses greedy exact match and says so."""

    def greedy(i, correct):
        return {"id": i, "dataset": "pvr", "split": "iid", "readouts": {"model": {"greedy_correct": correct}}}

    before = [_row("a1", "old", True), greedy("p1", False), greedy("p2", False)]
    after = [_row("a1", "old", True), greedy("p1", True), greedy("p2", False)]
    table = before_after(before, after, new_datasets=["pvr"]).set_index("dataset")
    assert table.loc["pvr", "scoring"] == "greedy" and table.loc["old", "scoring"] == "choice"
    assert (table.loc["pvr", "before"], table.loc["pvr", "after"]) == (0.0, 0.5)


def test_the_change_carries_newcombes_paired_interval_even_when_nothing_changed():
    from iclm.evaluation.statistics import paired_difference_interval

    rows = [_row(f"a{k}", "old", k < 3) for k in range(10)]
    table = before_after(rows, rows, new_datasets=[]).set_index("dataset")
    expected = paired_difference_interval([k < 3 for k in range(10)], [k < 3 for k in range(10)])
    low, high = table.loc["old", "change low"], table.loc["old", "change high"]
    assert (low, high) == pytest.approx((expected.low, expected.high)) and low < 0 < high


def test_no_change_is_a_forgetting_of_plus_zero_not_minus_zero():
    from analysis.continual import pooled_forgetting

    rows = [_row(f"a{k}", "old", k < 3) for k in range(10)]
    assert f"{pooled_forgetting(rows, rows, new_datasets=[]).forgetting:+.1f}" == "+0.0"
    assert f"{before_after(rows, rows, new_datasets=[])['forgetting'].iloc[0]:+.1f}" == "+0.0"
