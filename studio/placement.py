"""Place new prompts on an artifact's cluster projection with the SAME fitted projection.

`analysis.projection.project` returns coordinates only (it does not keep the fitted model), so the
studio fits a transformable projection here: PCA (`sklearn.decomposition.PCA.transform`, exact) or UMAP
(`umap.UMAP.transform`, an approximation that embeds new points against the fitted graph). t-SNE has no
transform; new points are then placed with PCA and the page says so. Seeded like analysis.projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TRANSFORMABLE = ("pca", "umap")


@dataclass(frozen=True)
class FittedProjection:
    """method: "pca" | "umap"; coords: (N, 2) of the fitted rows; model: the fitted sklearn/umap object."""

    method: str
    coords: np.ndarray
    model: Any
    prereduce: Any = None

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(M, D) new rows -> (M, 2) coordinates in the fitted projection."""
        x = np.asarray(x, dtype=np.float32)
        if self.prereduce is not None:
            x = self.prereduce.transform(x)
        return np.asarray(self.model.transform(x), dtype=np.float32)


def fit(x: np.ndarray, method: str, seed: int = 0) -> FittedProjection:
    """Fit a transformable 2-D projection on x (N, D); method "pca" or "umap" (others raise ValueError)."""
    from sklearn.decomposition import PCA

    if method not in TRANSFORMABLE:
        raise ValueError(f"method={method!r} cannot place new points; choose one of {list(TRANSFORMABLE)}")
    x = np.asarray(x, dtype=np.float32)
    if method == "pca":
        model = PCA(n_components=2, random_state=seed).fit(x)
        return FittedProjection("pca", model.transform(x).astype(np.float32), model)
    import umap

    prereduce = None
    if x.shape[1] > 50:  # as analysis.projection: UMAP on the first 50 principal components
        prereduce = PCA(n_components=min(50, x.shape[0]), random_state=seed).fit(x)
        x = prereduce.transform(x)
    model = umap.UMAP(n_components=2, n_neighbors=min(15, x.shape[0] - 1), min_dist=0.1, random_state=seed)
    coords = model.fit_transform(x).astype(np.float32)
    return FittedProjection("umap", coords, model, prereduce)
