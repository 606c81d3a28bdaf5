"""Aggregation of the invariant and domain last hidden states into next-token logits."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ProjectedAggregation(nn.Module):
    """concat [h_inv, h_dom] (B, T, 2H) -> RMSNorm -> Linear(2H -> H) (+ mean path) -> base LM head.

    Initialisation (our choice): out = 0.5 * (h_inv + h_dom) + Linear(RMSNorm(concat)) with the Linear at
    zero. At initialisation all LoRA B matrices are zero, so h_inv == h_dom == the base's hidden state and
    the ICLM reproduces the base model's logits exactly (a plain [0.5 I, 0.5 I] Linear after a norm would
    rescale every token by its RMS). The mean path is a fixed skip; the learned part is the normed projection.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(2 * hidden_size, eps=1e-6)
        self.proj = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        nn.init.zeros_(self.proj.weight)

    @classmethod
    def build(cls, hidden_size: int, lm_head_weight: Tensor) -> ProjectedAggregation:
        """The registry's constructor (every aggregation takes H and the LM head weight; this one needs H)."""
        return cls(hidden_size)

    def forward(self, invariant: Tensor, domain: Tensor, lm_head: nn.Module) -> Tensor:
        """invariant, domain: (B, T, H) -> logits (B, T, V)."""
        concat = torch.cat([invariant, domain], dim=-1)  # (B, T, 2H)
        hidden = 0.5 * (invariant + domain) + self.proj(self.norm(concat))  # (B, T, H)
        return lm_head(hidden)


class FreshHeadAggregation(nn.Module):
    """The reference's head: Linear(2H -> V) on concat [h_inv, h_dom].

    Initialised to [0.5 W, 0.5 W] with W the base LM head weight, so it too starts at the base's logits.
    """

    def __init__(self, hidden_size: int, lm_head_weight: Tensor) -> None:
        super().__init__()
        vocab = lm_head_weight.shape[0]
        self.head = nn.Linear(2 * hidden_size, vocab, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(0.5 * torch.cat([lm_head_weight, lm_head_weight], dim=1))

    @classmethod
    def build(cls, hidden_size: int, lm_head_weight: Tensor) -> FreshHeadAggregation:
        """The registry's constructor."""
        return cls(hidden_size, lm_head_weight)

    def forward(self, invariant: Tensor, domain: Tensor, lm_head: nn.Module) -> Tensor:
        """invariant, domain: (B, T, H) -> logits (B, T, V); lm_head unused."""
        return self.head(torch.cat([invariant, domain], dim=-1))


# The aggregations by the name `ICLMConfig.aggregation` gives; a new one: a class with `build`, a line here.
AGGREGATIONS: dict[str, type[nn.Module]] = {
    "projected": ProjectedAggregation,
    "fresh_head": FreshHeadAggregation,
}


def build_aggregation(kind: str, hidden_size: int, lm_head_weight: Tensor) -> nn.Module:
    """The aggregation registered as `kind`, built for hidden size H and the base LM head weight (V, H)."""
    if not isinstance(kind, str) or kind not in AGGREGATIONS:
        raise ValueError(f"aggregation={kind!r} is invalid; choose one of {list(AGGREGATIONS)}")
    return AGGREGATIONS[kind].build(hidden_size, lm_head_weight)
