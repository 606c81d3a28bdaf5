"""Packed evaluation passes (one row per prompt group: context, members' tokens, choice prefixes, 4D tree
mask, no KV cache) give the cached path's states, router embeddings, scores and answers."""

from __future__ import annotations

import pytest
import torch

from iclm.data import acre
from iclm.data.evals_format import write_jsonl
from iclm.data.loader import load_examples
from iclm.evaluation import fast
from iclm.evaluation.groups import PromptGroup, group_prompts
from iclm.evaluation.packed_states import (
    PackedModuleStates,
    choice_prefixes,
    packed_router_embeddings,
    tree_mask,
)
from iclm.evaluation.prompts import encode_prompts
from iclm.evaluation.run import evaluate
from iclm.evaluation.states import ModuleStates, shared_router_embeddings


@pytest.fixture(scope="module")
def acre_examples(tmp_path_factory):
    """3 symbolic ACRE puzzles (4 lines each) and a lone prompt between them (a group of one)."""
    records = acre.generate_acre(12, 5, "symbolic", "iid", "test")
    path = tmp_path_factory.mktemp("acre") / "acre-symbolic-iid.jsonl"
    lone = {"input": [{"role": "user", "content": "2 + 3 = "}], "ideal": "5", "choices": ["5", "6", "23"]}
    write_jsonl(path, records[:8] + [lone] + records[8:])
    return load_examples(path, domain="alpha").examples


def _encoded(model, examples):
    return encode_prompts(examples, model.tokenizer, {"alpha": 0}, 4096, max_new_tokens=3)


def test_tree_mask_lets_a_prefix_see_context_its_member_and_itself_only():
    # context (2 tokens) | member A (seg 1) | A's prefix (seg 2) | member B (seg 3) | B's prefix (seg 4) | pad
    segments = torch.tensor([[0, 0, 1, 1, 2, 3, 4, -1]])
    parents = torch.tensor([[0, 0, 0, 0, 1, 0, 3, -1]])
    allowed = tree_mask(segments, parents)[0, 0]
    assert allowed[4].tolist() == [True, True, True, True, True, False, False, False]  # A's prefix
    assert allowed[5].tolist() == [True, True, False, False, False, True, False, False]  # B: not A's tokens
    assert allowed[6].tolist() == [True, True, False, False, False, True, True, False]  # B's prefix
    assert allowed[7].tolist() == [False] * 7 + [True]  # padding sees itself only
    assert not allowed.triu(1).any()  # causal


@pytest.mark.parametrize("share", [True, False])
def test_packed_states_equal_cached_states(make_iclm, acre_examples, share):
    model = make_iclm(perturb=True, num_domains=2)
    encoded = _encoded(model, acre_examples)
    pad = model.tokenizer.pad_token_id
    groups = group_prompts([e.prompt_ids for e in encoded], share=share)
    order = [m for g in groups for m in g.members]
    items = [fast.BatchItem(encoded[i].choices, 3, 0, 0) for i in order]
    packed = PackedModuleStates(model, model.module_names, groups, pad, prefixes=choice_prefixes(items))
    cached = ModuleStates(model, model.module_names, [], pad, groups=groups)
    keys = set()
    for row, item in enumerate(items):
        for choice in item.choices:
            keys |= {(m, row, tuple(choice[:i])) for m in model.module_names for i in range(len(choice))}
    cached.ensure(keys)
    assert all(k in packed.states for k in keys)  # planned: nothing left to run
    for key in sorted(keys):
        torch.testing.assert_close(packed.state(*key), cached.state(*key), atol=1e-5, rtol=1e-5)
    for name in model.module_names:
        torch.testing.assert_close(packed.pooled[name], cached.pooled[name], atol=1e-5, rtol=1e-5)


def test_a_prefix_not_planned_is_computed_on_demand(make_iclm, acre_examples):
    model = make_iclm(perturb=True, num_domains=2)
    encoded = _encoded(model, acre_examples)
    pad = model.tokenizer.pad_token_id
    groups = group_prompts([e.prompt_ids for e in encoded])
    packed = PackedModuleStates(model, model.module_names, groups, pad)  # prompts only
    cached = ModuleStates(model, model.module_names, [], pad, groups=groups)
    keys = {("domain_1", row, (7, 11)) for row in (0, 3, 8)} | {("invariant", 5, (9,))}
    assert not any(k in packed.states for k in keys)
    packed.ensure(keys)
    cached.ensure(keys)
    for key in keys | {("domain_1", 0, (7,))}:
        torch.testing.assert_close(packed.state(*key), cached.state(*key), atol=1e-5, rtol=1e-5)
    # a second continuation (the next greedy step) sees neither the first one's tokens nor other members'
    later = {("domain_1", 0, (7, 11, 13)), ("domain_1", 1, (2,)), ("invariant", 5, (9, 4))}
    packed.ensure(later)
    cached.ensure(later)
    for key in later:
        torch.testing.assert_close(packed.state(*key), cached.state(*key), atol=1e-5, rtol=1e-5)
    no_cache = PackedModuleStates(model, ["invariant"], groups, pad, keep_cache=False)
    with pytest.raises(ValueError, match="keep_cache=False"):
        no_cache.ensure({("invariant", 0, (3,))})


def test_a_member_whose_prompt_is_the_context_reads_the_context_end(make_iclm):
    model = make_iclm(perturb=True, num_domains=2)
    pad = model.tokenizer.pad_token_id
    context = tuple(range(5, 25))
    group = PromptGroup(context, (0, 1), ((), (30, 31)))
    packed = PackedModuleStates(model, ["invariant"], [group], pad, prefixes={0: [(40,)], 1: [(41, 42)]})
    cached = ModuleStates(model, ["invariant"], [], pad, groups=[group])
    keys = {("invariant", 0, ()), ("invariant", 0, (40,)), ("invariant", 1, (41, 42))}
    cached.ensure(keys)
    for key in keys:
        torch.testing.assert_close(packed.state(*key), cached.state(*key), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed.pooled["invariant"], cached.pooled["invariant"], atol=1e-5, rtol=1e-5)


def test_packed_router_embeddings_equal_shared_ones(make_iclm, acre_examples):
    model = make_iclm(perturb=True, num_domains=2)
    groups = group_prompts([e.prompt_ids for e in _encoded(model, acre_examples)])
    pad = model.tokenizer.pad_token_id
    torch.testing.assert_close(
        packed_router_embeddings(model, groups, pad),
        shared_router_embeddings(model, groups, pad),
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize("variant", ["iclm", "no_invariant", "baseline"])
def test_evaluate_packed_gives_the_cached_predictions(make_iclm, acre_examples, variant):
    model = make_iclm(perturb=True, num_domains=2, variant=variant, dataset_names=["alpha"])
    kwargs = dict(batch_size=3, max_new_tokens=3, progress=False)
    packed = evaluate(model, model.tokenizer, acre_examples, **kwargs)
    cached = evaluate(model, model.tokenizer, acre_examples, packed=False, **kwargs)
    assert packed.predictions == cached.predictions
    assert packed.results == cached.results


def test_a_module_runs_only_over_the_groups_holding_its_rows(make_iclm, acre_examples):
    model = make_iclm(perturb=True, num_domains=2)
    encoded = _encoded(model, acre_examples)
    pad = model.tokenizer.pad_token_id
    groups = group_prompts([e.prompt_ids for e in encoded])  # puzzle 1 = rows 0-3, lone = 8, ...
    order = [m for g in groups for m in g.members]
    items = [fast.BatchItem(encoded[i].choices, 3, 0, 0) for i in order]
    prefixes = choice_prefixes(items)
    full = PackedModuleStates(model, model.module_names, groups, pad, prefixes=prefixes)
    seen_rows = []
    original = model.module_states

    def counting(module, ids, *rest):  # the real pass, counting the packed rows each module runs over
        seen_rows.append((module, ids.shape[0]))
        return original(module, ids, *rest)

    model.module_states = counting
    try:
        part = PackedModuleStates(
            model, model.module_names, groups, pad, prefixes=prefixes, rows_per_module={"domain_1": {1, 8}}
        )
    finally:
        del model.module_states
    assert dict(seen_rows) == {"invariant": len(groups), "domain_0": len(groups), "domain_1": 2}
    covered = {part.members[1].packed_row, part.members[8].packed_row}
    in_groups = [row for row in range(len(order)) if part.members[row].packed_row in covered]
    assert len(in_groups) == 5  # row 1's puzzle (4 queries) and the lone prompt
    for key, value in full.states.items():
        module, row, _ = key
        if module != "domain_1" or row in in_groups:
            torch.testing.assert_close(part.state(*key), value, atol=1e-6, rtol=1e-6)
        else:
            with pytest.raises(KeyError):
                part.state(*key)
    torch.testing.assert_close(part.pooled["domain_1"][in_groups], full.pooled["domain_1"][in_groups])
    assert torch.isnan(part.pooled["domain_1"][[r for r in range(len(order)) if r not in in_groups]]).all()
    part.ensure({("domain_1", 8, (3, 4))})  # a later prefix of a covered row runs on the kept cache
    full.ensure({("domain_1", 8, (3, 4))})
    torch.testing.assert_close(part.state("domain_1", 8, (3, 4)), full.state("domain_1", 8, (3, 4)))
    with pytest.raises(KeyError, match="did not run over row 5"):
        part.ensure({("domain_1", 5, (3,))})
