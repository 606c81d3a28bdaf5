"""Representation similarity between two modules' states: linear CKA (plain and debiased) and Pearson r.

x (N, D1) and y (N, D2) describe the same N examples/tokens row by row. Module x module matrices and the
grouped bootstrap tables (pandas) are in `analysis.similarity`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from iclm.metrics.bootstrap import Estimate, bootstrap_ci

logger = logging.getLogger(__name__)

Metric = Literal["cka", "cka_debiased", "correlation"]


@dataclass(frozen=True)
class CorrelationSummary:
    """Summary of the (D1, D2) Pearson cross-correlation matrix between two modules' features.

    mean_abs: mean |r| over all feature pairs; max_abs: largest |r|; median_abs: median |r|;
    frac_above_half: fraction of pairs with |r| > 0.5; paired_mean_abs: mean |r| between feature j of one
    module and feature j of the other (NaN when D1 != D2); n_constant: zero-variance features (their r is 0).
    """

    mean_abs: float
    max_abs: float
    median_abs: float
    frac_above_half: float
    paired_mean_abs: float
    n_constant: int


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_pair(x: np.ndarray, y: np.ndarray, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """x (N, D1), y (N, D2) as float64, checked: 2-D, finite, the same N, at least ``min_rows`` rows."""
    x, y = _as_2d(x, "x"), _as_2d(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} rows, got {x.shape[0]}")
    return x, y


def _debiased_dot(
    xty_sq: float, rows_x: np.ndarray, rows_y: np.ndarray, nx: float, ny: float, n: int
) -> float:
    """Unbiased HSIC (Song et al. 2012) up to the factor 1/(n(n-3)), from feature-space quantities."""
    return xty_sq - n / (n - 2.0) * float(rows_x @ rows_y) + nx * ny / ((n - 1) * (n - 2))


def linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA (Kornblith et al., 2019) between two representations of the same N inputs.

    Args:
        x: (N, D1) states; y: (N, D2) states.
        debiased: use the unbiased HSIC estimator (Song et al., 2012), as in Kornblith's reference code.
            Plain CKA is biased upwards for small N / large D (independent data gives CKA >> 0);
            the debiased form is near 0 for independent data but can be slightly negative.
    Returns:
        CKA in [0, 1] (debiased: may fall slightly outside); 0 (with a warning) when a representation is
        constant. Invariant to orthogonal transforms and isotropic scaling of either input. Computed in
        feature space: O(N * D1 * D2), no N x N Gram matrix.
    """
    x, y = check_pair(x, y, min_rows=4 if debiased else 2)
    x = x - x.mean(axis=0, keepdims=True)  # (N, D1)
    y = y - y.mean(axis=0, keepdims=True)  # (N, D2)
    if not debiased:  # ||Y^T X||^2 / (||X^T X|| ||Y^T Y||), in the order the training probe has logged it
        cross = float(np.linalg.norm(y.T @ x, ord="fro") ** 2)
        denom = float(np.linalg.norm(x.T @ x, ord="fro") * np.linalg.norm(y.T @ y, ord="fro"))
        return _ratio(cross, denom)
    xty = float(np.linalg.norm(x.T @ y) ** 2)
    xtx = float(np.linalg.norm(x.T @ x) ** 2)
    yty = float(np.linalg.norm(y.T @ y) ** 2)
    n = x.shape[0]
    rows_x = np.einsum("ij,ij->i", x, x)  # (N,) squared row norms = diag of the Gram matrix
    rows_y = np.einsum("ij,ij->i", y, y)
    nx, ny = float(rows_x.sum()), float(rows_y.sum())
    xty = _debiased_dot(xty, rows_x, rows_y, nx, ny, n)
    xtx = _debiased_dot(xtx, rows_x, rows_x, nx, nx, n)
    yty = _debiased_dot(yty, rows_y, rows_y, ny, ny, n)
    return _ratio(xty, float(np.sqrt(max(xtx, 0.0) * max(yty, 0.0))))


def _ratio(cross: float, denom: float) -> float:
    if denom == 0.0:
        logger.warning("linear_cka: a representation is constant; returning 0")
        return 0.0
    return float(cross / denom)


def correlation_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation between every feature of x and every feature of y.

    Args:
        x: (N, D1); y: (N, D2).
    Returns:
        (D1, D2) matrix of r; features with zero variance get r = 0.
    """
    x, y = check_pair(x, y, min_rows=2)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    sx = np.sqrt((xc**2).sum(axis=0))  # (D1,)
    sy = np.sqrt((yc**2).sum(axis=0))  # (D2,)
    sx_safe = np.where(sx > 0, sx, 1.0)
    sy_safe = np.where(sy > 0, sy, 1.0)
    r = (xc / sx_safe).T @ (yc / sy_safe)  # (D1, D2)
    r[sx == 0, :] = 0.0
    r[:, sy == 0] = 0.0
    return np.clip(r, -1.0, 1.0)


def mean_abs_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Mean |Pearson r| over all (feature of x, feature of y) pairs: x (N, D1), y (N, D2)."""
    return float(np.abs(correlation_matrix(x, y)).mean())


def paired_mean_abs_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over features j of |corr(x[:, j], y[:, j])| across the N examples. x, y: (N, D).

    The training probe's `pearson`. Unlike `CorrelationSummary.paired_mean_abs`, features constant in
    either input are left out of the mean (not counted as r = 0), and fewer than two rows give 0.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum(axis=0))  # (D,)
    valid = denom > 1e-12
    if not valid.any():
        return 0.0
    corr = (xc * yc).sum(axis=0)[valid] / denom[valid]
    return float(np.abs(corr).mean())


def correlation_summary(x: np.ndarray, y: np.ndarray) -> CorrelationSummary:
    """Full summary of the feature cross-correlation between x (N, D1) and y (N, D2)."""
    r = np.abs(correlation_matrix(x, y))  # (D1, D2)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    paired = float(np.abs(np.diag(r)).mean()) if r.shape[0] == r.shape[1] else float("nan")
    n_constant = int((x.std(axis=0) == 0).sum() + (y.std(axis=0) == 0).sum())
    return CorrelationSummary(
        mean_abs=float(r.mean()),
        max_abs=float(r.max()),
        median_abs=float(np.median(r)),
        frac_above_half=float((r > 0.5).mean()),
        paired_mean_abs=paired,
        n_constant=n_constant,
    )


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "cka": lambda x, y: linear_cka(x, y, debiased=False),
    "cka_debiased": lambda x, y: linear_cka(x, y, debiased=True),
    "correlation": mean_abs_correlation,
}


def get_metric(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The metric function by name; unknown names raise ValueError listing the valid ones."""
    from iclm.validation import check_registered

    check_registered("metric", metric, METRICS)
    return METRICS[metric]


def bootstrap_similarity(
    x: np.ndarray,
    y: np.ndarray,
    metric: Metric = "cka",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Similarity of x (N, D1) and y (N, D2) with a seeded bootstrap CI over rows (examples/tokens).

    Resampling duplicates rows; for debiased CKA duplicates act as perfectly correlated pairs, so its
    bootstrap distribution sits slightly above the point estimate for independent data.
    """
    fn = get_metric(metric)
    x, y = check_pair(x, y, min_rows=4)
    return bootstrap_ci(lambda idx: fn(x[idx], y[idx]), x.shape[0], n_boot=n_boot, seed=seed, level=level)
