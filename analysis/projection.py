"""2-D projections of embeddings/states (PCA, t-SNE, UMAP), seeded and cached on disk; and fitted
projections that place NEW points on an existing map (`fit_projection`: PCA exactly, UMAP by its transform).

The cache key is a SHA-256 of the input array (bytes, shape, dtype), the method, its parameters and the seed;
entries are ``.npz`` files written with ``allow_pickle=False`` (coords plus a JSON metadata string).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from iclm.file_modes import share_file

logger = logging.getLogger(__name__)

Method = Literal["pca", "tsne", "umap"]
MAX_POINTS = 20_000
PREREDUCE_DIMS = 50  # t-SNE / UMAP first reduce inputs wider than this with PCA
CACHE_VERSION = 1


@dataclass(frozen=True)
class Projection:
    """coords: (N, 2) float32; params: the full parameters used (defaults filled in); seconds: compute time
    of the original computation; from_cache: True when read from the disk cache."""

    coords: np.ndarray
    method: str
    params: dict[str, Any]
    seconds: float
    from_cache: bool = False


def _pca(x: np.ndarray, seed: int, n_components: int = 2) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=n_components, random_state=seed).fit_transform(x)


def _prereduce(x: np.ndarray, seed: int) -> np.ndarray:
    if x.shape[1] <= PREREDUCE_DIMS:
        return x
    return _pca(x, seed, n_components=min(PREREDUCE_DIMS, x.shape[0]))


def _tsne(x: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, (x.shape[0] - 1) / 3.0)  # t-SNE needs perplexity < N
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(_prereduce(x, seed))


def _umap(x: np.ndarray, seed: int, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    import warnings

    import umap  # heavy (numba); imported only when used

    n_neighbors = min(n_neighbors, x.shape[0] - 1)
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # seeded UMAP is single-threaded
        return reducer.fit_transform(_prereduce(x, seed))


#: method name -> (function(x, seed, **params) -> (N, 2), default params)
METHODS: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any]]] = {
    "pca": (lambda x, seed: _pca(x, seed), {}),
    "tsne": (_tsne, {"perplexity": 30.0}),
    "umap": (_umap, {"n_neighbors": 15, "min_dist": 0.1}),
}


def _resolve(method: str, params: dict[str, Any] | None) -> tuple[Callable[..., np.ndarray], dict[str, Any]]:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {sorted(METHODS)}")
    fn, defaults = METHODS[method]
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"params {unknown} are not valid for method={method!r}; valid: {sorted(defaults)}")
    return fn, {**defaults, **params}


def cache_key(x: np.ndarray, method: str, params: dict[str, Any], seed: int) -> str:
    """SHA-256 hex digest of the array (bytes, shape, dtype) + method + params + seed."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(x)
    h.update(f"v{CACHE_VERSION}|{x.dtype.str}|{x.shape}|".encode())
    h.update(x.tobytes())
    h.update(json.dumps({"method": method, "params": params, "seed": seed}, sort_keys=True).encode())
    return h.hexdigest()


def _read_cache(path: Path) -> Projection | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            coords = data["coords"]
    except (OSError, ValueError, KeyError) as err:
        logger.warning("ignoring unreadable projection cache %s: %s", path, err)
        return None
    return Projection(coords, meta["method"], meta["params"], meta["seconds"], from_cache=True)


def _write_cache(path: Path, proj: Projection) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"method": proj.method, "params": proj.params, "seconds": proj.seconds})
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, coords=proj.coords, meta=np.array(meta))
        share_file(tmp)
        os.replace(tmp, path)  # atomic: a reader never sees a half-written entry
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check(x: np.ndarray) -> np.ndarray:
    """x as a float32 (N, D) array of 3..MAX_POINTS finite rows, D >= 2 (ValueError otherwise)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (N, D) array, got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"x must have at least 2 columns to project to 2-D, got shape {x.shape}")
    if not 3 <= x.shape[0] <= MAX_POINTS:
        raise ValueError(f"x has {x.shape[0]} rows; projection needs 3..{MAX_POINTS} (subsample larger sets)")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    return x


def cached_projection(
    x: np.ndarray,
    method: Method,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    cache_dir: str | Path,
) -> Projection | None:
    """The disk cache's entry for what `project` would compute, or None (nothing is fitted)."""
    _, full = _resolve(method, params)
    x = _check(x)
    path = Path(cache_dir) / f"{method}-{cache_key(x, method, full, seed)}.npz"
    return _read_cache(path) if path.exists() else None


def project(
    x: np.ndarray,
    method: Method = "pca",
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
) -> Projection:
    """Project x (N, D) to 2-D with a seeded method; with ``cache_dir``, reuse an identical earlier result.

    Args:
        x: (N, D) finite values, 3 <= N <= 20,000 (subsample larger sets first).
        method: a key of ``METHODS`` (``pca``, ``tsne``, ``umap``); t-SNE/UMAP PCA-reduce D > 50 to 50 first.
        params: method parameters (t-SNE: perplexity; UMAP: n_neighbors, min_dist); unknown ones raise.
    Returns:
        Projection with coords (N, 2) float32. Same input + method + params + seed -> same coords.
    """
    fn, full = _resolve(method, params)
    x = _check(x)
    path = Path(cache_dir) / f"{method}-{cache_key(x, method, full, seed)}.npz" if cache_dir else None
    cached = _read_cache(path) if path is not None and path.exists() else None
    if cached is not None:
        return cached
    start = time.perf_counter()
    coords = np.asarray(fn(x, seed, **full), dtype=np.float32)  # (N, 2)
    proj = Projection(coords, method, full, time.perf_counter() - start)
    if path is not None:
        _write_cache(path, proj)
    return proj


# ---------------------------------------------------------------- fitted projections (placing new points)
TRANSFORMABLE = ("pca", "umap")


@dataclass(frozen=True)
class FittedProjection:
    """A projection that can place new points: coords (N, 2) float32 of the fitted rows; `model` the fitted
    sklearn PCA / umap.UMAP; `prereduce` the PCA to 50 dims UMAP runs on (None for PCA or D <= 50)."""

    method: str
    coords: np.ndarray
    params: dict[str, Any]
    n_features: int
    model: Any
    prereduce: Any = None

    def transform(self, x: np.ndarray) -> np.ndarray:
        """New rows (M, D) -> (M, 2) float32 on the fitted map: exact for PCA; for UMAP an approximation that
        embeds each new point against the fitted neighbour graph (umap's `transform`)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must be (M, {self.n_features}) like the fitted rows, got shape {x.shape}")
        if self.prereduce is not None:
            x = self.prereduce.transform(x)
        return np.asarray(self.model.transform(x), dtype=np.float32)


def fit_projection(
    x: np.ndarray, method: Method = "pca", seed: int = 0, params: dict[str, Any] | None = None
) -> FittedProjection:
    """Fit a 2-D projection on x (N, D) that can `transform` new points (same seed and parameters as
    `project`). PCA and UMAP only: t-SNE has no out-of-sample transform and raises ValueError."""
    if method == "tsne":
        raise ValueError(
            "method='tsne' cannot place new points (t-SNE has no transform); choose one of "
            f"{list(TRANSFORMABLE)}"
        )
    _, full = _resolve(method, params)
    x = _check(x)
    from sklearn.decomposition import PCA

    if method == "pca":
        model = PCA(n_components=2, random_state=seed).fit(x)
        return FittedProjection("pca", model.transform(x).astype(np.float32), full, x.shape[1], model)
    import warnings

    import umap  # heavy (numba); imported only when used

    prereduce, n_features = None, x.shape[1]
    if x.shape[1] > PREREDUCE_DIMS:  # as `project`: UMAP on the first 50 principal components
        prereduce = PCA(n_components=min(PREREDUCE_DIMS, x.shape[0]), random_state=seed).fit(x)
        x = prereduce.transform(x)
    neighbors = min(full["n_neighbors"], x.shape[0] - 1)
    model = umap.UMAP(n_components=2, n_neighbors=neighbors, min_dist=full["min_dist"], random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # seeded UMAP is single-threaded
        coords = model.fit_transform(x).astype(np.float32)
    return FittedProjection("umap", coords, full, n_features, model, prereduce)
