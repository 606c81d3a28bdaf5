"""Activation recomputation (config.recompute): same loss and gradients as keeping activations, less saved for
backward, and each layer recomputed with the adapter it ran with (iclm/recompute.py)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from iclm.config import ICLMConfig


def step_gradients(model, batch, routes, autocast: bool = False) -> tuple[float, dict[str, torch.Tensor]]:
    """One training forward + backward -> (loss, every trainable parameter's gradient)."""
    model.train().zero_grad(set_to_none=True)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with precision:
        loss = model(**batch, routes=routes).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return float(loss.detach()), grads


def saved_bytes(model, batch, routes) -> int:
    """Bytes of the distinct activation storages autograd keeps for backward in one training forward."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch, routes=routes).loss
    loss.backward()
    return sum(saved.values())


@pytest.mark.parametrize("execution", ["sparse", "dense"])
@pytest.mark.parametrize("recompute", ["invariant", "all"])
def test_recompute_gives_the_same_loss_and_gradients(make_iclm, tiny_batch, execution, recompute):
    routes = torch.tensor([0, 2, 1, 2])
    loss, grads = step_gradients(
        make_iclm(num_domains=3, perturb=True, execution=execution), tiny_batch, routes
    )
    model = make_iclm(num_domains=3, perturb=True, execution=execution, recompute=recompute)
    loss_recomputed, grads_recomputed = step_gradients(model, tiny_batch, routes)
    assert loss_recomputed == pytest.approx(loss, abs=1e-6)
    assert grads_recomputed.keys() == grads.keys()
    for name, grad in grads.items():
        # the invariant pass is recomputed after the domain passes ran: a recomputation through the adapter
        # active at backward time (a domain adapter) would give the invariant adapter a different gradient
        torch.testing.assert_close(grads_recomputed[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_recompute_under_bf16_autocast_matches(make_iclm, tiny_batch):
    routes = torch.tensor([0, 1, 0, 1])
    _, grads = step_gradients(make_iclm(num_domains=2, perturb=True), tiny_batch, routes, autocast=True)
    model = make_iclm(num_domains=2, perturb=True, recompute="invariant")
    _, grads_recomputed = step_gradients(model, tiny_batch, routes, autocast=True)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_recomputed[name], grad, atol=1e-3, rtol=1e-2, msg=name)


def test_recompute_keeps_less_for_backward(make_iclm, tiny_batch):
    routes = torch.tensor([0, 1, 0, 1])
    kept = {
        mode: saved_bytes(make_iclm(num_domains=2, perturb=True, recompute=mode), tiny_batch, routes)
        for mode in ("none", "invariant", "all")
    }
    # the tiny backbone has 2 layers: a recomputed pass keeps only its layer inputs
    assert kept["all"] < kept["invariant"] < kept["none"]
    assert kept["invariant"] < 0.75 * kept["none"]


def test_recompute_share_recomputes_that_share_of_layers_evenly(make_iclm, tiny_batch):
    from iclm.recompute import spread

    assert spread(list(range(30)), 1.0) == list(range(30))
    assert spread(list(range(30)), 2 / 3) == [i for i in range(30) if i % 3 != 0]
    assert len(spread(list(range(30)), 0.5)) == 15
    assert spread(list(range(2)), 0.2) == []  # floor(0.2 x 2) = 0: nothing to recompute
    routes = torch.tensor([0, 1, 0, 1])
    _, grads = step_gradients(make_iclm(num_domains=2, perturb=True), tiny_batch, routes)
    kept = {}
    for share in (0.5, 1.0):
        model = make_iclm(num_domains=2, perturb=True, recompute="invariant", recompute_share=share)
        assert len(model._checkpoint_layers) == int(2 * share)
        _, grads_recomputed = step_gradients(model, tiny_batch, routes)
        for name, grad in grads.items():
            torch.testing.assert_close(grads_recomputed[name], grad, atol=1e-6, rtol=1e-5, msg=name)
        kept[share] = saved_bytes(model, tiny_batch, routes)
    none = saved_bytes(make_iclm(num_domains=2, perturb=True), tiny_batch, routes)
    assert kept[1.0] < kept[0.5] < none


def test_baseline_with_full_recompute_matches(make_iclm, tiny_batch):
    routes = torch.zeros(4, dtype=torch.long)
    loss, grads = step_gradients(make_iclm(variant="baseline", perturb=True), tiny_batch, routes)
    model = make_iclm(variant="baseline", perturb=True, recompute="all")
    loss_recomputed, grads_recomputed = step_gradients(model, tiny_batch, routes)
    assert loss_recomputed == pytest.approx(loss, abs=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_recomputed[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_inference_and_generation_are_untouched(make_iclm, tiny_batch, tiny_tokenizer):
    plain = make_iclm(num_domains=2, perturb=True)
    model = make_iclm(num_domains=2, perturb=True, recompute="all")
    with torch.no_grad():
        torch.testing.assert_close(model(**tiny_batch).logits, plain(**tiny_batch).logits)
    prompt = tiny_tokenizer(["2 + 3 = "], return_tensors="pt")
    settings = {"max_new_tokens": 4, "do_sample": False, "force_route": 1}
    assert torch.equal(model.generate(**prompt, **settings), plain.generate(**prompt, **settings))
    assert not any(layer.gradient_checkpointing for layer in model._checkpoint_layers)


def test_invalid_recompute_is_refused():
    with pytest.raises(ValueError, match="recompute='sometimes'"):
        ICLMConfig(recompute="sometimes")
    with pytest.raises(ValueError, match="recompute='invariant' is invalid with variant='baseline'"):
        ICLMConfig(variant="baseline", recompute="invariant")
    for share in (0, 1.5, "half"):
        with pytest.raises(ValueError, match=f"recompute_share={share!r}"):
            ICLMConfig(recompute="all", recompute_share=share)
