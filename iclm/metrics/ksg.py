"""The `ksg` MI estimator: Kraskov-Stoegbauer-Grassberger estimator 1 on standardised, PCA-reduced states.

Consistent for continuous variables, low bias in few dimensions, biased towards 0 when dimension or MI is
large. Also the training probe's cheaper cross-check `ksg_mi_first_pcs` (sklearn's KSG on first components).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from iclm.metrics.arrays import first_component, paired_rows, reduce
from iclm.metrics.bootstrap import Estimate, bootstrap_ci

K = 3  # neighbours
PCA_DIMS = 8  # principal components kept of each side
MIN_ROWS = K + 2  # the fewest rows `ksg_terms` accepts with the default k


def ksg_dims(n_rows: int, n_features: int, pca_dims: int = PCA_DIMS) -> int:
    """How many dimensions KSG keeps of one side: ``pca_dims`` principal components, at most the features and
    at most n_rows - 1, the rank of n centred rows (a further component is round-off, which standardising
    would blow up to unit variance; sklearn refuses more components than rows)."""
    return max(1, min(pca_dims, n_features, n_rows - 1))


def ksg_terms(
    x: np.ndarray, y: np.ndarray, k: int = K, pca_dims: int = PCA_DIMS, seed: int = 0
) -> np.ndarray:
    """Per-sample KSG-1 terms psi(k) + psi(N) - psi(n_x + 1) - psi(n_y + 1); their mean is the estimate.

    x (N, Dx), y (N, Dy) are standardised and PCA-reduced to ``ksg_dims`` (``pca_dims``, fewer when N is
    small); seeded noise of 1e-10 breaks ties (duplicates would give zero distances). Distances use the
    max-norm, as in Kraskov et al. (2004).
    """
    from sklearn.neighbors import KDTree, NearestNeighbors

    x, y = paired_rows(x, y, min_rows=k + 2)
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    dx, dy = ksg_dims(n, x.shape[1], pca_dims), ksg_dims(n, y.shape[1], pca_dims)
    x = reduce(x, dx, seed) + 1e-10 * rng.standard_normal(size=(n, dx))  # (N, dx)
    y = reduce(y, dy, seed) + 1e-10 * rng.standard_normal(size=(n, dy))  # (N, dy)
    joint = np.hstack([x, y])  # (N, Dx + Dy)
    nn = NearestNeighbors(metric="chebyshev", n_neighbors=k).fit(joint)
    eps = nn.kneighbors()[0][:, -1]  # (N,) distance to the k-th neighbour (self excluded)
    radius = np.nextafter(eps, 0)  # strictly closer than eps
    n_x = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True) - 1  # exclude self
    n_y = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    return digamma(k) + digamma(n) - digamma(n_x + 1) - digamma(n_y + 1)  # (N,)


def ksg_mi(x: np.ndarray, y: np.ndarray, k: int = K, pca_dims: int = PCA_DIMS, seed: int = 0) -> float:
    """KSG estimator 1 of I(X; Y) in nats for x (N, Dx), y (N, Dy); see ``ksg_terms``. Can be slightly < 0."""
    return float(ksg_terms(x, y, k, pca_dims, seed).mean())


def ksg_mi_first_pcs(x: np.ndarray, y: np.ndarray, n_neighbors: int = 3, seed: int = 0) -> float:
    """The training probe's `mi_ksg` (nats): sklearn's KSG (`mutual_info_regression`) between the first
    principal components of the centred, unstandardised x (N, D) and y (N, D).

    Cheap and rough; a cross-check on the training estimator, not a replacement. It differs from `ksg_mi`
    in what it reads (one raw-variance component per side, not `pca_dims` standardised ones) and in
    sklearn's conventions (its own tie-breaking noise, estimates clipped at 0). 0 when N <= n_neighbors + 1
    or a component is constant, so tiny probe sets log 0 instead of failing.
    """
    from sklearn.feature_selection import mutual_info_regression

    if len(x) <= n_neighbors + 1:
        return 0.0
    a, b = first_component(x, standardised=False), first_component(y, standardised=False)
    if np.allclose(a, a[0]) or np.allclose(b, b[0]):
        return 0.0
    mi = mutual_info_regression(a[:, None], b, n_neighbors=n_neighbors, random_state=seed)
    return float(mi[0])


class KSGEstimator:
    """`ksg_mi` (kwargs: k, pca_dims). Rows cannot be resampled (a duplicate is at distance 0 and inflates
    the estimate), so the interval bootstraps the mean of the per-sample terms with neighbours fixed on the
    full data: it treats the terms as independent and ignores the density-estimation variance (a little
    narrow)."""

    def value(self, x: np.ndarray, y: np.ndarray, seed: int = 0, **kwargs) -> float:
        return ksg_mi(x, y, seed=seed, **kwargs)

    def interval(
        self, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, level: float, **kwargs
    ) -> Estimate:
        terms = ksg_terms(x, y, seed=seed, **kwargs)
        return bootstrap_ci(lambda idx: float(terms[idx].mean()), len(terms), n_boot, seed, level)
