"""The k-means router: fixed centroids fitted once on training embeddings; nothing in it trains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from iclm.routers.base import RouterKind

if TYPE_CHECKING:
    from iclm.router import Router


class KMeansKind(RouterKind):
    """Route = the nearest centroid (`fit` before training; the projector stays at its random init)."""

    needs_init = True

    def select(
        self, router: Router, projected: Tensor, distances: Tensor, domain_ids: Tensor | None
    ) -> Tensor:
        return distances.argmin(dim=-1)  # (B,)
