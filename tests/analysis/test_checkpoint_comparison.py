"""analysis/checkpoint_comparison.py: agreement tables with McNemar's p and the examples of a cell."""

from __future__ import annotations

import pytest

from analysis.checkpoint_comparison import agreement_table, cell_examples, pair_rows
from iclm.evaluation.statistics import mcnemar, wilson_interval


def _row(i, dataset, a_right, split="iid", prediction="x"):
    return {
        "id": i, "dataset": dataset, "split": split, "gold": "x",
        "readouts": {"model": {"choice": prediction if a_right else "y", "choice_correct": a_right}},
    }  # fmt: skip


A = [
    _row("1", "d", True),
    _row("2", "d", True),
    _row("3", "d", False),
    _row("4", "d", False),
    _row("5", "e", True),
]
B = [_row("2", "d", False), _row("1", "d", True), _row("3", "d", True), _row("4", "d", False)]
B += [_row("6", "e", True)]  # 5 only in A, 6 only in B


def test_rows_are_paired_by_id_and_the_unmatched_counted():
    paired = pair_rows(A, B)
    assert [r["id"] for r in paired.a] == [r["id"] for r in paired.b] == ["1", "2", "3", "4"]
    assert (paired.only_in_a, paired.only_in_b) == (1, 1)


def test_the_agreement_table_counts_cells_and_tests_the_discordant_pairs():
    table = agreement_table(pair_rows(A, B)).set_index("dataset")
    d = table.loc["d"]
    assert (d["n"], d["both right"], d["only A"], d["only B"], d["both wrong"]) == (4, 1, 1, 1, 1)
    assert d["McNemar p"] == mcnemar([True, True, False, False], [True, False, True, False]).p_value
    assert (d["A low"], d["A high"]) == pytest.approx((wilson_interval(2, 4).low, wilson_interval(2, 4).high))
    assert table.loc["all iid", "n"] == 4  # the split's row


def test_a_cell_lists_its_examples_with_both_predictions():
    paired = pair_rows(A, B)
    only_a = cell_examples(paired, "d", "only A")
    assert list(only_a["id"]) == ["2"] and list(only_a["prediction B"]) == ["y"]
    assert list(cell_examples(paired, "all iid", "both wrong")["id"]) == ["4"]
    with pytest.raises(ValueError, match="cell="):
        cell_examples(paired, "d", "neither")
