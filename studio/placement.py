"""Place new prompts on an artifact's cluster projection with the SAME fitted projection.

Thin studio glue over `analysis.projection.fit_projection` (PCA: exact transform; UMAP: umap's
approximate transform against the fitted graph; t-SNE cannot place new points and raises ValueError).
"""

from __future__ import annotations

import numpy as np

from analysis.projection import TRANSFORMABLE, FittedProjection, fit_projection

__all__ = ["TRANSFORMABLE", "FittedProjection", "fit"]


def fit(x: np.ndarray, method: str, seed: int = 0) -> FittedProjection:
    """The fitted projection of an artifact state x (N, D) for the custom-prompts map."""
    return fit_projection(x, method, seed)
