"""Typed outputs of `ICLMForCausalLM.forward` (no positional tuples)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import Tensor
from transformers.utils import ModelOutput

from iclm.config import LossWeights


@dataclass
class LossTerms:
    """The five unweighted loss terms (scalar tensors; zero where not applicable)."""

    lm: Tensor
    invariant_lm: Tensor
    domain_lm: Tensor
    routing: Tensor
    mi: Tensor

    def total(self, weights: LossWeights) -> Tensor:
        """weights.lm*lm + weights.invariant*invariant_lm + weights.domain*domain_lm
        + weights.routing*routing + weights.mi*mi."""
        return (
            weights.lm * self.lm
            + weights.invariant * self.invariant_lm
            + weights.domain * self.domain_lm
            + weights.routing * self.routing
            + weights.mi * self.mi
        )

    def as_floats(self) -> dict[str, float]:
        """{"lm": ..., ...} detached Python floats, for logging."""
        return {f.name: float(getattr(self, f.name).detach()) for f in fields(self)}


@dataclass
class ICLMOutput(ModelOutput):
    """loss: weighted total (None without labels); logits (B, T, V): aggregated (iclm) or domain logits
    (no_invariant/baseline); invariant_logits / domain_logits (B, T, V) or None; routes (B,) long;
    router_embeddings (B, H), router_projected (B, P), router_distances (B, K) or None when the router did
    not run (routes given, force_route, baseline); invariant_hidden / domain_hidden (B, T, H) last hidden
    states or None when that module did not run; loss_terms: LossTerms or None; past_key_values: ICLMCache."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    invariant_logits: Tensor | None = None
    domain_logits: Tensor | None = None
    routes: Tensor | None = None
    router_embeddings: Tensor | None = None
    router_projected: Tensor | None = None
    router_distances: Tensor | None = None
    invariant_hidden: Tensor | None = None
    domain_hidden: Tensor | None = None
    loss_terms: LossTerms | None = None
    past_key_values: object | None = None
