"""Training-time shortcuts change cost, never results: loss_only heads, the oracle shortcut, cached router
embeddings (model level and through a real training run)."""

import pytest
import torch
import torch.nn.functional as F

from iclm.losses import next_token_targets, targets_lm_loss
from iclm.training.router_cache import RouterEmbeddingCache


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Reference: mean next-token cross-entropy over full (B, T, V) logits, labels shifted here."""
    shift_logits, shift_labels = logits[:, :-1].float(), labels[:, 1:]
    total = F.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=-100, reduction="sum")
    return total / (shift_labels != -100).sum().clamp_min(1)


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_targets_loss_equals_the_full_causal_loss(tiny_batch):
    generator = torch.Generator().manual_seed(0)
    b, t = tiny_batch["labels"].shape
    logits = torch.randn(b, t, 50, generator=generator)
    labels = tiny_batch["labels"].clamp(max=49).masked_fill(tiny_batch["labels"] == -100, -100)
    positions, targets = next_token_targets(labels)
    assert positions.sum() == targets.numel() == (labels[:, 1:] != -100).sum()
    torch.testing.assert_close(targets_lm_loss(logits[positions], targets), causal_lm_loss(logits, labels))


@pytest.mark.parametrize("variant", ["iclm", "no_invariant", "baseline"])
@pytest.mark.parametrize("execution", ["sparse", "dense"])
@pytest.mark.parametrize("aggregation", ["projected", "fresh_head"])
def test_loss_only_gives_the_same_loss_terms_and_gradients(
    make_iclm, tiny_batch, variant, execution, aggregation
):
    model = make_iclm(
        num_domains=2, perturb=True, variant=variant, execution=execution, aggregation=aggregation
    )
    model.train()
    full = model(**tiny_batch)
    full.loss.backward()
    full_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    short = model(**tiny_batch, loss_only=True)
    short.loss.backward()
    assert short.logits is None and short.invariant_logits is None and short.domain_logits is None
    assert full.logits is not None
    torch.testing.assert_close(short.routes, full.routes)
    for name, value in full.loss_terms.as_floats().items():
        assert getattr(short.loss_terms, name).item() == pytest.approx(value, rel=1e-5, abs=1e-6), name
    short_grads = _grads(model)
    assert short_grads.keys() == full_grads.keys() and full_grads
    for name, grad in full_grads.items():
        torch.testing.assert_close(short_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_loss_only_needs_labels(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2)
    with pytest.raises(ValueError, match="loss_only=True needs labels"):
        model(tiny_batch["input_ids"], tiny_batch["attention_mask"], loss_only=True)


def _count_base_passes(model) -> list[int]:
    calls = [0]
    model.base.base_model.register_forward_pre_hook(lambda module, args: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_oracle_router_skips_the_base_pass_under_loss_only(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True, router={"kind": "oracle"})
    calls = _count_base_passes(model)
    full = model(**tiny_batch)
    passes_full = calls[0]
    short = model(**tiny_batch, loss_only=True)
    assert passes_full - (calls[0] - passes_full) == 1  # the router's base pass is gone, nothing else
    assert short.router_embeddings is None and full.router_embeddings is not None
    torch.testing.assert_close(short.routes, tiny_batch["domain_ids"])
    assert short.loss.item() == pytest.approx(full.loss.item(), rel=1e-6)
    bad = dict(tiny_batch, domain_ids=torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="invalid for oracle routing"):
        model(**bad, loss_only=True)


def test_router_embedding_cache_is_exact_and_runs_only_new_prompts(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True)
    calls = _count_base_passes(model)
    cache = RouterEmbeddingCache()
    ids, mask, labels = tiny_batch["input_ids"], tiny_batch["attention_mask"], tiny_batch["labels"]
    first = cache.embeddings(model, ids[:2], mask[:2], None, labels[:2])
    assert calls[0] == 1 and len(cache) == 2 and cache.misses == 2
    both = cache.embeddings(model, ids, mask, None, labels)  # 2 cached + 2 new prompts: one pass of 2 rows
    assert calls[0] == 2 and len(cache) == 4 and cache.hits == 2
    torch.testing.assert_close(both[:2], first)
    cache.embeddings(model, ids.flip(0), mask.flip(0), None, labels.flip(0))  # every prompt known: no pass
    assert calls[0] == 2
    direct = model.router_embeddings(ids, mask, mask.bool() & (labels == -100))
    torch.testing.assert_close(both, direct, atol=1e-5, rtol=1e-5)
    calls[0] = 0
    computed = model(**tiny_batch)
    cached = model(**tiny_batch, router_embeddings=both)
    groups = len(torch.unique(computed.routes))  # sparse: one domain pass per route group
    assert calls[0] == (2 + groups) + (
        1 + groups
    )  # computed: router + invariant + domains; cached: no router
    torch.testing.assert_close(cached.routes, computed.routes)
    assert cached.loss.item() == pytest.approx(computed.loss.item(), rel=1e-5)
