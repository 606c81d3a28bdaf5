"""Uncertainty of accuracies: Wilson intervals, paired McNemar tests, chance and majority baselines.

Every accuracy the project reports carries its n and a 95% Wilson score interval (it stays inside [0, 1]
and is not degenerate at 0% or 100%, unlike the normal approximation). Two models scored on the same
examples are compared with McNemar's exact test on the discordant pairs (the examples exactly one of them
gets right), which is what a paired comparison needs: the examples shared by both are not independent
samples of each model's accuracy. Two accuracies on *different* examples (a model's i.i.d. set against an
o.o.d. set) are compared by the difference of their proportions with Newcombe's hybrid score interval,
built from the two Wilson intervals (Newcombe 1998, method 10).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Interval:
    """An accuracy with its count and 95% Wilson interval (fractions in [0, 1])."""

    accuracy: float
    correct: int
    n: int
    low: float
    high: float


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of A and B on the same examples: counts of each agreement cell and the exact
    two-sided p-value on the discordant pairs (1.0 when there are none)."""

    both_right: int
    only_a: int
    only_b: int
    both_wrong: int
    p_value: float


def wilson_interval(correct: int, n: int, z: float = Z_95) -> Interval:
    """Accuracy correct/n with its Wilson score interval; n == 0 gives the uninformative [0, 1]."""
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return Interval(float("nan"), 0, 0, 0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, correct, n, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Difference:
    """Accuracy a - b of two independent samples with its 95% Newcombe interval (fractions in [-1, 1])."""

    difference: float
    low: float
    high: float


def difference_interval(correct_a: int, n_a: int, correct_b: int, n_b: int, z: float = Z_95) -> Difference:
    """Newcombe's hybrid score interval of p_a - p_b for independent samples (no continuity correction):
    it stays inside [-1, 1] and, like the Wilson interval it is built from, is not degenerate at 0 or 1."""
    a, b = wilson_interval(correct_a, n_a, z), wilson_interval(correct_b, n_b, z)
    if n_a == 0 or n_b == 0:
        return Difference(float("nan"), -1.0, 1.0)
    pa, pb = a.accuracy, b.accuracy
    low = pa - pb - math.sqrt((pa - a.low) ** 2 + (b.high - pb) ** 2)
    high = pa - pb + math.sqrt((a.high - pa) ** 2 + (pb - b.low) ** 2)
    return Difference(pa - pb, max(-1.0, low), min(1.0, high))


def paired_difference_interval(before: Sequence[bool], after: Sequence[bool], z: float = Z_95) -> Difference:
    """Accuracy after - before on the same examples with Newcombe's square-and-add interval for paired
    proportions (1998, method 10: the two Wilson intervals combined with the estimated correlation of the
    pairs, continuity-corrected as he gives it). Unlike a bootstrap over the examples it is not degenerate
    when no example changed (a bootstrap then gives [0, 0])."""
    if len(before) != len(after):
        raise ValueError(f"paired outcomes need the same examples: {len(before)} vs {len(after)}")
    n = len(before)
    if n == 0:
        return Difference(float("nan"), -1.0, 1.0)
    both = sum(1 for x, y in zip(before, after, strict=True) if x and y)
    lost = sum(1 for x, y in zip(before, after, strict=True) if x and not y)
    gained = sum(1 for x, y in zip(before, after, strict=True) if y and not x)
    neither = n - both - lost - gained
    p_after, p_before = (both + gained) / n, (both + lost) / n
    wa, wb = wilson_interval(both + gained, n, z), wilson_interval(both + lost, n, z)
    margins = (both + gained) * (lost + neither) * (both + lost) * (gained + neither)
    cross = both * neither - gained * lost
    if margins == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    else:
        phi = (cross - n / 2 if cross > n / 2 else cross) / math.sqrt(margins)
    d_after_low, d_after_high = p_after - wa.low, wa.high - p_after
    d_before_low, d_before_high = p_before - wb.low, wb.high - p_before
    estimate = p_after - p_before
    low = estimate - math.sqrt(d_after_low**2 + d_before_high**2 - 2 * phi * d_after_low * d_before_high)
    high = estimate + math.sqrt(d_before_low**2 + d_after_high**2 - 2 * phi * d_before_low * d_after_high)
    return Difference(estimate, max(-1.0, low), min(1.0, high))


def accuracy_interval(outcomes: Sequence[bool]) -> Interval:
    """Wilson interval of a list of per-example outcomes."""
    return wilson_interval(sum(bool(x) for x in outcomes), len(outcomes))


def _binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials at p = 1/2 (doubled smaller tail, capped at 1)."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> McNemar:
    """McNemar's exact test between two models' per-example outcomes on the same examples (same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same examples: {len(a)} vs {len(b)}")
    cells = Counter((bool(x), bool(y)) for x, y in zip(a, b, strict=True))
    only_a, only_b = cells[(True, False)], cells[(False, True)]
    return McNemar(
        both_right=cells[(True, True)],
        only_a=only_a,
        only_b=only_b,
        both_wrong=cells[(False, False)],
        p_value=_binomial_two_sided(only_a, only_a + only_b),
    )


def chance_accuracy(num_choices: Sequence[int]) -> float | None:
    """Expected accuracy of a uniform guess among each example's choices, from their numbers of choices
    (0 = an open answer, left out); None when no example has choices."""
    sizes = [n for n in num_choices if n > 0]
    if not sizes:
        return None
    return sum(1 / s for s in sizes) / len(sizes)


def majority_accuracy(answers: Sequence[str]) -> float | None:
    """Accuracy of always answering the most frequent gold answer (None without answers)."""
    if not answers:
        return None
    return Counter(answers).most_common(1)[0][1] / len(answers)
