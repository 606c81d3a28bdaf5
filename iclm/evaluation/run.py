"""Accuracy of a checkpoint per dataset (marked i.i.d./o.o.d.) and per readout (see
`iclm.evaluation.scoring`): the model, the invariant module alone, each domain module forced, and oracle
routing; scored by greedy exact match and, where examples have choices, by choice scoring.

`evaluate(model, tokenizer, examples) -> Evaluation` is the library entry point; `write_evaluation`
writes `predictions.jsonl`, `results.json` and `results.md` (see `iclm.evaluation.report`).

Speed: consecutive examples that share a context (an ACRE puzzle's queries) form one group whose context
runs once (`iclm.evaluation.groups`); groups are batched by context length; a batch costs one router pass
and one pass per module over its contexts (KV-cached), then each example's own tokens, choices and greedy
tokens as continuations, and every readout is read from those module states (`iclm.evaluation.states`,
`iclm.evaluation.fast`). `scoring.choice_scores` / `scoring.greedy_batch` are
the plain full-forward versions (one forward per choice and per greedy token), kept as the reference.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from iclm.data.tokens import DEFAULT_MAX_LENGTH, pad_id
from iclm.evaluation import fast, packed_states, report, scoring
from iclm.evaluation.groups import PromptGroup, group_prompts
from iclm.evaluation.journal import EvaluationJournal
from iclm.evaluation.prompts import cut_count, encode_prompts
from iclm.evaluation.states import ModuleStates, shared_router_embeddings
from iclm.fingerprints import examples_hash, model_hash
from iclm.readout import readouts as config_readouts

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Per-example predictions (one dict per example) and the aggregated results dict."""

    predictions: list[dict[str, Any]]
    results: dict[str, Any]


def _batches(groups: list[PromptGroup], batch_size: int) -> list[list[PromptGroup]]:
    """Groups sorted by context length, `batch_size` contexts a batch."""
    order = sorted(groups, key=lambda g: len(g.context))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _members(batch: list[PromptGroup]) -> list[int]:
    return [m for group in batch for m in group.members]


def _routes(
    model, encoded: list, batches: list[list[PromptGroup]], pad_id: int, progress: bool, packed: bool
) -> list[int]:
    """The router's route of every example (one base pass over each context; baseline: all 0; an oracle
    router: the examples' domain ids, with no base pass)."""
    routes = [0] * len(encoded)
    if not model.config.has_router:
        return routes
    if not model.router.needs_base_pass:  # routes from the domain ids alone (the oracle)
        domain_ids = torch.tensor([e.domain_id for e in encoded], dtype=torch.long)
        return model.router.routes_without_base(domain_ids, len(encoded)).tolist()
    with tqdm(total=len(encoded), desc="routing", unit="example", disable=not progress) as bar:
        for batch in batches:
            members = _members(batch)
            embed = packed_states.packed_router_embeddings if packed else shared_router_embeddings
            embeddings = embed(model, batch, pad_id)  # (M, H)
            domain_ids = torch.tensor([encoded[i].domain_id for i in members], dtype=torch.long)
            found = model.route(None, domain_ids=domain_ids, embeddings=embeddings).routes.tolist()
            for i, route in zip(members, found, strict=True):
                routes[i] = route
            bar.update(len(members))
    return routes


def _row(example, tokenizer, greedy_ids: list[int], scores: list[float] | None) -> dict:
    """One readout's prediction dict for one example (the predictions.jsonl format)."""
    greedy = tokenizer.decode(greedy_ids, skip_special_tokens=True).strip()
    row = {"greedy": greedy, "greedy_correct": greedy == example.answer.strip()}
    if scores is not None:
        choice = example.choices[max(range(len(scores)), key=scores.__getitem__)]
        row |= {"choice": choice, "choice_correct": choice.strip() == example.answer.strip()}
    return row


@dataclass
class _Context:
    """What every batch of one evaluation reads."""

    model: Any
    tokenizer: Any
    examples: list
    encoded: list
    routes: list[int]
    oracle: list[int]
    readouts: list
    pad: int
    packed: bool

    def ids(self, batch: list[PromptGroup]) -> list[str]:
        return [self.examples[i].id for i in _members(batch)]


def _score_batch(c: _Context, groups: list[PromptGroup]) -> dict:
    """{readout name: {example index: prediction dict}} for one batch of groups (`iclm.evaluation.fast`)."""
    model, tokenizer, examples, encoded = c.model, c.tokenizer, c.examples, c.encoded
    routes, oracle, readouts, pad_id = c.routes, c.oracle, c.readouts, c.pad
    batch = _members(groups)
    items = [
        fast.BatchItem(encoded[i].choices, encoded[i].greedy_length, routes[i], oracle[i]) for i in batch
    ]
    if c.packed:
        prefixes = packed_states.choice_prefixes(items)
        states = packed_states.PackedModuleStates(model, model.module_names, groups, pad_id, prefixes)
    else:
        states = ModuleStates(model, model.module_names, [], pad_id, groups=groups)
    scorer = fast.Scorer(model, states, items)
    scores = fast.choice_scores(scorer, readouts)
    generated = fast.greedy(scorer, readouts)
    found: dict[str, dict[int, dict]] = {}
    for readout in readouts:
        for row, tokens in generated.get(readout.name, {}).items():
            chosen = scores.get(readout.name, {}).get(row)
            i = batch[row]
            found.setdefault(readout.name, {})[i] = _row(examples[i], tokenizer, tokens, chosen)
    return found


def _warn_truncated(examples: list, encoded: list, max_length: int) -> None:
    count = cut_count(examples, encoded)
    if count.cut:
        logger.warning(
            "%d of %d prompts (%d of them o.o.d.) do not fit max_length=%d with their answers and lose "
            "tokens from the left (longest prompt: %d tokens); raise --max-length to keep them whole",
            count.cut,
            count.total,
            count.ood,
            max_length,
            count.longest,
        )


@torch.no_grad()
def evaluate(
    model,
    tokenizer,
    examples: list,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    max_length: int = DEFAULT_MAX_LENGTH,
    progress: bool = True,
    share_context: bool = True,
    packed: bool | None = None,
    journal: str | os.PathLike | None = None,
) -> Evaluation:
    """Score `examples` (with non-empty answers) by every readout of `model`.

    Cost per batch: one router pass over the contexts and one pass per module (invariant, domain_0..K-1)
    over each context with its members' own tokens and choices packed after it (`packed`, the default
    where the base's attention takes a 4D mask: `iclm.evaluation.packed_states`); `packed=False` runs them
    as continuations on copies of a KV cache (`iclm.evaluation.states`), the same numbers, slower.
    `share_context=False` runs every prompt whole (the same numbers, slower). `batch_size` counts contexts;
    the output keeps the examples' order.

    `journal`: a JSON-lines file (`iclm.evaluation.journal`) that records the routes and every scored
    batch; a rerun with the same journal, model (by `iclm.fingerprints.model_hash`), examples and settings
    skips what it holds and gives the same predictions."""

    examples = [e for e in examples if e.answer.strip()]
    if not examples:
        raise ValueError("no examples with a gold answer to evaluate")
    config = model.config
    model.eval()
    # Every domain needs an id; a domain the model was not trained on gets 0 (only an oracle-router model
    # reads it: such examples then take module 0 in the `model` readout).
    known = {name: i for i, name in enumerate(config.dataset_names)}
    dataset_ids = {scoring.domain_key(e): 0 for e in examples} | known
    encoded = encode_prompts(examples, tokenizer, dataset_ids, max_length, max_new_tokens)
    _warn_truncated(examples, encoded, max_length)
    pad = pad_id(tokenizer)
    packed = packed_states.applies(model) if packed is None else packed
    if packed and not packed_states.applies(model):
        raise ValueError(
            "packed evaluation needs the base's attention to be 'sdpa' or 'eager' "
            f"(got {model.base.config._attn_implementation!r}); pass packed=False"
        )
    groups = group_prompts([e.prompt_ids for e in encoded], share=share_context)
    batches = _batches(groups, batch_size)
    readouts = config_readouts(config)
    settings = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "max_length": max_length}
    log = _open_journal(journal, model, examples, settings | {"share_context": share_context})
    routes = log.routes if log and log.routes is not None else None
    if routes is None:
        routes = _routes(model, encoded, batches, pad, progress, packed)
        if log:
            log.write_routes(routes)
    mapping = scoring.oracle_map(examples, routes, config)
    oracle = scoring.oracle_routes(examples, mapping).tolist()
    context = _Context(model, tokenizer, examples, encoded, routes, oracle, readouts, pad, packed)
    per_readout = _score_all(context, batches, log, progress)
    predictions = [
        {
            "id": e.id,
            "dataset": e.dataset,
            "split": e.split,
            "gold": e.answer,
            "num_choices": len(e.choices) if e.choices else 0,
            "route": routes[i],
            "oracle_route": None if oracle[i] == scoring.NO_ROUTE else oracle[i],
            "readouts": {name: rows[i] for name, rows in per_readout.items() if i in rows},
        }
        for i, e in enumerate(examples)
    ]
    results = report.aggregate(predictions, [r.name for r in readouts])
    results["model"] = {"variant": config.variant, "num_domains": config.num_domains}
    results["model"]["dataset_names"] = list(config.dataset_names)
    results["oracle_map"] = mapping
    return Evaluation(predictions=predictions, results=results)


def _score_all(
    context: _Context, batches: list[list[PromptGroup]], log: EvaluationJournal | None, progress: bool
) -> dict[str, dict[int, dict]]:
    """{readout: {example index: prediction}} over every batch, read from the journal where it has one."""
    c = context
    per_readout: dict[str, dict[int, dict]] = {r.name: {} for r in c.readouts}
    started, resumed = time.perf_counter(), 0
    with tqdm(total=len(c.examples), desc="scoring", unit="example", disable=not progress) as bar:
        for index, batch in enumerate(batches):
            found = _resumed_batch(log, index, c.ids(batch))
            if found is None:
                found = _score_batch(c, batch)
                if log:
                    log.write_batch(index, c.ids(batch), found)
            else:
                resumed += len(_members(batch))
            for name, rows in found.items():
                per_readout[name].update(rows)
            bar.update(len(_members(batch)))
    elapsed = time.perf_counter() - started
    logger.info(
        "scored %d examples in %.1f s (%d read back from the journal)",
        len(c.examples) - resumed,
        elapsed,
        resumed,
    )
    return per_readout


def _open_journal(path, model, examples: list, settings: dict) -> EvaluationJournal | None:
    if path is None:
        return None
    header = {"model": model_hash(model), "examples": examples_hash(examples), "n": len(examples)}
    log = EvaluationJournal.open(path, header | settings)
    if log.batches:
        logger.info("%s: resuming; %d examples already scored", path, log.done)
    return log


def _resumed_batch(log: EvaluationJournal | None, index: int, ids: list[str]) -> dict | None:
    """The journal's rows of batch `index`, if it holds that batch with these members."""
    if log is None or index not in log.batches:
        return None
    if log.members.get(index) != ids:  # the header pins examples and settings: a changed grouping rule
        raise ValueError(f"{log.path}: batch {index} holds other examples than this run's; use a new journal")
    return log.batches[index]


def write_evaluation(evaluation: Evaluation, out_dir, name: str = "") -> None:
    """`predictions.jsonl`, `results.json`, `results.md` in `out_dir` (atomic writes)."""
    report.write_outputs(evaluation.predictions, evaluation.results, out_dir, name)
