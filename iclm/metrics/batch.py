"""The `batch` MI estimator: the paper's training-time penalty (`iclm.mi.batch_mi`) on two modules' states.

A softmax over features turns every state into a distribution; the estimate measures dependence between
*feature-activation distributions*, not the MI of the continuous states, and is comparable only with itself
(same D, same softmax temperature). Its bootstrap resamples rows.
"""

from __future__ import annotations

import numpy as np

from iclm.metrics.arrays import paired_rows
from iclm.metrics.bootstrap import Estimate, bootstrap_ci


def batch_mi_value(x: np.ndarray, y: np.ndarray) -> float:
    """The paper's batch estimator (``iclm.mi.batch_mi``) on x (N, D) and y (N, D) (same D).

    Assumes nothing about the state distribution: each row is softmaxed over its D features; the estimate is
    KL(joint || product) of the resulting feature distributions (>= 0, bounded by log D).
    """
    import torch

    from iclm.mi import batch_mi

    x, y = paired_rows(x, y, min_rows=1)
    return float(batch_mi(torch.from_numpy(x), torch.from_numpy(y)))


class BatchEstimator:
    """`batch_mi_value`; deterministic, so ``seed`` only seeds the bootstrap."""

    def value(self, x: np.ndarray, y: np.ndarray, seed: int = 0, **kwargs) -> float:
        return batch_mi_value(x, y, **kwargs)

    def interval(
        self, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, level: float, **kwargs
    ) -> Estimate:
        return bootstrap_ci(lambda idx: batch_mi_value(x[idx], y[idx], **kwargs), len(x), n_boot, seed, level)
