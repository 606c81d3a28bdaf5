"""Input-level routers: a vector-quantisation codebook (VQ-VAE losses), a k-means router, an oracle.

Every router works on the router embedding (B, H) = mean of the frozen base's last hidden states over the
prompt tokens, projected to P dims (Linear H->P, then LayerNorm without affine so the scale is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iclm.config import RouterConfig


@dataclass
class RouterOutput:
    """routes (B,) long; embeddings (B, H); projected (B, P); distances (B, K) squared L2 to each code
    (zeros for the oracle); loss: scalar VQ loss (codebook + beta * commitment; 0 unless kind="vq")."""

    routes: Tensor
    embeddings: Tensor
    projected: Tensor
    distances: Tensor
    loss: Tensor


@dataclass(frozen=True)
class CodebookUsage:
    """counts (K,) long; fractions (K,); perplexity = exp(entropy) in [1, K]; dead = unused codes."""

    counts: Tensor
    fractions: Tensor
    perplexity: float
    dead: tuple[int, ...]


def codebook_usage(routes: Tensor, num_domains: int) -> CodebookUsage:
    """Usage statistics of routes (N,) over K codes."""
    counts = torch.bincount(routes.detach().long().flatten().cpu(), minlength=num_domains)[:num_domains]
    fractions = counts.float() / counts.sum().clamp_min(1)
    entropy = -(fractions * fractions.clamp_min(1e-12).log()).sum()
    dead = tuple(int(k) for k in torch.nonzero(counts == 0).flatten())
    return CodebookUsage(counts=counts, fractions=fractions, perplexity=float(entropy.exp()), dead=dead)


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
    """Projector + K codes. kind="vq": codes are a trainable codebook; "kmeans": fixed centroids fitted by
    `init`; "oracle": route = domain_ids (the projector still runs so analysis gets projected embeddings)."""

    def __init__(self, hidden_size: int, num_domains: int, config: RouterConfig) -> None:
        super().__init__()
        self.config = config
        self.num_domains = num_domains
        self.projector = nn.Linear(hidden_size, config.projection_dim)
        self.norm = nn.LayerNorm(config.projection_dim, elementwise_affine=False)
        self.codebook = nn.Parameter(torch.randn(num_domains, config.projection_dim))  # (K, P)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        if config.kind != "vq":  # only the VQ router learns; the others are fitted once or given
            self.requires_grad_(False)

    def project(self, embeddings: Tensor) -> Tensor:
        """(B, H) -> (B, P)."""
        return self.norm(self.projector(embeddings.to(self.projector.weight.dtype)))

    def forward(self, embeddings: Tensor, domain_ids: Tensor | None = None) -> RouterOutput:
        projected = self.project(embeddings)  # (B, P)
        distances = torch.cdist(projected.float(), self.codebook.float()).pow(2)  # (B, K)
        zero = projected.sum() * 0.0
        if self.config.kind == "oracle":
            routes = self.oracle_routes(domain_ids, embeddings.shape[0])
            return RouterOutput(routes, embeddings, projected, distances.detach(), zero)
        routes = distances.argmin(dim=-1)  # (B,)
        loss = self._vq_loss(projected, routes) if self.config.kind == "vq" else zero
        return RouterOutput(routes, embeddings, projected, distances.detach(), loss)

    def _vq_loss(self, projected: Tensor, routes: Tensor) -> Tensor:
        """VQ-VAE: ||sg[z] - e||^2 moves codes to inputs; beta ||z - sg[e]||^2 commits the projector."""
        chosen = self.codebook[routes]  # (B, P)
        codebook_loss = F.mse_loss(chosen, projected.detach())
        commitment = F.mse_loss(projected, chosen.detach())
        return codebook_loss + self.config.beta * commitment

    def oracle_routes(self, domain_ids: Tensor | None, batch: int) -> Tensor:
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
        """Fit the K codes with k-means on the projected embeddings (N, H), N >= K."""
        if embeddings.dim() != 2 or embeddings.shape[0] < self.num_domains:
            raise ValueError(
                f"init_router needs embeddings of shape (N, H) with N >= K={self.num_domains}, "
                f"got {tuple(embeddings.shape)}"
            )
        from sklearn.cluster import KMeans

        projected = self.project(embeddings).float().cpu().numpy()
        kmeans = KMeans(n_clusters=self.num_domains, n_init=10, random_state=seed).fit(projected)
        centers = torch.as_tensor(kmeans.cluster_centers_, dtype=self.codebook.dtype)
        self.codebook.data.copy_(centers.to(self.codebook.device))
        self.initialised.fill_(True)
