"""The passes of a packed batch (iclm/packing.py: examples sharing a context in one row): the router's base
pass pooled per example, and the module passes on the rows with their 4D mask and position ids.

Each is the unpacked pass on packed rows, tested to give the unpacked losses, routes and gradients; they
read the model only through its public body (`module_states`, `domain_states`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from iclm.interventions import Intervention
from iclm.packing import PackedBatch, split_by_routes
from iclm.router import pool_prompt


def takes_4d_mask(model) -> bool:
    """sdpa and eager attention take a custom 4D mask; other implementations (flash attention) do not."""
    return model.base.config._attn_implementation in ("sdpa", "eager")


def as_attention_mask(model, allowed: Tensor) -> Tensor:
    """A bool 4D mask (True = attend) in the form the base's attention takes: as is for sdpa, additive in
    the base's dtype (0 / dtype-min) for eager."""
    kind = model.base.config._attn_implementation
    if not takes_4d_mask(model):
        raise ValueError(
            f"packed batches need the base's attention to be 'sdpa' or 'eager' (got {kind!r}); "
            "set training.pack_shared_context: false (evaluation: packed=False / --no-pack) or load the "
            "backbone with sdpa attention"
        )
    if kind == "sdpa":
        return allowed
    dtype = model.base.dtype
    return torch.where(allowed, torch.zeros((), dtype=dtype, device=allowed.device), torch.finfo(dtype).min)


def packed_mask(model, packed: PackedBatch) -> Tensor:
    """The 4D mask (R, 1, T, T) of a packed batch in the form the base's attention takes."""
    return as_attention_mask(model, packed.attention_mask(None))


@torch.no_grad()
def packed_router_embeddings(model, packed: PackedBatch) -> Tensor:
    """Router embeddings (S, H) of a packed batch's examples: the frozen base runs once over the rows and
    each example pools its row's context + its own query (its prompt), as `router_embeddings` would."""
    packed = packed.to(model.device)
    mask = packed_mask(model, packed)
    hidden = model.module_states(None, packed.input_ids, mask, None, packed.position_ids)  # (R, T, H)
    rows, mask = packed.pool_mask()  # (S,), (S, T)
    return pool_prompt(hidden[rows], mask)  # (S, T, H) -> (S, H)


def run_packed_modules(
    model, packed: PackedBatch, routes: Tensor, intervention: Intervention
) -> tuple[Tensor | None, Tensor | None]:
    """The module passes on packed rows: the invariant pass over every row; the domain passes (sparse or
    dense, as `domain_states`) over the rows re-packed so that each row's examples share a route
    (split_by_routes), their states put back in the packed layout, so every segment reads its own route's
    states. -> (invariant, domain), each (R, T, H) or None (absent or dropped)."""
    invariant = domain = None
    if model.config.has_invariant and intervention.keeps("invariant"):
        mask = packed_mask(model, packed)
        invariant = model.module_states("invariant", packed.input_ids, mask, None, packed.position_ids)
    if intervention.keeps("domain"):
        split = split_by_routes(packed, routes)
        sub = split.batch
        hidden = model.domain_states(
            sub.input_ids, packed_mask(model, sub), split.row_routes, None, sub.position_ids
        )
        domain = split.restore(hidden, tuple(packed.input_ids.shape))
    return invariant, domain
