"""Mutual information between two modules' states: the estimator registry and seeded bootstrap intervals.

Three estimators with different assumptions (all in nats), one file each:

- ``batch`` (`iclm.metrics.batch`): the paper's training-time estimator on softmaxed features; comparable
  only with itself.
- ``ksg`` (`iclm.metrics.ksg`): Kraskov-Stoegbauer-Grassberger estimator 1 on standardised, PCA-reduced
  states; low bias in few dimensions, biased towards 0 when dimension or MI is large.
- ``binned`` (`iclm.metrics.binned`): plug-in histogram of each side's first principal component with
  Miller-Madow correction; a lower bound on the states' MI up to estimation error.

A new estimator is one file with a class that has `value` and `interval` (see `MIEstimator`) plus one line
in `ESTIMATORS`. The module x module matrix (pandas) is `analysis.information.mi_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from iclm.metrics.arrays import paired_rows
from iclm.metrics.batch import BatchEstimator
from iclm.metrics.binned import BinnedEstimator
from iclm.metrics.bootstrap import Estimate
from iclm.metrics.ksg import KSGEstimator

Estimator = Literal["batch", "ksg", "binned"]


class MIEstimator(Protocol):
    """One MI estimator: a point estimate and a seeded percentile bootstrap interval, both in nats.

    x (N, Dx), y (N, Dy), rows paired; ``kwargs`` are the estimator's own options (k, pca_dims, bins).
    """

    def value(self, x: np.ndarray, y: np.ndarray, seed: int = 0, **kwargs) -> float: ...

    def interval(
        self, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, level: float, **kwargs
    ) -> Estimate: ...


ESTIMATORS: dict[str, MIEstimator] = {
    "batch": BatchEstimator(),
    "ksg": KSGEstimator(),
    "binned": BinnedEstimator(),
}


def get_estimator(name: str) -> MIEstimator:
    """The estimator registered as ``name``; unknown names raise ValueError listing the valid ones."""
    from iclm.validation import check_registered

    check_registered("estimator", name, ESTIMATORS)
    return ESTIMATORS[name]


@dataclass(frozen=True)
class MIResult:
    """An MI estimate (nats) with its bootstrap CI, the estimator name and the number of rows."""

    estimator: str
    estimate: Estimate
    n: int


def estimate_mi(
    x: np.ndarray,
    y: np.ndarray,
    estimator: Estimator = "ksg",
    n_boot: int = 100,
    seed: int = 0,
    level: float = 0.95,
    **kwargs,
) -> MIResult:
    """MI between x (N, Dx) and y (N, Dy) with a seeded percentile bootstrap CI.

    How each estimator bootstraps is its own (`batch` resamples rows; `ksg` and `binned` resample their
    per-sample terms). ``kwargs`` go to the estimator (k, pca_dims, bins).
    """
    fn = get_estimator(estimator)
    x, y = paired_rows(x, y, min_rows=4)
    est = fn.interval(x, y, n_boot, seed, level, **kwargs)
    return MIResult(estimator=estimator, estimate=est, n=int(x.shape[0]))
