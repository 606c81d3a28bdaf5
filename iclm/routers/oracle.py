"""The oracle router: route = the example's domain id (module k is training dataset k)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from iclm.routers.base import RouterKind

if TYPE_CHECKING:
    from iclm.router import Router


class OracleKind(RouterKind):
    """Routes are given, not computed: no base pass is needed for them (the projector still runs when the
    base pass does, so analysis gets projected embeddings), nothing is fitted and nothing trains."""

    needs_base_pass = False
    needs_domain_ids = True

    def select(
        self, router: Router, projected: Tensor, distances: Tensor, domain_ids: Tensor | None
    ) -> Tensor:
        return router.oracle_routes(domain_ids, projected.shape[0])

    def routes_without_base(self, router: Router, domain_ids: Tensor, batch: int) -> Tensor:
        return router.oracle_routes(domain_ids, batch)
