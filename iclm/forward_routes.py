"""Which routes (B,) one forward uses, and the router output when the router ran.

In order: given `routes` are final; a model without a router sends everything to module 0; with
`loss_only` and a router whose routes are the domain ids (the oracle), the routes come without a base pass;
a forced route (an `Intervention`) skips the router; otherwise the router reads the prompt (packed: once
per row). When the model chose the routes, the intervention's route part (force, shift) then applies.
"""

from __future__ import annotations

import torch
from torch import Tensor

from iclm.interventions import Intervention
from iclm.packed_passes import packed_router_embeddings
from iclm.packing import PackedBatch
from iclm.router import RouterOutput, default_prompt_mask


def forward_routes(
    model,
    input_ids: Tensor,
    attention_mask: Tensor,
    labels: Tensor | None,
    prompt_mask: Tensor | None,
    domain_ids: Tensor | None,
    routes: Tensor | None,
    intervention: Intervention,
    router_embeddings: Tensor | None = None,
    loss_only: bool = False,
    packed: PackedBatch | None = None,
) -> tuple[Tensor, RouterOutput | None]:
    """-> (routes (B,) long, or (S,) per example of a packed batch; the router's output or None)."""
    chosen = routes is None  # the model chooses the routes, so the intervention's route part applies
    if not model.config.has_router and routes is None:
        batch = input_ids.shape[0] if packed is None else packed.num_examples
        routes = torch.zeros(batch, dtype=torch.long, device=input_ids.device)
    routes, router_out = _resolve(
        model, input_ids, attention_mask, labels, prompt_mask, domain_ids, intervention.force_route, routes,
        router_embeddings, loss_only, packed,
    )  # fmt: skip
    if chosen:
        routes = intervention.routes(routes, model.config.num_domains)
    return routes, router_out


def _resolve(
    model, input_ids, attention_mask, labels, prompt_mask, domain_ids, force_route, routes,
    router_embeddings, loss_only, packed,
) -> tuple[Tensor, RouterOutput | None]:  # fmt: skip
    batch = input_ids.shape[0] if packed is None else packed.num_examples
    if routes is not None:
        if packed is not None and routes.shape != (batch,):
            raise ValueError(f"routes of a packed batch are per example: expected ({batch},), got "
                             f"{tuple(routes.shape)}")  # fmt: skip
        return routes.to(input_ids.device).long(), None
    if loss_only and not model.router.needs_base_pass and domain_ids is not None:
        # routes from the domain ids alone (the oracle): the base pass would only feed analysis outputs
        return model.router.routes_without_base(domain_ids.to(input_ids.device), batch), None
    if force_route is not None:  # checked by Intervention.check
        return torch.full((batch,), force_route, dtype=torch.long, device=input_ids.device), None
    if packed is not None and router_embeddings is None:
        router_embeddings = packed_router_embeddings(model, packed)
    if prompt_mask is None:
        prompt_mask = default_prompt_mask(attention_mask, labels)
    router_out = model.route(input_ids, attention_mask, prompt_mask, domain_ids, embeddings=router_embeddings)
    return router_out.routes, router_out
