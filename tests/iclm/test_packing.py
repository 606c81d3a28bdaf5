"""Shared-context packing (iclm/packing.py, the packed collator, the packed forward, the packed router cache
and the group samplers): a packed batch gives the unpacked batch's losses, routes, router embeddings and
gradients (fp32, 1e-5), also when a puzzle's queries route to different domains (the row is split)."""

from __future__ import annotations

import pytest
import torch

from iclm.data import acre
from iclm.data.collate import ICLMCollator
from iclm.data.evals_format import write_jsonl
from iclm.data.loader import load_examples
from iclm.packing import PackedRow, pack, split_by_routes
from iclm.training.router_cache import RouterEmbeddingCache
from iclm.training.sampler import (
    GroupSampler,
    LengthGroupedGroupSampler,
    fill_batches,
    find_groups,
    group_lengths,
)

LOSS_TERMS = ("lm", "invariant_lm", "domain_lm", "routing", "mi")
TOL = {"atol": 1e-5, "rtol": 1e-5}


def acre_examples(tmp_path, puzzles: int = 2, lone: bool = True) -> list:
    """`puzzles` ACRE-symbolic puzzles (4 consecutive queries each) loaded from a written file; with `lone`,
    one query of another puzzle sits between the first two puzzles."""
    records = acre.generate_acre(4 * puzzles, 0, "symbolic", "iid", "train")
    if lone:
        records = records[:4] + [acre.generate_acre(4, 5, "symbolic", "iid", "train")[1]] + records[4:]
    path = write_jsonl(tmp_path / "acre-symbolic-iid-train.jsonl", records)
    return load_examples(path).examples


def collate(tokenizer, examples, packed: bool, domain_ids: list[int] | None = None) -> dict:
    batch = ICLMCollator(tokenizer, {examples[0].dataset: 0}, 1024, pack_shared_context=packed)(examples)
    if domain_ids is not None:
        batch["domain_ids"] = torch.tensor(domain_ids)
    return batch


def step(model, batch, **kwargs):
    """One training forward + backward -> (output, {name: gradient} of every trainable parameter)."""
    model.train().zero_grad(set_to_none=True)
    out = model(**batch, **kwargs)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return out, grads


def assert_same_step(unpacked, packed) -> None:
    (a, grads_a), (b, grads_b) = unpacked, packed
    for name in LOSS_TERMS:
        torch.testing.assert_close(getattr(b.loss_terms, name), getattr(a.loss_terms, name), **TOL, msg=name)
    torch.testing.assert_close(b.loss, a.loss, **TOL)
    assert torch.equal(b.routes, a.routes)
    assert (a.router_embeddings is None) == (b.router_embeddings is None)
    if a.router_embeddings is not None:
        torch.testing.assert_close(b.router_embeddings, a.router_embeddings, **TOL)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, **TOL, msg=name)


# ---- layout -------------------------------------------------------------------------------------------
def test_pack_layout_lets_a_query_see_the_context_and_itself_only():
    rows = [PackedRow((5, 6, 7), (((8,), (9, 2)), ((10, 11), (12, 2)))), PackedRow((5,), (((6,), (7, 2)),))]
    packed = pack(rows, pad_id=0)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9, 2, 10, 11, 12, 2], [5, 6, 7, 2, 0, 0, 0, 0, 0, 0]]
    assert packed.position_ids[0].tolist() == [0, 1, 2, 3, 4, 5, 3, 4, 5, 6]  # both continue from the context
    assert packed.labels[0].tolist() == [-100] * 4 + [9, 2] + [-100] * 2 + [12, 2]
    assert [(s.row, s.start, s.prompt_end, s.end) for s in packed.segments] == [
        (0, 3, 4, 6),
        (0, 6, 8, 10),
        (1, 1, 2, 4),
    ]
    allowed = packed.attention_mask()[0, 0]  # (T, T) bool
    assert allowed[7].tolist() == [True] * 3 + [False] * 3 + [True] * 2 + [False] * 2  # context + itself
    assert allowed[4].tolist() == [True] * 5 + [False] * 5  # causal within its own segment
    assert not allowed[:3, 3:].any()  # the context sees no segment
    assert packed.attention_mask()[1, 0, 6].tolist() == [False] * 6 + [True] + [False] * 3  # padding: itself
    additive = packed.attention_mask(torch.float32)
    assert additive.dtype == torch.float32 and additive[0, 0, 7, 4] == torch.finfo(torch.float32).min
    assert additive[0, 0, 7, 2] == 0
    rows_of, pool = packed.pool_mask()
    assert rows_of.tolist() == [0, 0, 1]
    assert pool[1].tolist() == [True] * 3 + [False] * 3 + [True] * 2 + [False] * 2  # context + its query
    assert packed.prompt_ids(1) == (5, 6, 7, 10, 11)
    assert packed.token_mask[1].tolist() == [1] * 4 + [0] * 6


def test_split_by_routes_repacks_a_row_per_route_and_restores_the_layout():
    packed = pack([PackedRow((5, 6), (((7,), (8,)), ((9,), (10,)), ((11,), (12,))))], pad_id=0)
    assert split_by_routes(packed, torch.tensor([1, 1, 1])).source is None  # a uniform row runs as is
    split = split_by_routes(packed, torch.tensor([1, 0, 1]))
    assert split.batch.input_ids.tolist() == [[5, 6, 7, 8, 11, 12], [5, 6, 9, 10, 0, 0]]
    assert split.row_routes.tolist() == [1, 0]
    hidden = split.batch.input_ids.float()[..., None]  # states = token ids, to follow them
    restored = split.restore(hidden, tuple(packed.input_ids.shape))
    assert restored[0, :, 0].tolist() == packed.input_ids[0].float().tolist()


def test_collator_groups_puzzles_and_keeps_a_lone_example(tiny_tokenizer, tmp_path):
    examples = acre_examples(tmp_path)
    batch = collate(tiny_tokenizer, examples, packed=True)
    packed = batch["packed"]
    assert [s.row for s in packed.segments] == [0, 0, 0, 0, 1, 2, 2, 2, 2]
    assert batch["domain_ids"].shape == (9,) and "prompt_mask" not in batch
    assert torch.equal(batch["input_ids"], packed.input_ids)
    unpacked = collate(tiny_tokenizer, examples, packed=False)
    for i, seg in enumerate(packed.segments):  # each example's tokens and labels are its unpacked ones
        length = int(unpacked["attention_mask"][i].sum())
        context = len(packed.rows[seg.row].context)
        tokens = torch.cat(
            [packed.input_ids[seg.row, :context], packed.input_ids[seg.row, seg.start : seg.end]]
        )
        assert torch.equal(tokens, unpacked["input_ids"][i, :length])
        assert seg.prompt_end > seg.start  # >= 1 query token: the first answer token's predictor is inside
        assert packed.prompt_ids(i) == tuple(unpacked["input_ids"][i][unpacked["prompt_mask"][i]].tolist())


def test_collator_leaves_a_batch_without_shared_contexts_unpacked(tiny_tokenizer, tmp_path):
    examples = acre_examples(tmp_path)[3:5]  # the last query of a puzzle, then the lone one
    packed = collate(tiny_tokenizer, examples, packed=True)
    unpacked = collate(tiny_tokenizer, examples, packed=False)
    assert packed.keys() == unpacked.keys() and "packed" not in packed
    assert all(torch.equal(packed[k], unpacked[k]) for k in packed)


def test_pack_examples_refuses_groups_out_of_order(tiny_tokenizer, tmp_path):
    from iclm.data.collate import encode_examples
    from iclm.packing import pack_examples

    examples = acre_examples(tmp_path)[:3]
    encoded = encode_examples(examples, tiny_tokenizer, {examples[0].dataset: 0}, 1024)
    with pytest.raises(ValueError, match="in order"):
        pack_examples(encoded, 0, [[1, 0], [2]])


def test_packing_more_than_halves_the_tokens_of_four_query_puzzles(tiny_tokenizer, tmp_path):
    examples = acre_examples(tmp_path, puzzles=4, lone=False)
    packed = collate(tiny_tokenizer, examples, packed=True)
    unpacked = collate(tiny_tokenizer, examples, packed=False)
    ratio_padded = packed["input_ids"].numel() / unpacked["input_ids"].numel()
    ratio_real = packed["attention_mask"].sum() / unpacked["attention_mask"].sum()
    assert ratio_padded < 0.5 and ratio_real < 0.5


# ---- packed forward = unpacked forward --------------------------------------------------------------
CASES = {
    "iclm-vq": {"num_domains": 3},
    "no_invariant-vq": {"num_domains": 3, "variant": "no_invariant"},
    "baseline": {"variant": "baseline"},
    "iclm-oracle": {"num_domains": 3, "router": {"kind": "oracle"}},
}
SPLIT_ROUTES = [0, 1, 0, 2, 1, 2, 2, 2, 2]  # the first puzzle's queries go to three domains


MODES = {  # forward arguments besides the batch
    "routed": {},
    "forced-split": {"routes": torch.tensor(SPLIT_ROUTES)},  # not for the baseline: it has one domain
    "loss-only": {"loss_only": True},  # the oracle then routes without the base pass
}


@pytest.mark.parametrize(
    ("case", "mode"),
    [(case, "routed") for case in CASES]
    + [(case, "forced-split") for case in CASES if case != "baseline"]
    + [("iclm-oracle", "loss-only")],
)
def test_packed_batch_gives_the_unpacked_losses_routes_and_gradients(make_iclm, tmp_path, case, mode):
    model = make_iclm(perturb=True, **CASES[case])
    examples = acre_examples(tmp_path)
    domain_ids = SPLIT_ROUTES if case == "iclm-oracle" else None  # the oracle splits the first puzzle
    unpacked = step(model, collate(model.tokenizer, examples, False, domain_ids), **MODES[mode])
    packed = step(model, collate(model.tokenizer, examples, True, domain_ids), **MODES[mode])
    assert_same_step(unpacked, packed)
    if case == "iclm-oracle" or mode == "forced-split":  # the split path ran
        packed_batch = collate(model.tokenizer, examples, True)["packed"]
        assert split_by_routes(packed_batch, packed[0].routes).source is not None


@pytest.mark.parametrize(
    "fields", [{"recompute": "invariant"}, {"execution": "dense"}], ids=["recompute", "dense"]
)
def test_packed_recompute_and_dense_execution_stay_equal(make_iclm, tmp_path, fields):
    model = make_iclm(num_domains=3, perturb=True, **fields)
    examples = acre_examples(tmp_path)
    routes = torch.tensor(SPLIT_ROUTES)
    unpacked = step(model, collate(model.tokenizer, examples, False), routes=routes)
    packed = step(model, collate(model.tokenizer, examples, True), routes=routes)
    assert_same_step(unpacked, packed)


def test_packed_eager_attention_is_equal(make_iclm, tmp_path):
    model = make_iclm(num_domains=3, perturb=True)
    model.base.set_attn_implementation("eager")
    examples = acre_examples(tmp_path)
    unpacked = step(model, collate(model.tokenizer, examples, False))
    packed = step(model, collate(model.tokenizer, examples, True))
    assert_same_step(unpacked, packed)


def test_packed_loss_only_with_the_router_cache_matches(make_iclm, tmp_path):
    model = make_iclm(num_domains=3, perturb=True)
    examples = acre_examples(tmp_path)
    unpacked, packed = (collate(model.tokenizer, examples, p) for p in (False, True))
    cache = RouterEmbeddingCache()
    cached = cache.packed_embeddings(model, packed["packed"])  # (S, H)
    assert cache.misses == 9 and len(cache) == 9
    fresh = model.router_embeddings(
        unpacked["input_ids"], unpacked["attention_mask"], unpacked["prompt_mask"]
    )
    torch.testing.assert_close(cached, fresh, **TOL)
    cache.embeddings(model, unpacked["input_ids"], unpacked["attention_mask"], unpacked["prompt_mask"], None)
    assert cache.hits == 9  # packed and unpacked batches share the keys
    a = step(model, unpacked, loss_only=True, router_embeddings=fresh)
    b = step(
        model, packed, loss_only=True, router_embeddings=cache.packed_embeddings(model, packed["packed"])
    )
    assert b[0].logits is None
    assert_same_step(a, b)


@pytest.mark.parametrize("drop_module", ["invariant", "domain"])
def test_packed_drop_module_matches(make_iclm, tmp_path, drop_module):
    model = make_iclm(num_domains=3, perturb=True)
    examples = acre_examples(tmp_path)
    routes = torch.tensor(SPLIT_ROUTES)
    with torch.no_grad():
        a = model(**collate(model.tokenizer, examples, False), routes=routes, drop_module=drop_module)
        b = model(**collate(model.tokenizer, examples, True), routes=routes, drop_module=drop_module)
    for name in LOSS_TERMS:
        torch.testing.assert_close(getattr(b.loss_terms, name), getattr(a.loss_terms, name), **TOL, msg=name)


# ---- validation ---------------------------------------------------------------------------------------
@pytest.fixture
def packed_batch(tiny_tokenizer, tmp_path) -> dict:
    return collate(tiny_tokenizer, acre_examples(tmp_path), packed=True)


def test_packed_with_prompt_mask_is_refused(make_iclm, packed_batch):
    with pytest.raises(ValueError, match="prompt_mask does not apply"):
        make_iclm()(**packed_batch, prompt_mask=packed_batch["attention_mask"].bool())


def test_packed_with_a_cache_is_refused(make_iclm, packed_batch):
    with pytest.raises(ValueError, match="no KV cache"):
        make_iclm()(**packed_batch, use_cache=True)


def test_packed_with_other_input_ids_is_refused(make_iclm, packed_batch):
    with pytest.raises(ValueError, match="not the packed rows"):
        make_iclm()(**(packed_batch | {"input_ids": packed_batch["input_ids"][:1]}))


def test_packed_routes_must_be_per_example(make_iclm, packed_batch):
    with pytest.raises(ValueError, match=r"per example: expected \(9,\)"):
        make_iclm()(**packed_batch, routes=torch.zeros(3, dtype=torch.long))


def test_packed_needs_sdpa_or_eager_attention(make_iclm, packed_batch):
    model = make_iclm()
    model.base.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="'sdpa' or 'eager'"):
        model(**packed_batch)


def test_packed_batch_moves_with_accelerate(packed_batch):
    from accelerate.utils import send_to_device

    moved = send_to_device(packed_batch, "cpu")
    assert type(moved["packed"]) is type(packed_batch["packed"])
    assert torch.equal(moved["packed"].input_ids, packed_batch["input_ids"])


# ---- samplers -----------------------------------------------------------------------------------------
def test_find_groups_keeps_puzzles_and_the_lone_query(tmp_path):
    assert find_groups(acre_examples(tmp_path)) == [[0, 1, 2, 3], [4], [5, 6, 7, 8]]


def test_fill_batches_keeps_whole_groups_in_a_batch():
    groups = [[0, 1, 2, 3], [4], [5, 6, 7, 8], [9], [10, 11, 12, 13], [14], [15]]
    order = fill_batches(groups, batch_size=6)
    assert sorted(order) == list(range(16))
    batches = [set(order[i : i + 6]) for i in range(0, 16, 6)]
    for group in groups:
        assert sum(set(group) <= batch for batch in batches) == 1, group


@pytest.mark.parametrize("length_grouped", [False, True])
def test_group_samplers_are_seeded_and_yield_groups_contiguously(tmp_path, length_grouped):
    examples = acre_examples(tmp_path, puzzles=6)
    groups = find_groups(examples)

    def sampler(seed):
        generator = torch.Generator().manual_seed(seed)
        if length_grouped:
            return LengthGroupedGroupSampler(groups, group_lengths(examples, groups), 8, generator, 2)
        return GroupSampler(groups, 8, generator)

    order = list(sampler(0))
    assert sorted(order) == list(range(len(examples))) and len(sampler(0)) == len(examples)
    assert order == list(sampler(0)) and order != list(sampler(1))
    for group in groups:
        start = order.index(group[0])
        assert order[start : start + len(group)] == group


def test_group_sampler_draws_from_the_global_rng_by_default(tmp_path):
    groups = find_groups(acre_examples(tmp_path, puzzles=6))
    torch.manual_seed(3)
    first = list(GroupSampler(groups, 4))
    torch.manual_seed(3)
    assert list(GroupSampler(groups, 4)) == first


# ---- SmolLM2 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_smollm2_packed_step_matches_unpacked(tmp_path):
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_config_and_backbone(
        ICLMConfig(backbone="smollm2-135m", num_domains=2), load_backbone("smollm2-135m")
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # modules that differ from each other and from the base
        for param in model.trainable_parameters():
            param.add_(0.02 * torch.randn(param.shape, generator=generator))
    examples = acre_examples(tmp_path, puzzles=2, lone=False)
    packed_batch = collate(model.tokenizer, examples, True)
    assert packed_batch["input_ids"].shape[0] == 2
    routes = torch.tensor([0, 1, 1, 0, 1, 1, 1, 1])  # one puzzle split over both domains
    unpacked = step(model, collate(model.tokenizer, examples, False), routes=routes)
    packed = step(model, packed_batch, routes=routes)
    assert_same_step(unpacked, packed)
