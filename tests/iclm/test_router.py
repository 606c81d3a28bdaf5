import pytest
import torch

from iclm.config import RouterConfig
from iclm.router import Router, codebook_usage, pool_prompt


def clustered(n_per: int = 20, k: int = 3, dim: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = 5 * torch.randn(k, dim, generator=g)
    labels = torch.arange(k).repeat_interleave(n_per)
    return centers[labels] + 0.1 * torch.randn(k * n_per, dim, generator=g), labels


@pytest.mark.parametrize("kind", ["vq", "kmeans"])
def test_init_recovers_clusters_and_uses_every_code(kind):
    x, labels = clustered()
    router = Router(32, 3, RouterConfig(kind=kind, projection_dim=8))
    router.init(x)
    out = router(x)
    assert out.routes.shape == (60,) and out.distances.shape == (60, 3) and out.projected.shape == (60, 8)
    # each true cluster maps to exactly one code, and all three codes are used
    mapping = {int(labels[i]): int(out.routes[i]) for i in range(60)}
    assert all(int(out.routes[i]) == mapping[int(labels[i])] for i in range(60))
    assert sorted(mapping.values()) == [0, 1, 2]
    assert codebook_usage(out.routes, 3).dead == ()


def test_vq_loss_trains_projector_and_codebook():
    x, _ = clustered()
    router = Router(32, 3, RouterConfig(kind="vq", projection_dim=8))
    out = router(x)
    assert out.loss > 0
    out.loss.backward()
    assert router.codebook.grad.abs().sum() > 0 and router.projector.weight.grad.abs().sum() > 0


def test_kmeans_router_has_no_trainable_parameters_and_no_loss():
    router = Router(32, 3, RouterConfig(kind="kmeans"))
    assert not any(p.requires_grad for p in router.parameters())
    assert router(clustered()[0]).loss == 0


def test_oracle_routes_are_the_domain_ids():
    router = Router(32, 3, RouterConfig(kind="oracle"))
    ids = torch.tensor([2, 0, 1, 1])
    assert torch.equal(router(torch.randn(4, 32), ids).routes, ids)


def test_oracle_without_domain_ids_is_an_error():
    with pytest.raises(ValueError, match="oracle.*domain_ids"):
        Router(32, 2, RouterConfig(kind="oracle"))(torch.randn(4, 32))


def test_oracle_with_out_of_range_ids_is_an_error():
    with pytest.raises(ValueError, match="domain_ids=\\[0, 5\\]"):
        Router(32, 2, RouterConfig(kind="oracle"))(torch.randn(2, 32), torch.tensor([0, 5]))


def test_init_needs_at_least_k_embeddings():
    with pytest.raises(ValueError, match="N >= K=3"):
        Router(32, 3, RouterConfig()).init(torch.randn(2, 32))


def test_codebook_usage_statistics():
    usage = codebook_usage(torch.tensor([0, 0, 1, 1]), 3)
    assert usage.counts.tolist() == [2, 2, 0] and usage.dead == (2,)
    assert usage.perplexity == pytest.approx(2.0)


def test_pool_prompt_averages_only_prompt_tokens():
    hidden = torch.arange(6.0).reshape(1, 3, 2)
    mask = torch.tensor([[True, True, False]])
    assert pool_prompt(hidden, mask).tolist() == [[1.0, 2.0]]
