"""Token ids for evaluation, with the collator's tokenisation (`iclm.data.collate.encode_examples`).

The prompt is tokenised with special tokens, each answer (gold or choice) without, then EOS. One prompt
per example serves every choice and the greedy answer: it is cut from the left (BOS kept) only if it does
not fit `max_length` together with the longest of its answers (`iclm.data.tokens`), and such cuts are counted
(`cut_count`: evaluation and analysis warn from it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from iclm.data.collate import domain_id, encode_examples
from iclm.data.tokens import longest_answer


@dataclass(frozen=True)
class EncodedPrompt:
    """prompt_ids: the (possibly left-cut) prompt; choices: each choice's ids + EOS (empty without choices);
    greedy_length: tokens to generate (gold answer + EOS, at most max_new_tokens); truncated: the prompt
    lost tokens; prompt_tokens: its length before any cut."""

    prompt_ids: list[int]
    choices: tuple[tuple[int, ...], ...]
    greedy_length: int
    domain_id: int
    truncated: bool
    prompt_tokens: int


class _Tokens:
    """Answer-string -> ids (no special tokens) memo; choices repeat across examples."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.memo: dict[str, list[int]] = {}

    def __call__(self, text: str) -> list[int]:
        if text not in self.memo:
            self.memo[text] = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self.memo[text]


def encode_prompts(
    examples: list, tokenizer, dataset_ids: dict[str, int], max_length: int, max_new_tokens: int
) -> list[EncodedPrompt]:
    """One `EncodedPrompt` per example (each needs a non-empty gold answer)."""
    eos = tokenizer.eos_token_id
    tokens = _Tokens(tokenizer)
    out = []
    for example in examples:
        answers = [example.answer, *(example.choices or ())]
        longest = longest_answer(answers, lambda text: len(tokens(text)))
        encoded = encode_examples(
            [dataclasses.replace(example, answer=longest)], tokenizer, dataset_ids, max_length
        )[0]
        full = len(tokenizer(example.prompt, add_special_tokens=True)["input_ids"])
        choices = tuple(tuple(tokens(c) + [eos]) for c in example.choices or ())
        gold = len(tokens(example.answer)) + 1
        out.append(
            EncodedPrompt(
                prompt_ids=encoded.prompt_ids,
                choices=choices,
                greedy_length=min(gold, max_new_tokens),
                domain_id=domain_id(example, dataset_ids),
                truncated=len(encoded.prompt_ids) < full,
                prompt_tokens=full,
            )
        )
    return out


@dataclass(frozen=True)
class CutCount:
    """How many prompts `encode_prompts` cut: `cut` of `total`, `ood` of them o.o.d., and the longest cut
    prompt's length before the cut (`longest`, 0 when none was cut)."""

    cut: int
    total: int
    ood: int
    longest: int


def cut_count(examples: list, encoded: list[EncodedPrompt]) -> CutCount:
    """The prompts that lose tokens from the left to fit max_length with their longest answer."""
    cut = [i for i, e in enumerate(encoded) if e.truncated]
    ood = sum(examples[i].split == "ood" for i in cut)
    return CutCount(len(cut), len(examples), ood, max((encoded[i].prompt_tokens for i in cut), default=0))
