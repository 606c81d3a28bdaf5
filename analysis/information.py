"""Mutual-information estimators between two modules' states, each with a seeded bootstrap CI.

Three estimators with different assumptions (all in nats):

- ``batch``: the paper's training-time estimator (``iclm.mi.batch_mi``): a softmax over features turns every
  state into a distribution; it measures dependence between *feature-activation distributions*, not the MI of
  the continuous states, and is comparable only with itself (same D, same softmax temperature).
- ``ksg``: Kraskov-Stoegbauer-Grassberger estimator 1 on standardised, PCA-reduced states: consistent for
  continuous variables, low bias in few dimensions, biased towards 0 when dimension or MI is large.
- ``binned``: plug-in estimate on a 2-D histogram of each side's first principal component with equiprobable
  (quantile) bins, B = ceil(sqrt(N / 5)) per axis (at most 64), Miller-Madow bias correction. Sees only one
  direction per module, so it is a lower bound on the states' MI up to estimation error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import digamma

from analysis.similarity import Estimate, bootstrap_ci

Estimator = Literal["batch", "ksg", "binned"]
MAX_BINS = 64


def _pair(x: np.ndarray, y: np.ndarray, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"x and y must be (N,) or (N, D) arrays, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} rows, got {x.shape[0]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x or y contains NaN or infinite values")
    return x, y


def batch_mi_value(x: np.ndarray, y: np.ndarray) -> float:
    """The paper's batch estimator (``iclm.mi.batch_mi``) on x (N, D) and y (N, D) (same D).

    Assumes nothing about the state distribution: each row is softmaxed over its D features; the estimate is
    KL(joint || product) of the resulting feature distributions (>= 0, bounded by log D).
    """
    import torch

    from iclm.mi import batch_mi

    x, y = _pair(x, y, min_rows=1)
    return float(batch_mi(torch.from_numpy(x), torch.from_numpy(y)))


def _standardise(z: np.ndarray) -> np.ndarray:
    std = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _reduce(z: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Standardise, then keep the first ``dims`` principal components when z is wider."""
    z = _standardise(z)
    if z.shape[1] <= dims:
        return z
    from sklearn.decomposition import PCA

    return _standardise(PCA(n_components=dims, random_state=seed).fit_transform(z))


def ksg_terms(x: np.ndarray, y: np.ndarray, k: int = 3, pca_dims: int = 8, seed: int = 0) -> np.ndarray:
    """Per-sample KSG-1 terms psi(k) + psi(N) - psi(n_x + 1) - psi(n_y + 1); their mean is the estimate.

    x (N, Dx), y (N, Dy) are standardised and PCA-reduced to ``pca_dims``; seeded noise of 1e-10 breaks ties
    (duplicates would give zero distances). Distances use the max-norm, as in Kraskov et al. (2004).
    """
    from sklearn.neighbors import KDTree, NearestNeighbors

    x, y = _pair(x, y, min_rows=k + 2)
    rng = np.random.default_rng(seed)
    x = _reduce(x, pca_dims, seed) + 1e-10 * rng.standard_normal(size=(x.shape[0], min(x.shape[1], pca_dims)))
    y = _reduce(y, pca_dims, seed) + 1e-10 * rng.standard_normal(size=(y.shape[0], min(y.shape[1], pca_dims)))
    joint = np.hstack([x, y])  # (N, Dx + Dy)
    nn = NearestNeighbors(metric="chebyshev", n_neighbors=k).fit(joint)
    eps = nn.kneighbors()[0][:, -1]  # (N,) distance to the k-th neighbour (self excluded)
    radius = np.nextafter(eps, 0)  # strictly closer than eps
    n_x = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True) - 1  # exclude self
    n_y = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    n = x.shape[0]
    return digamma(k) + digamma(n) - digamma(n_x + 1) - digamma(n_y + 1)  # (N,)


def ksg_mi(x: np.ndarray, y: np.ndarray, k: int = 3, pca_dims: int = 8, seed: int = 0) -> float:
    """KSG estimator 1 of I(X; Y) in nats for x (N, Dx), y (N, Dy); see ``ksg_terms``. Can be slightly < 0."""
    return float(ksg_terms(x, y, k, pca_dims, seed).mean())


def _first_component(z: np.ndarray, seed: int) -> np.ndarray:
    return _reduce(z, 1, seed)[:, 0] if z.shape[1] > 1 else z[:, 0]


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
    x, y = _pair(x, y, min_rows=4)
    bins = default_bins(x.shape[0]) if bins is None else bins
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    ix = _quantile_bins(_first_component(x, seed), bins)  # (N,)
    iy = _quantile_bins(_first_component(y, seed), bins)
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


@dataclass(frozen=True)
class MIResult:
    """An MI estimate (nats) with its bootstrap CI, the estimator name and the number of rows."""

    estimator: str
    estimate: Estimate
    n: int


ESTIMATORS: dict[str, Callable[..., float]] = {"batch": batch_mi_value, "ksg": ksg_mi, "binned": binned_mi}


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

    ``batch`` resamples rows. ``ksg`` and ``binned`` cannot (duplicated rows have zero distance, or add a
    second layer of finite-sample bias to the histogram, both inflating the estimate), so they bootstrap the
    mean of their per-sample terms with neighbours/bins fixed on the full data: this treats the terms as
    independent and ignores the density-estimation variance, so the interval is somewhat narrow.
    ``kwargs`` go to the estimator (k, pca_dims, bins).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is not one of {sorted(ESTIMATORS)}")
    x, y = _pair(x, y, min_rows=4)
    if estimator == "ksg":
        terms = ksg_terms(x, y, seed=seed, **kwargs)
        est = bootstrap_ci(lambda idx: float(terms[idx].mean()), len(terms), n_boot, seed, level)
    elif estimator == "binned":
        terms, correction = binned_terms(x, y, seed=seed, **kwargs)
        est = bootstrap_ci(lambda idx: float(terms[idx].mean()) - correction, len(terms), n_boot, seed, level)
    else:
        est = bootstrap_ci(lambda idx: batch_mi_value(x[idx], y[idx], **kwargs), len(x), n_boot, seed, level)
    return MIResult(estimator=estimator, estimate=est, n=int(x.shape[0]))


def mi_matrix(
    states: dict[str, np.ndarray], estimator: Estimator = "ksg", seed: int = 0, **kwargs
) -> pd.DataFrame:
    """Symmetric module x module MI (nats) between named states (each (N, D_m), rows aligned).

    The diagonal is the module's MI with itself (large for ``ksg``; finite for ``binned`` and ``batch``).
    ``batch`` needs equal widths D for every pair.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is not one of {sorted(ESTIMATORS)}")
    if not states:
        raise ValueError("states is empty: pass at least one named (N, D) array")
    fn = ESTIMATORS[estimator]
    if estimator != "batch":
        kwargs = {"seed": seed, **kwargs}
    names = list(states)
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="module"), columns=pd.Index(names, name="module"))
    for i, a in enumerate(names):
        for b in names[i:]:
            out.loc[a, b] = out.loc[b, a] = fn(states[a], states[b], **kwargs)
    return out
