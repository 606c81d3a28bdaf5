"""iclm/data/tokens.py: the one home of the left prompt cut, the longest-answer rule, the default prompt
budget and the pad-id fallback; and the one row padding (`iclm.data.collate.pad_rows`)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from iclm.data.collate import encode_examples, pad_rows
from iclm.data.examples import Example
from iclm.data.tokens import DEFAULT_MAX_LENGTH, cut_prompt, longest_answer, pad_id, special_ids


def _example(id_: str, prompt: str, answer: str, choices=None, split: str = "iid") -> Example:
    return Example(id=id_, prompt=prompt, answer=answer, choices=choices, dataset="d", split=split)


@pytest.mark.parametrize(
    "ids, bos, max_length, reserve, expected",
    [
        ([1, 5, 6, 7], 1, 8, 2, [1, 5, 6, 7]),  # fits: unchanged
        ([1, 5, 6, 7, 8, 9], 1, 5, 2, [1, 8, 9]),  # cut from the left, the leading BOS kept
        ([5, 6, 7, 8, 9], 1, 4, 2, [8, 9]),  # no leading BOS: nothing kept in front
        ([5, 6, 7, 8, 9], None, 3, 1, [8, 9]),  # a tokenizer without BOS
        ([1, 5, 6], 1, 3, 0, [1, 5, 6]),  # exactly fits
    ],
)
def test_cut_prompt_keeps_the_end_and_a_leading_bos(ids, bos, max_length, reserve, expected):
    assert cut_prompt(ids, bos, max_length, reserve) == expected
    assert len(cut_prompt(ids, bos, max_length, reserve)) + reserve <= max(max_length, len(ids) + reserve)


def test_cut_prompt_refuses_an_answer_that_leaves_no_room():
    with pytest.raises(ValueError, match="the answer has 4 tokens, leaving no room .* max_length=5"):
        cut_prompt([1, 5, 6], 1, 5, 4)


def test_encode_examples_names_the_example_whose_answer_leaves_no_room(tiny_tokenizer):
    example = _example("e1", "p", "a b c d e f g h")
    with pytest.raises(ValueError, match="example 'e1': the answer has .* leaving no room"):
        encode_examples([example], tiny_tokenizer, {"d": 0}, max_length=4)


def test_longest_answer_is_the_first_of_the_longest():
    assert longest_answer(["ab", "abcd", "wxyz", "a"], len) == "abcd"
    assert longest_answer([[1], [2, 3], [4]], len) == [2, 3]  # token id rows too


def test_special_ids_fall_back_to_eos_and_refuse_a_tokenizer_without_eos():
    assert special_ids(SimpleNamespace(pad_token_id=0, eos_token_id=2)) == (0, 2)
    assert special_ids(SimpleNamespace(pad_token_id=None, eos_token_id=2)) == (2, 2)
    assert pad_id(SimpleNamespace(pad_token_id=None, eos_token_id=2)) == 2
    with pytest.raises(ValueError, match="eos_token_id"):
        special_ids(SimpleNamespace(pad_token_id=0, eos_token_id=None))


def test_pad_rows_right_pads_ids_and_mask():
    ids, mask = pad_rows([[5, 6, 7], [8]], 0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_the_default_prompt_budget_applies_without_a_training_config(tmp_path):
    from iclm.checkpoint import max_length_for

    assert DEFAULT_MAX_LENGTH == 2048
    assert max_length_for(None) == max_length_for(tmp_path) == DEFAULT_MAX_LENGTH
    (tmp_path / "training_config.json").write_text(json.dumps({"training": {"max_length": 448}}))
    assert max_length_for(tmp_path) == 448


@pytest.mark.parametrize(
    "written",
    ['["max_length", 64]', '{"training": [64]}', '{"training": {"max_length": 1}}', "{not json", ""],
)
def test_an_unreadable_training_config_is_named_not_replaced_by_the_default(tmp_path, written):
    """Present but bad: an error naming the file, never the default (which would cut prompts unlike
    training did)."""
    from iclm.checkpoint import max_length_for
    from iclm.json_files import JsonFileError

    (tmp_path / "training_config.json").write_text(written)
    with pytest.raises(JsonFileError, match="training_config.json"):
        max_length_for(tmp_path)


def test_evaluation_counts_the_prompts_it_cuts(tiny_tokenizer):
    from iclm.evaluation.prompts import cut_count, encode_prompts

    examples = [_example("a", "x " * 40, "1", ["1", "2 2 2 2 2"], "ood"), _example("b", "y", "1")]
    encoded = encode_prompts(examples, tiny_tokenizer, {"d": 0}, max_length=20, max_new_tokens=4)
    count = cut_count(examples, encoded)
    assert (count.cut, count.total, count.ood) == (1, 2, 1)
    assert count.longest == len(tiny_tokenizer(examples[0].prompt)["input_ids"])
    longest = tiny_tokenizer("2 2 2 2 2", add_special_tokens=False)["input_ids"]
    assert len(encoded[0].prompt_ids) + len(longest) + 1 == 20  # cut to fit its longest choice + EOS
