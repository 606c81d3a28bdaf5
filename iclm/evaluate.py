"""Accuracy of a checkpoint per dataset (marked i.i.d./o.o.d.) and per readout (see
`iclm.evaluation.scoring`): the model, the invariant module alone, each domain module forced, and oracle
routing; scored by greedy exact match and, where examples have choices, by choice scoring.

`evaluate(model, tokenizer, examples) -> Evaluation` is the library entry point; `write_evaluation`
writes `predictions.jsonl`, `results.json` and `results.md` (see `iclm.evaluation.report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from iclm.evaluation import report, scoring

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Per-example predictions (one dict per example) and the aggregated results dict."""

    predictions: list[dict[str, Any]]
    results: dict[str, Any]


def _routes(model, collator, examples: list, batch_size: int) -> list[int]:
    routes: list[int] = []
    for start in range(0, len(examples), batch_size):
        batch = collator(examples[start : start + batch_size])
        kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "prompt_mask") if k in batch}
        out = model(**kwargs, domain_ids=batch.get("domain_ids"))
        routes += out.routes.tolist()
    return routes


def _score_readout(
    model, tokenizer, collator, examples, readout, batch_size, max_new_tokens, oracle
) -> list[dict]:
    """Greedy prediction and (if choices) choice prediction of one readout for every example."""
    rows: list[dict] = []
    with_choices = [i for i, e in enumerate(examples) if e.choices]
    chosen = [examples[i] for i in with_choices]
    scores = scoring.choice_scores(model, collator, chosen, readout, batch_size, oracle)
    choice_of = {i: s for i, s in zip(with_choices, scores, strict=True)}
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        generated = scoring.greedy_batch(model, collator, chunk, readout, max_new_tokens, oracle)
        for offset, (example, tokens) in enumerate(zip(chunk, generated, strict=True)):
            greedy = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            row = {"greedy": greedy, "greedy_correct": greedy == example.answer.strip()}
            if start + offset in choice_of:
                values = choice_of[start + offset]
                choice = example.choices[max(range(len(values)), key=values.__getitem__)]
                row |= {"choice": choice, "choice_correct": choice.strip() == example.answer.strip()}
            rows.append(row)
    return rows


@torch.no_grad()
def evaluate(
    model, tokenizer, examples: list, *, batch_size: int = 16, max_new_tokens: int = 8, max_length: int = 512
) -> Evaluation:
    """Score `examples` (with non-empty answers) by every readout of `model`."""
    from iclm.data.collate import ICLMCollator

    examples = [e for e in examples if e.answer.strip()]
    if not examples:
        raise ValueError("no examples with a gold answer to evaluate")
    config = model.config
    model.eval()
    # The collator needs an id for every domain; a domain the model was not trained on gets 0 (only an
    # oracle-router model reads it: such examples then take module 0 in the `model` readout).
    known = {name: i for i, name in enumerate(config.dataset_names)}
    dataset_ids = {scoring.domain_key(e): 0 for e in examples} | known
    collator = ICLMCollator(tokenizer, dataset_ids, max_length)
    readouts = scoring.readouts(config)
    routes = _routes(model, collator, examples, batch_size)
    mapping = scoring.oracle_map(examples, routes, config)
    oracle = scoring.oracle_routes(examples, mapping).tolist()
    per_readout = {}
    for readout in tqdm(readouts, desc="readouts", unit="readout"):
        if readout.oracle:
            keep = [i for i, r in enumerate(oracle) if r != scoring.NO_ROUTE]
            chosen = [examples[i] for i in keep]
            rows = _score_readout(
                model, tokenizer, collator, chosen, readout, batch_size, max_new_tokens, mapping
            )
            per_readout[readout.name] = dict(zip(keep, rows, strict=True))
        else:
            rows = _score_readout(
                model, tokenizer, collator, examples, readout, batch_size, max_new_tokens, mapping
            )
            per_readout[readout.name] = dict(enumerate(rows))
    predictions = [
        {
            "id": e.id,
            "dataset": e.dataset,
            "split": e.split,
            "gold": e.answer,
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


def write_evaluation(evaluation: Evaluation, out_dir, name: str = "") -> None:
    """`predictions.jsonl`, `results.json`, `results.md` in `out_dir` (atomic writes)."""
    report.write_outputs(evaluation.predictions, evaluation.results, out_dir, name)
