"""Array checks and reductions the MI estimators share: paired rows, standardising, principal components."""

from __future__ import annotations

import numpy as np


def paired_rows(x: np.ndarray, y: np.ndarray, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """x (N,) or (N, Dx) and y (N,) or (N, Dy) as float64 (N, D) arrays, checked: the same N, at least
    ``min_rows`` rows, finite. 1-D inputs become one column."""
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


def standardise(z: np.ndarray) -> np.ndarray:
    """Every column of z (N, D) centred and scaled to unit variance (constant columns only centred)."""
    std = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)


def reduce(z: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Standardise z (N, D), then keep its first ``dims`` principal components (standardised) if D > dims."""
    z = standardise(z)
    if z.shape[1] <= dims:
        return z
    from sklearn.decomposition import PCA

    return standardise(PCA(n_components=dims, random_state=seed).fit_transform(z))


def first_component(z: np.ndarray, seed: int = 0, standardised: bool = True) -> np.ndarray:
    """Each row's coordinate on the first principal component of z (N, D) -> (N,).

    standardised=True (the binned MI estimator): the component of the standardised features (sklearn PCA,
    seeded), itself standardised; a single column is returned as it is. standardised=False (the training
    probe's KSG cross-check): the component of the centred raw features by SVD, in their own scale, so the
    direction of largest raw variance.
    """
    if standardised:
        return reduce(z, 1, seed)[:, 0] if z.shape[1] > 1 else z[:, 0]
    z = np.asarray(z, dtype=np.float64)
    z = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[0]
