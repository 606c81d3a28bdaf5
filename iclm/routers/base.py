"""What a router kind is: the rule that turns a batch's projected embeddings (or its domain ids) into routes.

The `Router` module (iclm/router.py) owns every tensor (projector, norm, the K codes `codebook`, the
`initialised` flag) whatever its kind, so a checkpoint's `router.safetensors` has the same keys and shapes
for every kind and a kind is a stateless rule over them. A kind also says what it needs, and callers ask
those capabilities (`router.needs_base_pass`, ...) instead of comparing kind names. A new kind is one file
with a `RouterKind` subclass plus one line in `iclm/routers/__init__.py` (worked example: docs/extending.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    from iclm.router import Router


class RouterKind:
    """A routing rule and what it needs. Subclasses set the capabilities and implement `select`.

    learns: routes depend on trainable router parameters and `loss` is a training term (else the router's
    parameters are frozen and its loss is 0). needs_base_pass: routes read the frozen base's prompt
    embedding (else `routes_without_base` gives them from the domain ids alone, and training skips the
    base pass and the router-embedding cache). needs_init: the codes are fitted by `fit` on training
    embeddings before the first step. needs_domain_ids: routes are the examples' domain ids, so module k
    is training dataset k and K is the number of training datasets.
    """

    learns: ClassVar[bool] = False
    needs_base_pass: ClassVar[bool] = True
    needs_init: ClassVar[bool] = False
    needs_domain_ids: ClassVar[bool] = False

    def select(
        self, router: Router, projected: Tensor, distances: Tensor, domain_ids: Tensor | None
    ) -> Tensor:
        """Routes (B,) long from projected (B, P), squared distances to the codes (B, K), domain ids (B,)."""
        raise NotImplementedError(f"{type(self).__name__} must implement select()")

    def loss(self, router: Router, projected: Tensor, routes: Tensor) -> Tensor:
        """The scalar routing loss of a batch (only read when `learns`): 0, kept in the graph."""
        return projected.sum() * 0.0

    def routes_without_base(self, router: Router, domain_ids: Tensor, batch: int) -> Tensor:
        """Routes (B,) from the domain ids alone, for kinds with needs_base_pass False."""
        raise NotImplementedError(f"{type(self).__name__} routes from embeddings; it needs the base pass")

    @torch.no_grad()
    def fit(self, router: Router, embeddings: Tensor, seed: int = 0) -> None:
        """Fit the K codes with k-means on the projected embeddings (N, H), N >= K (VQ init, k-means fit)."""
        if embeddings.dim() != 2 or embeddings.shape[0] < router.num_domains:
            raise ValueError(
                f"init_router needs embeddings of shape (N, H) with N >= K={router.num_domains}, "
                f"got {tuple(embeddings.shape)}"
            )
        from sklearn.cluster import KMeans

        projected = router.project(embeddings).float().cpu().numpy()
        kmeans = KMeans(n_clusters=router.num_domains, n_init=10, random_state=seed).fit(projected)
        centers = torch.as_tensor(kmeans.cluster_centers_, dtype=router.codebook.dtype)
        router.codebook.data.copy_(centers.to(router.codebook.device))
        router.initialised.fill_(True)
