"""Collation with a real tokenizer: labels on the answer + EOS only, right padding, left truncation."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from iclm.backbone import build_tiny_tokenizer
from iclm.data import Example
from iclm.data.collate import ExampleDataset, ICLMCollator, encode_examples

IDS = {"acre-text": 0, "raven-text": 1}


def _ex(
    prompt: str, answer: str, dataset: str = "acre-text-iid", domain: str | None = "acre-text"
) -> Example:
    return Example(f"{dataset}:1", prompt, answer, None, dataset, "iid", domain)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def test_batch_layout(tokenizer):
    examples = [
        _ex("The light is ", "on"),
        _ex("A longer prompt here -> ", "undetermined", "raven-x", "raven-text"),
    ]
    batch = ICLMCollator(tokenizer, IDS, max_length=128)(examples)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "prompt_mask", "domain_ids"}
    B, T = batch["input_ids"].shape
    assert B == 2 and all(v.shape == (B, T) for k, v in batch.items() if k != "domain_ids")
    assert batch["prompt_mask"].dtype == torch.bool and batch["domain_ids"].tolist() == [0, 1]
    for i, ex in enumerate(examples):
        prompt_ids = tokenizer(ex.prompt)["input_ids"]
        answer_ids = tokenizer(ex.answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        n = len(prompt_ids) + len(answer_ids)
        assert batch["input_ids"][i, :n].tolist() == prompt_ids + answer_ids
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (T - n)
        assert batch["labels"][i].tolist() == [-100] * len(prompt_ids) + answer_ids + [-100] * (T - n)
        assert batch["prompt_mask"][i].tolist() == [True] * len(prompt_ids) + [False] * (T - len(prompt_ids))
        assert batch["input_ids"][i, n:].eq(tokenizer.pad_token_id).all()
    assert (
        tokenizer.decode([t for t in batch["labels"][0].tolist() if t != -100], skip_special_tokens=True)
        == "on"
    )


def test_long_prompt_is_cut_from_the_left_and_answer_kept(tokenizer):
    ex = _ex("0123456789" * 10 + "END -> ", "off")
    batch = ICLMCollator(tokenizer, IDS, max_length=20)([ex])
    ids = batch["input_ids"][0]
    assert ids.shape[0] == 20 and batch["attention_mask"].sum() == 20
    labels = [t for t in batch["labels"][0].tolist() if t != -100]
    assert (
        tokenizer.decode(labels, skip_special_tokens=True) == "off" and labels[-1] == tokenizer.eos_token_id
    )
    kept = tokenizer.decode(ids[batch["prompt_mask"][0]].tolist(), skip_special_tokens=True)
    assert kept.endswith("END -> ") and "0123" not in kept
    if tokenizer.bos_token_id is not None and tokenizer(ex.prompt)["input_ids"][0] == tokenizer.bos_token_id:
        assert ids[0].item() == tokenizer.bos_token_id


def test_answer_that_cannot_fit_raises(tokenizer):
    with pytest.raises(ValueError, match="max_length=5"):
        encode_examples([_ex("p", "a very long answer")], tokenizer, IDS, max_length=5)


def test_unknown_domain_raises_listing_known(tokenizer):
    with pytest.raises(ValueError, match="known: \\['acre-text', 'raven-text'\\]"):
        ICLMCollator(tokenizer, IDS, 64)([_ex("p", "a", "pvr", None)])


def test_dataset_name_is_the_fallback_key(tokenizer):
    batch = ICLMCollator(tokenizer, {"acre-text-iid": 3}, 64)([_ex("p", "a", "acre-text-iid", None)])
    assert batch["domain_ids"].tolist() == [3]


def test_prompt_only_examples_have_no_labels(tokenizer):
    batch = ICLMCollator(tokenizer, IDS, 64)([_ex("just a prompt", "")])
    assert (batch["labels"] == -100).all() and batch["prompt_mask"].sum() == batch["attention_mask"].sum()


def test_pad_falls_back_to_eos_with_a_char_level_wordlevel_tokenizer():
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz ->0123456789"))
    vocab = {"</s>": 0, **{c: i + 1 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="</s>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>")
    assert tok.pad_token_id is None
    batch = ICLMCollator(tok, IDS, 64)([_ex("ab -> ", "on"), _ex("abcdefgh -> ", "off")])
    short = len(tok("ab -> ")["input_ids"]) + 3
    assert batch["input_ids"][0, short:].eq(0).all() and batch["attention_mask"][0, short:].eq(0).all()


def test_dataset_wrapper_with_dataloader(tokenizer):
    examples = [_ex(f"prompt {i} -> ", "on") for i in range(5)]
    loader = torch.utils.data.DataLoader(
        ExampleDataset(examples), batch_size=2, collate_fn=ICLMCollator(tokenizer, IDS, 64)
    )
    batches = list(loader)
    assert len(batches) == 3 and batches[-1]["input_ids"].shape[0] == 1
