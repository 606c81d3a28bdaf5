"""Small, self-contained numpy metrics for training dynamics on a fixed probe set.

All functions are pure: arrays in, floats out. `analysis/` holds richer versions for the studio;
`iclm` never imports `analysis`.
"""

from __future__ import annotations

import numpy as np


def routing_fractions(routes: np.ndarray, num_domains: int) -> list[float]:
    """Fraction of examples sent to each domain module. routes: (N,) ints in [0, K)."""
    routes = np.asarray(routes, dtype=np.int64)
    counts = np.bincount(routes, minlength=num_domains)[:num_domains].astype(np.float64)
    return (counts / max(len(routes), 1)).tolist()


def codebook_perplexity(routes: np.ndarray, num_domains: int) -> float:
    """exp(entropy of codebook usage): 1 = one code used, K = all codes used equally. routes: (N,)."""
    p = np.asarray(routing_fractions(routes, num_domains))
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0


def cluster_purity(routes: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose route's majority true label is their own. routes, labels: (N,)."""
    routes, labels = np.asarray(routes), np.asarray(labels)
    if len(routes) == 0:
        return 0.0
    total = 0
    for route in np.unique(routes):
        _, counts = np.unique(labels[routes == route], return_counts=True)
        total += counts.max()
    return float(total / len(routes))


def cluster_nmi(routes: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean normalisation) between routes and true labels."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(labels), np.asarray(routes)))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) between (N, D1) and (N, D2) representations; in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    cross = np.linalg.norm(y.T @ x, ord="fro") ** 2
    norm = np.linalg.norm(x.T @ x, ord="fro") * np.linalg.norm(y.T @ y, ord="fro")
    return float(cross / norm) if norm > 0 else 0.0


def mean_abs_pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over features j of |corr(x[:, j], y[:, j])| across the N examples. x, y: (N, D).
    Constant features (zero variance) are left out."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum(axis=0))
    valid = denom > 1e-12
    if not valid.any():
        return 0.0
    corr = (xc * yc).sum(axis=0)[valid] / denom[valid]
    return float(np.abs(corr).mean())


def _first_component(x: np.ndarray) -> np.ndarray:
    """Projection of (N, D) rows onto their first principal component: (N,)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[0]


def ksg_mi_first_pcs(x: np.ndarray, y: np.ndarray, n_neighbors: int = 3, seed: int = 0) -> float:
    """Independent MI estimate (nats): KSG k-nearest-neighbour estimator (sklearn
    `mutual_info_regression`) between the first principal components of x (N, D) and y (N, D).
    Cheap and rough; a cross-check on the training estimator, not a replacement."""
    from sklearn.feature_selection import mutual_info_regression

    if len(x) <= n_neighbors + 1:
        return 0.0
    a, b = _first_component(x), _first_component(y)
    if np.allclose(a, a[0]) or np.allclose(b, b[0]):
        return 0.0
    mi = mutual_info_regression(a[:, None], b, n_neighbors=n_neighbors, random_state=seed)
    return float(mi[0])
