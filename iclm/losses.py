"""The loss terms of one forward: the LM losses of each readout at the answer positions, the routing loss
and the MI penalty (`LossTerms`; `LossTerms.total` weighs them with the config's `LossWeights`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from iclm.mi import answer_token_mi
from iclm.outputs import LossTerms
from iclm.readout import output_logits


def next_token_targets(labels: Tensor) -> tuple[Tensor, Tensor]:
    """The positions the loss reads and their targets: (B, T) bool, true at t when labels[t + 1] is a real
    label, and those labels (N,) in the same row-major order."""
    following = labels[:, 1:] != -100  # (B, T-1)
    positions = torch.zeros_like(labels, dtype=torch.bool)
    positions[:, :-1] = following
    return positions, labels[:, 1:][following]


def targets_lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of logits (N, V) at the read positions against targets (N,); 0 when N == 0."""
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)


def loss_terms(
    model,
    invariant: Tensor | None,
    domain: Tensor | None,
    labels: Tensor,
    routing_loss: Tensor,
    full_logits: dict[str, Tensor | None] | None,
) -> LossTerms:
    """Every loss term from the modules' last hidden states (B, T, H), read only at the N positions whose next
    token is labelled (the answer). Without `full_logits` (training: loss_only) the LM heads run at those
    positions only: projecting all B x T positions onto the vocabulary (49k for SmolLM2) cost about a
    second per head per training step on 2 CPU cores, for logits the loss never reads."""
    positions, targets = next_token_targets(labels)

    def pick(tensor: Tensor | None) -> Tensor | None:  # (B, T, .) -> (N, .)
        return None if tensor is None else tensor[positions]

    if full_logits is None:
        found = output_logits(model, pick(invariant), pick(domain))
    else:
        found = {field: pick(value) for field, value in full_logits.items()}
    logits, invariant_logits, domain_logits = (
        found[f] for f in ("logits", "invariant_logits", "domain_logits")
    )
    zero = logits.new_zeros((), dtype=torch.float32)
    iclm = model.config.has_invariant
    return LossTerms(
        lm=targets_lm_loss(logits, targets),
        invariant_lm=zero if invariant_logits is None else targets_lm_loss(invariant_logits, targets),
        domain_lm=targets_lm_loss(domain_logits, targets) if iclm and domain_logits is not None else zero,
        routing=routing_loss.to(zero.dtype),
        mi=answer_token_mi(invariant, domain, labels)
        if invariant is not None and domain is not None
        else zero,
    )
