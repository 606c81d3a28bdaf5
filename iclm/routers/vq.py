"""The vector-quantisation router: a trainable projector and codebook, trained with the VQ-VAE losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from iclm.routers.base import RouterKind

if TYPE_CHECKING:
    from iclm.router import Router


class VQKind(RouterKind):
    """Route = the nearest code; the codebook starts from k-means on training embeddings and then learns."""

    learns = True
    needs_init = True

    def select(
        self, router: Router, projected: Tensor, distances: Tensor, domain_ids: Tensor | None
    ) -> Tensor:
        return distances.argmin(dim=-1)  # (B,)

    def loss(self, router: Router, projected: Tensor, routes: Tensor) -> Tensor:
        """VQ-VAE: ||sg[z] - e||^2 moves codes to inputs; beta ||z - sg[e]||^2 commits the projector."""
        chosen = router.codebook[routes]  # (B, P)
        codebook_loss = F.mse_loss(chosen, projected.detach())
        commitment = F.mse_loss(projected, chosen.detach())
        return codebook_loss + router.config.beta * commitment
