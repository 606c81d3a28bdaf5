"""The `binned` MI estimator: a plug-in estimate on a 2-D histogram of each side's first principal component.

Equiprobable (quantile) bins, B = ceil(sqrt(N / 5)) per axis (at most 64), Miller-Madow bias correction.
Sees only one direction per module, so it is a lower bound on the states' MI up to estimation error.
"""

from __future__ import annotations

import math

import numpy as np

from iclm.metrics.arrays import first_component, paired_rows
from iclm.metrics.bootstrap import Estimate, bootstrap_ci

MAX_BINS = 64


def _quantile_bins(v: np.ndarray, bins: int) -> np.ndarray:
    edges = np.quantile(v, np.linspace(0.0, 1.0, bins + 1))  # equiprobable bins
    return np.clip(np.searchsorted(edges, v, side="right") - 1, 0, bins - 1)


def default_bins(n: int) -> int:
    """The bin rule: B = ceil(sqrt(N / 5)) equiprobable bins per axis, between 2 and 64."""
    return int(min(MAX_BINS, max(2, math.ceil(math.sqrt(n / 5.0)))))


def binned_terms(
    x: np.ndarray, y: np.ndarray, bins: int | None = None, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Pointwise plug-in terms log p(i, j) / (p(i) p(j)) (N,) and the Miller-Madow correction.

    See ``binned_mi`` for the arguments.
    """
    x, y = paired_rows(x, y, min_rows=4)
    bins = default_bins(x.shape[0]) if bins is None else bins
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    ix = _quantile_bins(first_component(x, seed), bins)  # (N,)
    iy = _quantile_bins(first_component(y, seed), bins)
    counts = np.zeros((bins, bins))
    np.add.at(counts, (ix, iy), 1.0)
    n = x.shape[0]
    p = counts / n  # (B, B) joint
    px, py = p.sum(axis=1), p.sum(axis=0)
    terms = np.log(p[ix, iy] / (px[ix] * py[iy]))  # (N,); every sample's own cell is occupied
    correction = ((p > 0).sum() - (px > 0).sum() - (py > 0).sum() + 1) / (2.0 * n)
    return terms, float(correction)


def binned_mi(x: np.ndarray, y: np.ndarray, bins: int | None = None, seed: int = 0) -> float:
    """Histogram (plug-in) MI in nats with Miller-Madow correction, on each side's first principal component.

    Args:
        x: (N,) or (N, Dx); y: (N,) or (N, Dy).
        bins: equiprobable bins per axis; default ``default_bins(N)``. Coarse bins bias the estimate down
            (discretisation), fine bins bias it up (finite samples); Miller-Madow subtracts the leading
            up-bias (K_xy - K_x - K_y + 1) / (2N), K = occupied cells.
    """
    terms, correction = binned_terms(x, y, bins, seed)
    return float(terms.mean()) - correction


class BinnedEstimator:
    """`binned_mi` (kwargs: bins). Resampling rows would add a second layer of finite-sample bias to the
    histogram, so the interval bootstraps the mean of the per-sample terms with the bins fixed on the full
    data (a little narrow, as for `ksg`)."""

    def value(self, x: np.ndarray, y: np.ndarray, seed: int = 0, **kwargs) -> float:
        return binned_mi(x, y, seed=seed, **kwargs)

    def interval(
        self, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, level: float, **kwargs
    ) -> Estimate:
        terms, correction = binned_terms(x, y, seed=seed, **kwargs)
        return bootstrap_ci(
            lambda idx: float(terms[idx].mean()) - correction, len(terms), n_boot, seed, level
        )
