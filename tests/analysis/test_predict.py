"""analysis.predict: how prompts are cut for live analysis of a checkpoint."""

import dataclasses
import json

import pytest
import torch
from torch import Tensor

from analysis.predict import FIELDS, default_max_length, prompt_ids
from iclm.data.tokens import DEFAULT_MAX_LENGTH


def test_default_max_length_prefers_the_artifact_then_training_then_default(make_iclm, tmp_path):
    model = make_iclm(num_domains=2)
    model.name_or_path = str(tmp_path)
    assert default_max_length(model) == DEFAULT_MAX_LENGTH
    (tmp_path / "training_config.json").write_text(json.dumps({"training": {"max_length": 448}}))
    assert default_max_length(model) == 448
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "manifest.json").write_text(json.dumps({"max_length": 1400}))
    assert default_max_length(model) == 1400  # live results then match the precomputed artifact


def test_prompt_ids_cut_from_the_left_keeping_bos(tiny_tokenizer):
    full = tiny_tokenizer("abcdefghij", add_special_tokens=True)["input_ids"]
    ids = prompt_ids(tiny_tokenizer, "abcdefghij", max_length=6, reserve=1)
    if full[0] == tiny_tokenizer.bos_token_id:  # a leading BOS survives the cut
        assert ids == [full[0], *full[-4:]]
    else:
        assert ids == full[-5:]
    short = tiny_tokenizer("abc", add_special_tokens=True)["input_ids"]
    assert prompt_ids(tiny_tokenizer, "abc", max_length=64) == short  # fits: untouched


# ---- the reference: plain full forwards of `ICLMForCausalLM` (one per choice and per greedy token)
def _forward(model, ids: Tensor, mask: Tensor, routes: Tensor, drop_module: str | None):
    """One forward pass with every input moved to the model's device."""
    device = _device(model)
    ids, mask, routes = ids.to(device), mask.to(device), routes.to(device)
    return model(input_ids=ids, attention_mask=mask, routes=routes, drop_module=drop_module)


@torch.no_grad()
def _choice_predictions(model, collator, examples, routes, fields, drop_module, batch_size):
    """{field: [choice of each example]} for examples that all have choices."""
    from iclm.evaluation.scoring import answer_logprob

    pairs = [(i, dataclasses.replace(e, answer=c)) for i, e in enumerate(examples) for c in e.choices]
    scores = {f: [[] for _ in examples] for f in fields}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collator([p for _, p in chunk])
        rows = torch.tensor([i for i, _ in chunk])
        out = _forward(model, batch["input_ids"], batch["attention_mask"], routes[rows], drop_module)
        for field in fields:
            labels = batch["labels"].to(_device(model))
            values = answer_logprob(getattr(out, field).float(), labels).tolist()
            for (i, _), value in zip(chunk, values, strict=True):
                scores[field][i].append(value)
    return {
        f: [
            e.choices[max(range(len(s)), key=s.__getitem__)] for e, s in zip(examples, scores[f], strict=True)
        ]
        for f in fields
    }


@torch.no_grad()
def _greedy_tokens(model, batch, routes, field, drop_module, max_new_tokens) -> list[list[int]]:
    """Greedy continuations of a right-padded collated batch, one token per step (full recompute)."""
    prompts = [batch["input_ids"][r][batch["prompt_mask"][r]].tolist() for r in range(len(routes))]
    lengths = [
        min(max(int((batch["labels"][r] != -100).sum()), 1), max_new_tokens) for r in range(len(routes))
    ]
    width = max(len(p) for p in prompts) + max(lengths)
    ids = batch["input_ids"].new_zeros(len(prompts), width)
    attention = ids.clone()
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = torch.tensor(prompt)
        attention[row, : len(prompt)] = 1
    cursor = torch.tensor([len(p) for p in prompts])
    rows = torch.arange(len(prompts))
    generated: list[list[int]] = [[] for _ in prompts]
    for step in range(max(lengths)):
        upto = int(cursor.max())
        out = _forward(model, ids[:, :upto], attention[:, :upto], routes, drop_module)
        logits = getattr(out, field)
        tokens = logits[rows.to(logits.device), (cursor - 1).to(logits.device)].argmax(-1).cpu()  # (B,)
        for row in range(len(prompts)):
            if step < lengths[row]:
                generated[row].append(int(tokens[row]))
        ids[rows, cursor], attention[rows, cursor] = tokens, 1
        cursor = cursor + 1
    return generated


def _reference_predictions(
    model, tokenizer, examples, routes, fields, drop_module, collator, batch_size, max_new_tokens
) -> dict[str, list[str | None]]:
    """Plain full forwards (one per choice and per greedy token): the only path that can drop a module."""
    result: dict[str, list[str | None]] = {f: [None] * len(examples) for f in fields}
    with_choices = [i for i, e in enumerate(examples) if e.choices]
    if with_choices:
        chosen = _choice_predictions(
            model,
            collator,
            [examples[i] for i in with_choices],
            routes[with_choices],
            fields,
            drop_module,
            batch_size,
        )
        for field in fields:
            for i, choice in zip(with_choices, chosen[field], strict=True):
                result[field][i] = choice
    free = [i for i, e in enumerate(examples) if not e.choices]
    for start in range(0, len(free), batch_size):
        idx = free[start : start + batch_size]
        batch = collator([examples[i] for i in idx])
        for field in fields:
            tokens = _greedy_tokens(model, batch, routes[idx], field, drop_module, max_new_tokens)
            for i, toks in zip(idx, tokens, strict=True):
                result[field][i] = tokenizer.decode(toks, skip_special_tokens=True).strip()
    return result


def _device(model):
    return next(model.parameters()).device


DROP_FIELDS = {
    None: FIELDS,
    "invariant": ("logits", "domain_logits"),
    "domain": ("logits", "invariant_logits"),
}


@pytest.mark.parametrize("drop_module", [None, "invariant", "domain"])
def test_shared_state_predictions_equal_plain_full_forwards(make_iclm, drop_module):
    """The fast path (one pass per module, choices and greedy from KV caches) predicts exactly what plain
    full forwards predict, for every field, with a module dropped or not, and for explicit routes that
    differ from the router's."""
    from analysis.predict import make_collator, predict_examples
    from iclm.data import Example

    model = make_iclm(num_domains=3, perturb=True)
    tokenizer = model.tokenizer
    examples = [
        Example(id=f"e{i}", prompt=prompt, answer=answer, choices=choices, dataset="toy", split="iid")
        for i, (prompt, answer, choices) in enumerate(
            [
                ("1 2 3 ->", "4", ("4", "5", "66")),
                ("a much longer prompt with many more tokens ->", "x", ("x", "y", "zz")),
                ("no choices here ->", "ok", None),
                ("short", "ab", None),
            ]
        )
    ]
    routes = torch.tensor([2, 0, 1, 2])
    fields = DROP_FIELDS[drop_module]
    collator = make_collator(model, tokenizer, examples)
    fast = predict_examples(
        model, tokenizer, examples, routes, fields=fields, drop_module=drop_module, batch_size=3
    )
    reference = _reference_predictions(
        model, tokenizer, examples, routes, fields, drop_module, collator, 3, 8
    )
    assert fast == reference
