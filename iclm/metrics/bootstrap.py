"""The seeded percentile bootstrap every interval in `iclm.metrics` uses, and its typed result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap confidence interval [low, high] at level ``level``."""

    value: float
    low: float
    high: float
    n_boot: int
    level: float


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Percentile bootstrap of ``statistic(indices)`` over n rows resampled with replacement.

    ``statistic`` receives an index array (n,) and returns a float; the point estimate uses all rows in order.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    value = statistic(np.arange(n))
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_boot)])
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return Estimate(value=float(value), low=float(low), high=float(high), n_boot=n_boot, level=level)
