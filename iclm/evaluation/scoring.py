"""Batched scoring of examples by every readout of a model: greedy exact match and choice scoring.

A *readout* (`iclm.readout`: model, invariant, domain_k, oracle; `readouts(config)` lists a model's) is
one way to get a next-token distribution out of a model; the oracle readout's routes come from `oracle_map`:
every example of a training domain goes to that domain's module. `choice_scores` and `greedy_batch` below run
one full forward per choice and per greedy token: the simple reference (tests, single examples);
`iclm.evaluation.run` gets the same numbers much faster through `iclm.evaluation.fast`. Batches are
right-padded, so with causal attention every example's scores equal those of an unpadded run; the prompt mask
keeps routes fixed by the prompt.
"""

from __future__ import annotations

import dataclasses

import torch

from iclm.readout import NO_ROUTE, Readout
from iclm.routers import router_kind


def domain_key(example) -> str:
    return example.domain or example.dataset


def oracle_map(examples: list, routes: list[int], config) -> dict[str, int]:
    """Domain name -> module of the perfect router. With `router.kind == "oracle"` module k is training
    dataset k (`config.dataset_names[k]`). Otherwise clusters carry no names, so each training domain
    is mapped to the module its i.i.d. examples are routed to most often (all its examples if it has no
    i.i.d. ones): the oracle fixes the router's per-example mistakes under the learned assignment."""
    names = list(config.dataset_names)
    if router_kind(config.router.kind).needs_domain_ids:
        return {name: k for k, name in enumerate(names) if k < config.num_domains}
    mapping = {}
    for name in names:
        rows = [r for e, r in zip(examples, routes, strict=True) if domain_key(e) == name]
        iid = [r for e, r in zip(examples, routes, strict=True) if domain_key(e) == name and e.split == "iid"]
        if rows:
            mapping[name] = max(set(iid or rows), key=(iid or rows).count)
    return mapping


def oracle_routes(examples: list, mapping: dict[str, int]) -> torch.Tensor:
    """(B,) oracle module of each example; NO_ROUTE where its domain has no module."""
    return torch.tensor([mapping.get(domain_key(e), NO_ROUTE) for e in examples], dtype=torch.long)


def _forward(model, batch: dict, readout: Readout, routes: torch.Tensor | None) -> torch.Tensor:
    """Logits (B, T, V) of one readout for a collated batch (labels are not passed: no loss): one forward
    with the readout's intervention (and the oracle's routes)."""
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    kwargs["prompt_mask"] = batch["prompt_mask"]
    kwargs["intervention"] = readout.intervention
    if readout.oracle:
        kwargs["routes"] = routes.clamp(min=0)
    if batch.get("domain_ids") is not None:
        kwargs["domain_ids"] = batch["domain_ids"]
    return getattr(model(**kwargs), readout.field).float()


def answer_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Total log-likelihood of the labelled tokens. logits (B, T, V), labels (B, T) -> (B,)."""
    targets = labels[:, 1:]
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
    mask = targets != -100
    picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]  # (B, T-1)
    return (picked * mask).sum(-1)


@torch.no_grad()
def choice_scores(
    model, collator, examples: list, readout: Readout, batch_size: int, oracle: dict[str, int] | None = None
) -> list[list[float]]:
    """Per example, the log-likelihood of each of its `choices` appended to the prompt."""
    pairs = [(i, dataclasses.replace(e, answer=c)) for i, e in enumerate(examples) for c in e.choices or ()]
    scores: list[list[float]] = [[] for _ in examples]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collator([p for _, p in chunk])
        logits = _forward(model, batch, readout, oracle_routes([p for _, p in chunk], oracle or {}))
        for (i, _), value in zip(chunk, answer_logprob(logits, batch["labels"]).tolist(), strict=True):
            scores[i].append(value)
    return scores


def _prompt_and_answer(batch: dict, row: int) -> tuple[list[int], list[int]]:
    ids, labels = batch["input_ids"][row], batch["labels"][row]
    prompt = ids[batch["prompt_mask"][row].bool()].tolist()
    return prompt, labels[labels != -100].tolist()


@torch.no_grad()
def greedy_batch(
    model,
    collator,
    examples: list,
    readout: Readout,
    max_new_tokens: int,
    oracle: dict[str, int] | None = None,
) -> list[list[int]]:
    """Greedy continuation token ids of each example: as many tokens as its gold answer has (at most
    `max_new_tokens`). Right-padded; the prompt mask fixes the route."""
    batch = collator(examples)
    prompts, lengths = [], []
    for row in range(len(examples)):
        prompt, answer = _prompt_and_answer(batch, row)
        prompts.append(prompt)
        lengths.append(min(max(len(answer), 1), max_new_tokens))
    steps, width = max(lengths), max(len(p) for p in prompts) + max(lengths)
    pad = batch["input_ids"].new_zeros(len(examples), width)
    ids, attention, prompt_mask = pad.clone(), pad.clone(), pad.clone().bool()
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = torch.tensor(prompt)
        attention[row, : len(prompt)] = 1
        prompt_mask[row, : len(prompt)] = True
    cursor = torch.tensor([len(p) for p in prompts])
    routes = oracle_routes(examples, oracle or {})
    generated: list[list[int]] = [[] for _ in examples]
    for step in range(steps):
        upto = int(cursor.max())
        step_batch = {"input_ids": ids[:, :upto], "attention_mask": attention[:, :upto]}
        step_batch["prompt_mask"] = prompt_mask[:, :upto]
        step_batch["domain_ids"] = batch.get("domain_ids")
        logits = _forward(model, step_batch, readout, routes)
        rows = torch.arange(len(examples))
        tokens = logits[rows, cursor - 1].argmax(-1)  # (B,)
        for row in range(len(examples)):
            if step < lengths[row]:
                generated[row].append(int(tokens[row]))
        ids[rows, cursor], attention[rows, cursor] = tokens, 1
        cursor = cursor + 1
    return generated
