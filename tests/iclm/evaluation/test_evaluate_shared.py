"""Shared-context evaluation: an ACRE puzzle's context runs once; routes, scores and answers stay the same."""

from __future__ import annotations

import pytest
import torch

from iclm.data import acre
from iclm.data.collate import pad_rows
from iclm.data.evals_format import write_jsonl
from iclm.data.loader import load_examples
from iclm.evaluation import fast
from iclm.evaluation.groups import MIN_SHARED_TOKENS, group_prompts
from iclm.evaluation.prompts import encode_prompts
from iclm.evaluation.run import evaluate
from iclm.evaluation.states import ModuleStates, shared_router_embeddings
from iclm.readout import readouts as readout_list


@pytest.fixture(scope="module")
def acre_examples(tmp_path_factory):
    """3 symbolic ACRE puzzles (4 lines each, one context each) and a lone unrelated prompt between them."""
    records = acre.generate_acre(12, 5, "symbolic", "iid", "test")
    path = tmp_path_factory.mktemp("acre") / "acre-symbolic-iid.jsonl"
    lone = {"input": [{"role": "user", "content": "2 + 3 = "}], "ideal": "5"}
    write_jsonl(path, records[:8] + [lone] + records[8:])
    return load_examples(path, domain="alpha").examples


def _encoded(model, examples):
    return encode_prompts(examples, model.tokenizer, {"alpha": 0}, 4096, max_new_tokens=3)


def test_consecutive_queries_of_a_puzzle_form_one_group(tiny_tokenizer, acre_examples):
    prompts = [list(tiny_tokenizer(e.prompt)["input_ids"]) for e in acre_examples]
    groups = group_prompts(prompts)
    assert [g.members for g in groups] == [(0, 1, 2, 3), (4, 5, 6, 7), (8,), (9, 10, 11, 12)], [
        len(g.context) for g in groups
    ]
    for group in groups:
        for member, suffix in zip(group.members, group.suffixes, strict=True):
            assert list(group.context) + list(suffix) == prompts[member]
        if len(group.members) > 1:
            assert len(group.context) >= MIN_SHARED_TOKENS
            assert max(len(s) for s in group.suffixes) < len(group.context) / 4  # the query is short
    assert [g.members for g in group_prompts(prompts, share=False)] == [(i,) for i in range(13)]


def test_shared_router_embeddings_equal_full_prompt_embeddings(make_iclm, acre_examples):
    model = make_iclm(perturb=True, num_domains=2)
    prompts = [e.prompt_ids for e in _encoded(model, acre_examples)]
    groups = group_prompts(prompts)
    shared = shared_router_embeddings(model, groups, model.tokenizer.pad_token_id)
    ids, mask = pad_rows(prompts, model.tokenizer.pad_token_id)
    full = model.router_embeddings(ids, mask)
    order = [m for g in groups for m in g.members]
    torch.testing.assert_close(shared, full[order], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["iclm", "no_invariant"])
def test_scores_from_shared_contexts_equal_whole_prompts(make_iclm, acre_examples, variant):
    model = make_iclm(perturb=True, num_domains=2, variant=variant, dataset_names=["alpha"])
    encoded = _encoded(model, acre_examples)
    pad = model.tokenizer.pad_token_id
    routes = [i % 2 for i in range(len(encoded))]  # members of one context read different domain modules
    readouts = readout_list(model.config)

    def run(share: bool):
        groups = group_prompts([e.prompt_ids for e in encoded], share=share)
        order = [m for g in groups for m in g.members]
        items = [fast.BatchItem(encoded[i].choices, 3, routes[i], 0) for i in order]
        states = ModuleStates(model, model.module_names, [], pad, groups=groups)
        scorer = fast.Scorer(model, states, items)
        scores, greedy = fast.choice_scores(scorer, readouts), fast.greedy(scorer, readouts)
        by_example = {n: {order[r]: v for r, v in rows.items()} for n, rows in scores.items()}
        return by_example, {n: {order[r]: v for r, v in rows.items()} for n, rows in greedy.items()}

    shared_scores, shared_greedy = run(True)
    whole_scores, whole_greedy = run(False)
    assert shared_greedy == whole_greedy
    for name, rows in whole_scores.items():
        for i, values in rows.items():
            assert shared_scores[name][i] == pytest.approx(values, abs=1e-4), (name, i)


def test_evaluate_gives_the_same_predictions_with_and_without_sharing(make_iclm, acre_examples):
    model = make_iclm(perturb=True, num_domains=2, dataset_names=["alpha"])
    kwargs = dict(batch_size=2, max_new_tokens=3, progress=False)
    shared = evaluate(model, model.tokenizer, acre_examples, **kwargs)
    whole = evaluate(model, model.tokenizer, acre_examples, share_context=False, **kwargs)
    assert shared.predictions == whole.predictions
    assert shared.results == whole.results


def test_pooled_states_of_shared_contexts_equal_whole_prompts(make_iclm, acre_examples):
    """The prompt-mean states the analysis artifact stores, from shared contexts and from whole prompts."""
    model = make_iclm(perturb=True, num_domains=2)
    prompts = [e.prompt_ids for e in _encoded(model, acre_examples)]
    pad = model.tokenizer.pad_token_id
    groups = group_prompts(prompts)
    order = [m for g in groups for m in g.members]
    shared = ModuleStates(model, model.module_names, [], pad, groups=groups)
    whole = ModuleStates(model, model.module_names, [prompts[i] for i in order], pad)
    for name in model.module_names:
        torch.testing.assert_close(shared.pooled[name], whole.pooled[name], atol=1e-5, rtol=1e-5)
