import pytest
import torch


def greedy_without_cache(model, ids: torch.Tensor, steps: int) -> torch.Tensor:
    routes = model(ids).routes  # the route comes from the prompt and stays fixed
    for _ in range(steps):
        logits = model(ids, routes=routes).logits  # full forward, no cache
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


@pytest.mark.parametrize(
    ("variant", "execution"),
    [("iclm", "sparse"), ("iclm", "dense"), ("no_invariant", "sparse"), ("baseline", "sparse")],
)
def test_generate_equals_stepwise_greedy(make_iclm, tiny_tokenizer, variant, execution):
    model = make_iclm(num_domains=2, perturb=True, variant=variant, execution=execution)
    ids = tiny_tokenizer("The blicket is", return_tensors="pt")["input_ids"]
    generated = model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False, eos_token_id=None
    )
    assert generated.shape == (1, ids.shape[1] + 8)
    assert torch.equal(generated, greedy_without_cache(model, ids, 8))


def test_generate_batch_with_mixed_routes(make_iclm, tiny_tokenizer):
    model = make_iclm(num_domains=2, perturb=True)
    ids = torch.stack(
        [
            tiny_tokenizer("abcdef", return_tensors="pt")["input_ids"][0],
            tiny_tokenizer("123456", return_tensors="pt")["input_ids"][0],
        ]
    )
    routes = torch.tensor([0, 1])
    generated = model.generate(ids, routes=routes, max_new_tokens=5, do_sample=False, eos_token_id=None)
    expected = ids
    for _ in range(5):
        logits = model(expected, routes=routes).logits
        expected = torch.cat([expected, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated, expected)


def test_generate_with_forced_route(make_iclm, tiny_tokenizer):
    model = make_iclm(num_domains=2, perturb=True)
    ids = tiny_tokenizer("route me", return_tensors="pt")["input_ids"]
    a = model.generate(ids, force_route=0, max_new_tokens=6, do_sample=False, eos_token_id=None)
    b = model.generate(ids, routes=torch.tensor([0]), max_new_tokens=6, do_sample=False, eos_token_id=None)
    assert torch.equal(a, b)


@pytest.mark.slow
def test_iclm_on_smollm2_trains_one_step():
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    backbone = load_backbone("smollm2-135m")
    model = ICLMForCausalLM.from_config_and_backbone(
        ICLMConfig(num_domains=2, backbone="smollm2-135m"), backbone
    )
    model.train()
    tok = model.tokenizer
    prompt = tok("The capital of France is", return_tensors="pt")["input_ids"]
    answer = tok(" Paris", add_special_tokens=False, return_tensors="pt")["input_ids"]
    ids = torch.cat([prompt, answer], dim=1)
    labels = ids.clone()
    labels[:, : prompt.shape[1]] = -100
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    out = model(ids, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    optimizer.step()
    with torch.no_grad():
        generated = model.generate(prompt, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > prompt.shape[1]
