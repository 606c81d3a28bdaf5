"""The input-level `Router` module; its kinds (vq, kmeans, oracle, ...) live in iclm/routers/.

Every router works on the router embedding (B, H) = mean of the frozen base's last hidden states over the
prompt tokens, projected to P dims (Linear H->P, then LayerNorm without affine so the scale is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from iclm.config import RouterConfig
from iclm.metrics.routing import codebook_perplexity
from iclm.routers import RouterKind, router_kind


@dataclass
class RouterOutput:
    """routes (B,) long; embeddings (B, H); projected (B, P); distances (B, K) squared L2 to each code
    (detached); loss: the kind's scalar routing loss (the VQ loss for "vq"; 0 unless the kind learns)."""

    routes: Tensor
    embeddings: Tensor
    projected: Tensor
    distances: Tensor
    loss: Tensor


@dataclass(frozen=True)
class CodebookUsage:
    """counts (K,) long; fractions (K,); perplexity = exp(entropy) in [1, K] (0 without routes; computed by
    `iclm.metrics.routing.codebook_perplexity`, as the training probe logs it); dead = unused codes."""

    counts: Tensor
    fractions: Tensor
    perplexity: float
    dead: tuple[int, ...]


def codebook_usage(routes: Tensor, num_domains: int) -> CodebookUsage:
    """Usage statistics of routes (N,) over K codes."""
    counts = torch.bincount(routes.detach().long().flatten().cpu(), minlength=num_domains)[:num_domains]
    fractions = counts.float() / counts.sum().clamp_min(1)
    perplexity = codebook_perplexity(routes.detach().long().flatten().cpu().numpy(), num_domains)
    dead = tuple(int(k) for k in torch.nonzero(counts == 0).flatten())
    return CodebookUsage(counts=counts, fractions=fractions, perplexity=perplexity, dead=dead)


def pool_prompt(hidden: Tensor, prompt_mask: Tensor) -> Tensor:
    """Mean of hidden (B, T, H) over positions where prompt_mask (B, T) is true -> (B, H)."""
    mask = prompt_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def default_prompt_mask(attention_mask: Tensor, labels: Tensor | None) -> Tensor:
    """The tokens the router pools when no prompt_mask is given: attended and unlabelled (B, T) bool."""
    if labels is None:
        return attention_mask.bool()
    return attention_mask.bool() & (labels == -100)


class Router(nn.Module):
    """Projector + K codes, routed by the kind `config.kind` names (iclm/routers/). The module holds the same
    tensors for every kind (projector, norm, codebook, initialised), so checkpoints do not depend on it;
    the kind decides the routes, the loss and what the router needs (`needs_base_pass`, ...)."""

    def __init__(self, hidden_size: int, num_domains: int, config: RouterConfig) -> None:
        super().__init__()
        self.config = config
        self.num_domains = num_domains
        self.kind: RouterKind = router_kind(config.kind)()
        self.projector = nn.Linear(hidden_size, config.projection_dim)
        self.norm = nn.LayerNorm(config.projection_dim, elementwise_affine=False)
        self.codebook = nn.Parameter(torch.randn(num_domains, config.projection_dim))  # (K, P)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        if not self.kind.learns:  # the others are fitted once or given
            self.requires_grad_(False)

    @property
    def learns(self) -> bool:
        """Whether the router trains (has trainable parameters and a routing loss)."""
        return self.kind.learns

    @property
    def needs_base_pass(self) -> bool:
        """Whether routes read the frozen base's prompt embedding (else `routes_without_base` gives them)."""
        return self.kind.needs_base_pass

    @property
    def needs_init(self) -> bool:
        """Whether `init` must fit the codes on training embeddings before training."""
        return self.kind.needs_init

    @property
    def needs_domain_ids(self) -> bool:
        """Whether routes are the examples' domain ids (module k = training dataset k)."""
        return self.kind.needs_domain_ids

    def project(self, embeddings: Tensor) -> Tensor:
        """(B, H) -> (B, P)."""
        return self.norm(self.projector(embeddings.to(self.projector.weight.dtype)))

    def forward(self, embeddings: Tensor, domain_ids: Tensor | None = None) -> RouterOutput:
        """embeddings (B, H), domain_ids (B,) or None -> RouterOutput."""
        projected = self.project(embeddings)  # (B, P)
        distances = torch.cdist(projected.float(), self.codebook.float()).pow(2)  # (B, K)
        routes = self.kind.select(self, projected, distances, domain_ids)  # (B,)
        loss = self.kind.loss(self, projected, routes) if self.kind.learns else projected.sum() * 0.0
        return RouterOutput(routes, embeddings, projected, distances.detach(), loss)

    def routes_without_base(self, domain_ids: Tensor, batch: int) -> Tensor:
        """Routes (B,) from domain ids alone, for kinds that need no base pass (the oracle)."""
        return self.kind.routes_without_base(self, domain_ids, batch)

    def oracle_routes(self, domain_ids: Tensor | None, batch: int) -> Tensor:
        """The domain ids (B,) as routes, checked: one per example, each in [0, K)."""
        if domain_ids is None:
            raise ValueError("router.kind='oracle' needs domain_ids (B,) in the batch; none were given")
        domain_ids = domain_ids.long().flatten()
        if domain_ids.shape[0] != batch or (domain_ids < 0).any() or (domain_ids >= self.num_domains).any():
            raise ValueError(
                f"domain_ids={domain_ids.tolist()} is invalid for oracle routing; expected {batch} ids "
                f"in [0, {self.num_domains})"
            )
        return domain_ids

    @torch.no_grad()
    def init(self, embeddings: Tensor, seed: int = 0) -> None:
        """Fit the K codes on the embeddings (N, H), N >= K, as the kind fits them (k-means by default)."""
        self.kind.fit(self, embeddings, seed)
