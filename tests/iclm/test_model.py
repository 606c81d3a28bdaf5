import pytest
import torch

from iclm.config import LossWeights


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("execution", ["sparse", "dense"])
@pytest.mark.parametrize("variant", ["iclm", "no_invariant", "baseline"])
def test_forward_shapes_and_finite_losses(make_iclm, tiny_batch, k, execution, variant):
    model = make_iclm(num_domains=k, execution=execution, variant=variant)
    out = model(**tiny_batch)
    b, t = tiny_batch["input_ids"].shape
    v = len(model.tokenizer)
    assert out.logits.shape == (b, t, v) and out.routes.shape == (b,)
    assert out.domain_logits.shape == (b, t, v) and out.domain_hidden.shape == (b, t, 64)
    if variant == "iclm":
        assert out.invariant_logits.shape == (b, t, v) and out.invariant_hidden.shape == (b, t, 64)
    else:
        assert out.invariant_logits is None and out.invariant_hidden is None
    for value in out.loss_terms.as_floats().values():
        assert torch.isfinite(torch.tensor(value))
    assert torch.isfinite(out.loss)


def test_fresh_model_reproduces_the_base(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2)
    out = model(tiny_batch["input_ids"], tiny_batch["attention_mask"])
    base = model.base(input_ids=tiny_batch["input_ids"], attention_mask=tiny_batch["attention_mask"])
    mask = tiny_batch["attention_mask"].bool()
    torch.testing.assert_close(out.logits[mask], base.logits[mask], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aggregation", ["projected", "fresh_head"])
def test_sparse_equals_dense_with_hard_routing(make_iclm, tiny_batch, aggregation):
    model = make_iclm(num_domains=3, perturb=True, aggregation=aggregation)
    routes = torch.tensor([2, 0, 2, 1])
    sparse = model(**tiny_batch, routes=routes)
    model.config.execution = "dense"
    dense = model(**tiny_batch, routes=routes)
    torch.testing.assert_close(sparse.logits, dense.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sparse.loss, dense.loss, atol=1e-5, rtol=1e-5)


def lora_grad_norm(model, adapter: str) -> float | None:
    grads = [p.grad for n, p in model.base.named_parameters() if f".{adapter}." in n and "lora_" in n]
    assert grads, adapter
    if all(g is None for g in grads):
        return None
    return sum(float(g.abs().sum()) for g in grads if g is not None)


@pytest.mark.parametrize("execution", ["sparse", "dense"])
def test_gradients_reach_only_the_routed_adapters(make_iclm, tiny_batch, execution):
    model = make_iclm(num_domains=3, perturb=True, execution=execution).train()
    routes = torch.tensor([0, 2, 0, 2])  # nobody goes to domain_1
    model(**tiny_batch, routes=routes).loss.backward()
    assert all(p.requires_grad for n, p in model.base.named_parameters() if "lora_" in n)
    assert lora_grad_norm(model, "invariant") > 0
    assert lora_grad_norm(model, "domain_0") > 0 and lora_grad_norm(model, "domain_2") > 0
    assert lora_grad_norm(model, "domain_1") in (None, 0.0)


def test_domain_gradient_comes_only_from_its_own_examples(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True).train()
    routes = torch.tensor([0, 1, 0, 1])
    full = model(**tiny_batch, routes=routes)
    full.loss_terms.domain_lm.backward()
    grad_full = {n: p.grad.clone() for n, p in model.base.named_parameters() if ".domain_0." in n}
    model.zero_grad()
    # changing the examples routed to domain_1 leaves domain_0's gradient of the domain-alone loss unchanged
    altered = {k: v.clone() for k, v in tiny_batch.items()}
    altered["input_ids"][1] = (altered["input_ids"][1] + 7) % 200 + 3
    model(**altered, routes=routes).loss_terms.domain_lm.backward()
    for n, p in model.base.named_parameters():
        if ".domain_0." in n:
            # per-token normalisation differs only if label counts change; they do not here
            torch.testing.assert_close(p.grad, grad_full[n], atol=1e-6, rtol=1e-5)


def test_optimizer_step_never_changes_the_base(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2).train()
    frozen = {n: p.detach().clone() for n, p in model.base.named_parameters() if "lora_" not in n}
    trainable = model.trainable_parameters()
    assert all("lora_" in n for n, p in model.base.named_parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    before = [p.detach().clone() for p in trainable]
    model(**tiny_batch).loss.backward()
    optimizer.step()
    for n, p in model.base.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    assert any(not torch.equal(a, p) for a, p in zip(before, trainable, strict=True))


@pytest.mark.parametrize("weight", ["lm", "invariant", "domain", "routing", "mi"])
def test_every_loss_weight_is_used(make_iclm, tiny_batch, weight):
    model = make_iclm(num_domains=2, perturb=True)
    term = {"lm": "lm", "invariant": "invariant_lm", "domain": "domain_lm", "routing": "routing", "mi": "mi"}
    only = {name: 0.0 for name in term}
    only[weight] = 1.0
    model.config.loss_weights = LossWeights(**only)
    out = model(**tiny_batch)
    expected = getattr(out.loss_terms, term[weight])
    assert expected != 0
    torch.testing.assert_close(out.loss, expected)
    model.config.loss_weights = LossWeights(**{name: 0.0 for name in term})
    assert model(**tiny_batch).loss == 0


def test_force_route_and_oracle(make_iclm, tiny_batch):
    model = make_iclm(num_domains=3, perturb=True)
    assert model(**tiny_batch, force_route=2).routes.tolist() == [2, 2, 2, 2]
    oracle = make_iclm(num_domains=3, router={"kind": "oracle"})
    ids = torch.tensor([2, 1, 0, 1])
    assert oracle(**{**tiny_batch, "domain_ids": ids}).routes.tolist() == ids.tolist()
    with pytest.raises(ValueError, match="force_route=3"):
        model(**tiny_batch, force_route=3)


def test_oracle_without_domain_ids_is_an_error(make_iclm, tiny_batch):
    model = make_iclm(router={"kind": "oracle"})
    batch = {k: v for k, v in tiny_batch.items() if k != "domain_ids"}
    with pytest.raises(ValueError, match="domain_ids"):
        model(**batch)


def test_forced_routes_give_different_domain_predictions(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True)
    a = model(**tiny_batch, force_route=0).domain_logits
    b = model(**tiny_batch, force_route=1).domain_logits
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("dropped", ["invariant", "domain"])
def test_drop_module(make_iclm, tiny_batch, dropped):
    model = make_iclm(num_domains=2, perturb=True)
    full = model(**tiny_batch)
    out = model(**tiny_batch, drop_module=dropped)
    assert getattr(out, f"{dropped}_hidden") is None
    kept = "domain" if dropped == "invariant" else "invariant"
    torch.testing.assert_close(getattr(out, f"{kept}_logits"), getattr(full, f"{kept}_logits"))
    assert not torch.allclose(out.logits, full.logits)


def test_drop_module_invalid_value(make_iclm, tiny_batch):
    with pytest.raises(ValueError, match="drop_module='router'"):
        make_iclm()(**tiny_batch, drop_module="router")


def test_router_embeddings_are_prompt_means_of_the_base(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True)
    prompt_mask = tiny_batch["attention_mask"].bool() & (tiny_batch["labels"] == -100)
    emb = model.router_embeddings(tiny_batch["input_ids"], tiny_batch["attention_mask"], prompt_mask)
    assert emb.shape == (4, 64)
    out = model(**tiny_batch)
    torch.testing.assert_close(out.router_embeddings, emb)
    routed = model.route(tiny_batch["input_ids"], embeddings=emb)
    assert torch.equal(routed.routes, out.routes)


def test_init_router_uses_every_code(make_iclm, tiny_tokenizer):
    from tests.helpers.batches import make_batch

    model = make_iclm(num_domains=2)
    pairs = [("aaaa aaaa aaaa", "x")] * 4 + [("9 8 7 6 5 4 3", "y")] * 4
    batch = make_batch(tiny_tokenizer, pairs)
    prompt_mask = batch["attention_mask"].bool() & (batch["labels"] == -100)
    emb = model.router_embeddings(batch["input_ids"], batch["attention_mask"], prompt_mask)
    model.init_router(emb)
    usage = model.codebook_usage(model.route(batch["input_ids"], embeddings=emb).routes)
    assert usage.dead == () and usage.counts.tolist() == [4, 4]
