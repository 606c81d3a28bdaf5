"""Wilson intervals, McNemar's exact test, chance and majority baselines against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iclm.evaluation.statistics import (
    accuracy_interval,
    chance_accuracy,
    difference_interval,
    majority_accuracy,
    mcnemar,
    paired_difference_interval,
    wilson_interval,
)


def test_wilson_interval_matches_hand_computed_values():
    # 8 of 10: p = 0.8, z = 1.96; centre = (0.8 + 0.19208) / 1.38415 = 0.71682,
    # half = 1.96 * sqrt(0.016 + 0.0096040) / 1.38415 = 0.22657 -> [0.4902, 0.9433]
    interval = wilson_interval(8, 10)
    assert interval.accuracy == 0.8 and interval.n == 10 and interval.correct == 8
    assert interval.low == pytest.approx(0.4902, abs=1e-4)
    assert interval.high == pytest.approx(0.9433, abs=1e-4)
    # 0 of 20 and 20 of 20: not degenerate, inside [0, 1]
    zero, full = wilson_interval(0, 20), wilson_interval(20, 20)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.1611, abs=1e-4)
    assert full.high == 1.0 and full.low == pytest.approx(0.8389, abs=1e-4)
    assert accuracy_interval([True, False, True, True]) == wilson_interval(3, 4)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
        ((0, 10), (0, 20), -0.1611, 0.2775),
        ((10, 10), (0, 20), 0.6791, 1.0),
    ],
)
def test_difference_interval_matches_newcombes_published_values(a, b, low, high):
    got = difference_interval(*a, *b)
    assert got.difference == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert got.low == pytest.approx(low, abs=1e-4) and got.high == pytest.approx(high, abs=1e-4)
    flipped = difference_interval(*b, *a)  # swapping the samples mirrors the interval
    assert flipped.low == pytest.approx(-got.high) and flipped.high == pytest.approx(-got.low)


def test_wilson_interval_narrows_with_n_and_rejects_bad_counts():
    assert wilson_interval(300, 400).high - wilson_interval(300, 400).low < 0.09
    assert wilson_interval(30, 40).high - wilson_interval(30, 40).low > 0.25
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.accuracy) and (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= correct <= n"):
        wilson_interval(5, 4)


def test_mcnemar_exact_p_values():
    # discordant 10 vs 2: p = 2 * P(X <= 2 | n=12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 0.03857
    a = [True] * 10 + [False] * 2 + [True] * 5 + [False] * 3
    b = [False] * 10 + [True] * 2 + [True] * 5 + [False] * 3
    result = mcnemar(a, b)
    assert (result.both_right, result.only_a, result.only_b, result.both_wrong) == (5, 10, 2, 3)
    assert result.p_value == pytest.approx(2 * 79 / 4096)
    assert mcnemar([True, False], [True, False]).p_value == 1.0  # no discordant pair
    assert mcnemar([True, False], [False, True]).p_value == 1.0  # 1 vs 1
    with pytest.raises(ValueError, match="same examples"):
        mcnemar([True], [True, False])


def test_chance_and_majority():
    assert chance_accuracy([3, 8]) == pytest.approx((1 / 3 + 1 / 8) / 2)
    assert chance_accuracy([3, 0, 8]) == pytest.approx((1 / 3 + 1 / 8) / 2)  # open answers left out
    assert chance_accuracy([0, 0]) is None
    assert majority_accuracy(["on", "on", "off", "undetermined"]) == 0.5
    assert majority_accuracy([]) is None


def _rows(flags: list[bool], dataset: str = "d", split: str = "iid") -> list[dict]:
    return [
        {
            "id": f"{dataset}:{i}",
            "dataset": dataset,
            "split": split,
            "readouts": {"model": {"choice_correct": f}},
        }
        for i, f in enumerate(flags)
    ]


def test_paired_comparison_pairs_rows_by_id_and_tests_each_dataset():
    from iclm.evaluation.compare import paired_comparison

    a = _rows([True, True, True, False, True, True]) + _rows([True, False], "e", "ood")
    b = _rows([True, False, False, False, False, True]) + _rows([False, True], "e", "ood")
    results = paired_comparison(a, list(reversed(b)))  # order does not matter: rows pair by id
    by_name = {r.dataset: r for r in results}
    assert set(by_name) == {"d", "e", "all iid", "all ood"}
    d = by_name["d"]
    assert (d.n, d.accuracy_a, d.accuracy_b) == (6, 5 / 6, 2 / 6)
    assert (d.test.both_right, d.test.only_a, d.test.only_b, d.test.both_wrong) == (2, 3, 0, 1)
    assert d.test.p_value == pytest.approx(0.25)  # exact two-sided binomial, 3 discordant pairs all for A
    assert by_name["e"].test.p_value == 1.0


def test_paired_comparison_refuses_different_examples():
    from iclm.evaluation.compare import paired_comparison

    with pytest.raises(ValueError, match="different examples"):
        paired_comparison(_rows([True, False]), _rows([True]))


def test_paired_difference_interval_covers_the_true_change_at_its_level():
    """2,000 simulated before/after evaluations of 50 examples (both right 0.30, only before 0.15, only after
    0.05, neither 0.50: a true change of -0.10): about 95% of the intervals hold it."""
    rng = np.random.default_rng(0)
    cells = rng.choice(4, size=(2000, 50), p=[0.30, 0.15, 0.05, 0.50])
    covered = 0
    for row in cells:
        before, after = np.isin(row, (0, 1)), np.isin(row, (0, 2))
        got = paired_difference_interval(before.tolist(), after.tolist())
        assert got.difference == pytest.approx(after.mean() - before.mean())
        covered += got.low <= -0.10 <= got.high
    assert 0.93 <= covered / len(cells) <= 0.97, covered / len(cells)


def test_paired_difference_interval_is_not_degenerate_without_changes_and_mirrors():
    same = [True] * 20 + [False] * 30
    still = paired_difference_interval(same, same)
    assert still.difference == 0.0 and still.low < -0.03 and still.high > 0.03  # a bootstrap gives [0, 0]
    before, after = [True] * 30 + [False] * 20, [True] * 20 + [False] * 30
    got, flipped = paired_difference_interval(before, after), paired_difference_interval(after, before)
    assert got.low < -0.2 < got.high < 0 and flipped.low == pytest.approx(-got.high)
    assert paired_difference_interval([True], [True]).high <= 1.0
    with pytest.raises(ValueError, match="same examples"):
        paired_difference_interval([True], [True, False])
