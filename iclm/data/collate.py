"""Tokenise Examples and collate them into training batches for ICLMForCausalLM.

The prompt and the answer are tokenised separately (the answer directly follows the prompt, then EOS),
so labels cover exactly the answer tokens + EOS. A too-long example loses tokens from the LEFT of its
prompt (the leading BOS is kept; `iclm.data.tokens.cut_prompt`); the answer is never cut. Rows are
right-padded by `pad_rows`, the one padding rule of every batch built from token lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from iclm.data.examples import Example
from iclm.data.tokens import cut_prompt, special_ids

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of one example: the (possibly left-truncated) prompt and the answer (+ EOS)."""

    prompt_ids: list[int]
    answer_ids: list[int]
    domain_id: int


def pad_rows(rows: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token rows to the longest: -> ids (N, L) long (`value` after each row), mask (N, L) long."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids, mask


def domain_id(example: Example, dataset_ids: dict[str, int]) -> int:
    """Oracle domain id: by `example.domain` when known, else by `example.dataset`."""
    for key in (example.domain, example.dataset):
        if key is not None and key in dataset_ids:
            return dataset_ids[key]
    raise ValueError(
        f"example {example.id!r}: neither domain {example.domain!r} nor dataset {example.dataset!r} is in "
        f"dataset_ids (known: {sorted(dataset_ids)})"
    )


def encode_examples(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    dataset_ids: dict[str, int],
    max_length: int,
) -> list[EncodedExample]:
    """Tokenise examples, truncating prompts from the left so prompt + answer fit in max_length."""
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    _, eos = special_ids(tokenizer)
    bos = tokenizer.bos_token_id
    out = []
    for ex in examples:
        prompt = list(tokenizer(ex.prompt, add_special_tokens=True)["input_ids"])
        answer = (
            list(tokenizer(ex.answer, add_special_tokens=False)["input_ids"]) + [eos] if ex.answer else []
        )
        try:
            prompt = cut_prompt(prompt, bos, max_length, len(answer))
        except ValueError as error:
            raise ValueError(f"example {ex.id!r}: {error}") from error
        out.append(EncodedExample(prompt, answer, domain_id(ex, dataset_ids)))
    return out


class ICLMCollator:
    """Callable turning a list of Examples into a batch dict of tensors.

    Returns input_ids (B, T) long, attention_mask (B, T) long, labels (B, T) long (-100 on prompt and
    padding), prompt_mask (B, T) bool (prompt tokens only), domain_ids (B,) long. Right padding.

    `pack_shared_context=True` (training): consecutive examples whose prompts share a context go into one
    row (iclm/packing.py); the batch is then input_ids, attention_mask, labels of the R packed rows (R, T),
    domain_ids (S,) per example and `packed` (the PackedBatch the model reads), without prompt_mask. A
    batch in which no two examples share a context stays unpacked (the batch above, exactly).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        dataset_ids: dict[str, int],
        max_length: int,
        pack_shared_context: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.dataset_ids = dict(dataset_ids)
        self.max_length = max_length
        self.pack_shared_context = pack_shared_context
        self.pad_id, _ = special_ids(tokenizer)

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        if not examples:
            raise ValueError("cannot collate an empty list of examples")
        encoded = encode_examples(examples, self.tokenizer, self.dataset_ids, self.max_length)
        domain_ids = torch.tensor([e.domain_id for e in encoded], dtype=torch.long)  # (B,)
        if self.pack_shared_context:
            from iclm.packing import group_examples, pack_examples  # iclm.packing imports this module

            groups = group_examples(encoded)
            if any(len(members) > 1 for members in groups):
                packed = pack_examples(encoded, self.pad_id, groups)
                return {
                    "input_ids": packed.input_ids,
                    "attention_mask": packed.token_mask,
                    "labels": packed.labels,
                    "domain_ids": domain_ids,
                    "packed": packed,
                }
        input_ids, attention = pad_rows([e.prompt_ids + e.answer_ids for e in encoded], self.pad_id)  # (B, T)
        labels, _ = pad_rows(
            [[IGNORE_INDEX] * len(e.prompt_ids) + e.answer_ids for e in encoded], IGNORE_INDEX
        )
        in_prompt, _ = pad_rows([[1] * len(e.prompt_ids) + [0] * len(e.answer_ids) for e in encoded], 0)
        prompt_mask = in_prompt.bool()
        return {
            "input_ids": input_ids,
            "attention_mask": attention,
            "labels": labels,
            "prompt_mask": prompt_mask,
            "domain_ids": domain_ids,
        }


class ExampleDataset(Dataset):
    """A torch Dataset over Examples (pair it with ICLMCollator as `collate_fn`)."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]
