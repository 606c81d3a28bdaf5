"""Batched predictions of an ICLM under explicit routes: choice scoring or greedy, several readouts at once.

Shared by `analysis.collect` (one run over a dataset) and `analysis.interventions` (forced routes, dropped or
swapped modules). The router's routes are computed once from the prompts (`model_routes`) and then passed
explicitly (`routes=`), so every later pass skips the router; an `iclm.interventions.Intervention` changes
them (forced, shifted) or drops a module in that pass, as `forward(intervention=...)` would.

A *field* is an `ICLMOutput` logits field: "logits" (readout "model": aggregated for iclm),
"invariant_logits" (readout "invariant") or "domain_logits" (readout "domain", the routed domain module).
One set of module passes scores every requested field. Scoring matches
`iclm.evaluation.scoring`: examples with choices take the choice of highest total answer log-likelihood
(`scoring.answer_logprob`); the others are greedy-decoded for as many tokens as the gold answer + EOS has
(capped by `max_new_tokens`), decoded without special tokens and stripped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from iclm.interventions import Intervention, from_keywords
from iclm.readout import FIELD_READOUTS, FIELDS, Readout


def domain_names(model, examples: Sequence) -> list[str]:
    """config.dataset_names, then every other domain/dataset of `examples` in sorted order (true ids)."""
    names = list(model.config.dataset_names)
    extra = sorted({e.domain or e.dataset for e in examples} - set(names))
    return names + extra


def model_device(model) -> torch.device:
    """The device of the model's parameters: every input tensor goes there before a forward pass."""
    return next(model.parameters()).device


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """A collated batch with every tensor moved to `device`."""
    return {key: value.to(device) for key, value in batch.items()}


def default_max_length(model) -> int:
    """How to cut prompts for live analysis of `model`: the max_length its shipped artifact was collected
    with (`<checkpoint>/analysis/manifest.json`), so live results match the precomputed ones; else its
    training run's (training_config.json), so prompts are cut as the router saw them in training;
    else `iclm.data.tokens.DEFAULT_MAX_LENGTH` (`iclm.checkpoint.max_length_for`)."""
    from analysis.inputs import artifact_max_length
    from iclm.checkpoint import max_length_for

    folder = getattr(model, "name_or_path", "") or None
    return artifact_max_length(folder) or max_length_for(folder)


def prompt_ids(tokenizer, prompt: str, max_length: int, reserve: int = 1) -> list[int]:
    """Token ids of `prompt` (with special tokens), cut from the LEFT (a leading BOS kept) so that `reserve`
    answer tokens still fit in `max_length`: `iclm.data.tokens.cut_prompt`, the rule of training."""
    from iclm.data.tokens import cut_prompt

    ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    return cut_prompt(ids, tokenizer.bos_token_id, max_length, reserve)


def make_collator(model, tokenizer, examples: Sequence, max_length: int | None = None):
    """An `ICLMCollator` whose dataset ids cover `examples` (see `domain_names`); max_length defaults to
    `default_max_length(model)`."""
    from iclm.data.collate import ICLMCollator

    ids = {name: i for i, name in enumerate(domain_names(model, examples))}
    return ICLMCollator(tokenizer, ids, max_length or default_max_length(model))


def route_batch(model, collator, examples: Sequence) -> dict[str, Tensor]:
    """The collated batch (on the model's device) that routes `examples`: each prompt cut to fit its longest
    answer (gold or choice), as `iclm.evaluation.run` cuts it; the router reads its prompt_mask tokens."""
    from analysis.inputs import with_longest_answer

    fitted = [with_longest_answer(e, collator.tokenizer) for e in examples]
    return to_device(collator(fitted), model_device(model))


def router_domain_ids(model, domain_ids: Tensor) -> Tensor | None:
    """domain_ids for the oracle router when all are training domains, else None."""
    if ((domain_ids >= 0) & (domain_ids < model.config.num_domains)).all():
        return domain_ids
    return None


def routes_by_dataset(model) -> bool:
    """Whether the model's router is the oracle: it routes a prompt by its true dataset, which a live prompt
    must then be given (`oracle_domain`)."""
    return model.config.has_router and model.config.router.kind == "oracle"


def oracle_domain(model, dataset: str | None) -> int | None:
    """The domain id the oracle router gives `dataset` (its index in `config.dataset_names`; a data mix's
    domain name or a test set's dataset name whose training dataset is a prefix, e.g. "acre-symbolic-comp"
    -> "acre-symbolic"); None for any other router. ValueError naming the model's datasets when an oracle
    model gets a prompt of none of them."""
    if not routes_by_dataset(model):
        return None
    names = list(model.config.dataset_names or [])
    found = [i for i, name in enumerate(names) if dataset == name or str(dataset).startswith(f"{name}-")]
    if not found:
        raise ValueError(
            f"this model routes by the true dataset (an oracle router) and {dataset!r} is none of its "
            f"datasets: give the prompt one of {names}"
        )
    return max(found, key=lambda i: len(names[i]))  # the longest matching name


@torch.no_grad()
def model_routes(model, collator, examples: Sequence, batch_size: int = 8) -> Tensor:
    """The model's own routes (N,) long, computed from the prompts (baseline: all 0)."""
    routes = []
    for start in range(0, len(examples), batch_size):
        batch = route_batch(model, collator, examples[start : start + batch_size])
        out = model.route(
            batch["input_ids"],
            batch["attention_mask"],
            batch["prompt_mask"],
            domain_ids=router_domain_ids(model, batch["domain_ids"]),
        )
        routes.append(out.routes.cpu())
    return torch.cat(routes).long()


def predict_examples(
    model,
    tokenizer,
    examples: Sequence,
    routes: Tensor,
    *,
    fields: Sequence[str] = ("logits",),
    drop_module: str | None = None,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    collator=None,
) -> dict[str, list[str]]:
    """Predicted answer strings {field: [one per example]} on the router's routes (N,) as `intervention`
    changes them (forced, shifted; a module dropped); `drop_module=` is a short way to give one."""
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise ValueError(f"fields={list(fields)} is invalid; choose from {list(FIELDS)}")
    if len(routes) != len(examples):
        raise ValueError(f"routes has {len(routes)} entries for {len(examples)} examples")
    intervention = from_keywords(intervention, None, drop_module)
    intervention.check(model.config)
    collator = collator or make_collator(model, tokenizer, examples)
    readouts = {f: Readout.under(FIELD_READOUTS[f].name, f, intervention) for f in fields}
    found = _shared_state_predictions(
        model,
        tokenizer,
        examples,
        routes.long(),
        list(readouts.values()),
        collator,
        batch_size,
        max_new_tokens,
    )
    return {field: found[readout.name] for field, readout in readouts.items()}


def predict_readouts(
    model,
    tokenizer,
    examples: Sequence,
    routes: Tensor,
    readouts: Sequence[Readout],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    collator=None,
) -> dict[str, list[str | None]]:
    """{readout name: [answer per example]} for any readouts at once (e.g. one per intervention, each made
    with `Readout.under`), on the router's routes (N,): every readout is read from the same module passes."""
    if len(routes) != len(examples):
        raise ValueError(f"routes has {len(routes)} entries for {len(examples)} examples")
    collator = collator or make_collator(model, tokenizer, examples)
    return _shared_state_predictions(
        model, tokenizer, examples, routes.long(), list(readouts), collator, batch_size, max_new_tokens
    )


def _shared_state_predictions(
    model, tokenizer, examples, routes, readouts, collator, batch_size, max_new_tokens
) -> dict[str, list[str | None]]:
    """{readout name: [answer per example]} by the evaluation's fast path (`iclm.evaluation.fast`).
    Consecutive examples sharing a context (an ACRE puzzle's queries) form one prompt group
    (`iclm.evaluation.groups`); groups of similar length are batched (`batch_size` groups), and each batch
    runs one pass per module any readout needs (packed: contexts, members and choice prefixes in one row,
    `iclm.evaluation.packed_states`; else KV-cached), from which every readout, choice and greedy token is
    read. `routes` are each example's router route; each readout's intervention changes them."""
    from iclm.evaluation import fast, packed_states
    from iclm.evaluation.groups import group_prompts
    from iclm.evaluation.prompts import encode_prompts
    from iclm.evaluation.states import ModuleStates
    from iclm.readout import NO_ROUTE

    encoded = encode_prompts(
        list(examples), tokenizer, collator.dataset_ids, collator.max_length, max_new_tokens
    )
    groups = group_prompts([e.prompt_ids for e in encoded])
    groups.sort(key=lambda g: len(g.context) + sum(len(s) for s in g.suffixes))  # less padding per batch
    packed = packed_states.applies(model)
    device = model_device(model)
    result: dict[str, list[str | None]] = {r.name: [None] * len(examples) for r in readouts}
    for start in range(0, len(groups), batch_size):
        batch = groups[start : start + batch_size]
        members = [m for group in batch for m in group.members]
        items = [
            fast.BatchItem(
                encoded[i].choices,
                0 if examples[i].choices else encoded[i].greedy_length,  # greedy only without choices
                int(routes[i]),
                NO_ROUTE,
            )
            for i in members
        ]
        modules = sorted(
            {m for r in readouts for item in items for m in fast.module_names(model.config, r, item) if m}
        )
        if packed:
            prefixes = packed_states.choice_prefixes(items)
            states = packed_states.PackedModuleStates(
                model, modules, batch, collator.pad_id, prefixes, device=device
            )
        else:
            states = ModuleStates(model, modules, [], collator.pad_id, groups=batch, device=device)
        scorer = fast.Scorer(model, states, items)
        found = scorer_answers(tokenizer, [examples[i] for i in members], scorer, readouts)
        for readout in readouts:
            for row, i in enumerate(members):
                result[readout.name][i] = found[readout.name][row]
    return result


def scorer_answers(tokenizer, examples: Sequence, scorer, readouts) -> dict[str, list[str | None]]:
    """Answer strings {readout name: [one per scorer row]} (examples in row order): the best-scoring
    choice for examples with choices, else the decoded greedy tokens; None where a readout read nothing."""
    from iclm.evaluation import fast

    scores, generated = fast.choice_scores(scorer, readouts), fast.greedy(scorer, readouts)
    found: dict[str, list[str | None]] = {}
    for readout in readouts:
        chosen, tokens = scores.get(readout.name, {}), generated.get(readout.name, {})
        answers: list[str | None] = []
        for row, example in enumerate(examples):
            if example.choices and row in chosen:
                values = chosen[row]
                answers.append(example.choices[max(range(len(values)), key=values.__getitem__)])
            elif not example.choices and scorer.items[row].greedy_length and row in tokens:
                answers.append(tokenizer.decode(tokens[row], skip_special_tokens=True).strip())
            else:
                answers.append(None)
        found[readout.name] = answers
    return found


def is_correct(prediction: str | None, gold: str) -> bool | None:
    """Exact match after stripping; None where there is no prediction or no gold answer."""
    if prediction is None or not gold.strip():
        return None
    return prediction.strip() == gold.strip()
