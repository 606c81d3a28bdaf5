"""What a token attribution explains: an answer's whole log-probability after the prompt, or a contrast.

An answer is scored the way the model would produce it after the prompt: tokenised IN CONTEXT. The prompt
and the answer are tokenised together (with a space between them unless the prompt already ends in
whitespace or the answer starts with it) and the answer is the tokens after the prompt's own; "Paris"
after "The capital of France is" is the token " Paris" (the model's answer, p = 0.8 on SmolLM2), not
"Paris" (log-prob -6.6). When the joint tokenisation would change the prompt's last token (a prompt ending
in a space: "... is " + "off" merges into " off"), the prompt keeps its tokens and the answer is
tokenised on its own, which is exactly how the evaluation and the training collator score it. Every token
of the answer counts: f = sum_i log p(a_i | prompt, a_<i) (teacher forcing; "undetermined" is two tokens on
SmolLM2), without the EOS the choice scoring adds.

A contrastive target explains f = log p(a) - log p(b), e.g. "on" vs "off": why the model prefers one
choice to another, the natural question for choice tasks. Gradient x input, integrated gradients and word
ablation are linear in f, so a contrast's attribution is exactly the difference of the two answers'
attributions (saliency, |gradient|, is not). Attributions are taken with respect to the PROMPT tokens:
the answer tokens fed in for teacher forcing keep their embeddings (they are what is being explained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Contrast:
    """Explain log p(answer | prompt) - log p(other | prompt)."""

    answer: str
    other: str

    def __post_init__(self) -> None:
        if not self.answer.strip() or not self.other.strip():
            raise ValueError(f"Contrast({self.answer!r}, {self.other!r}): both answers must be non-empty")
        if self.answer == self.other:
            raise ValueError(f"Contrast({self.answer!r}, {self.other!r}): the answers must differ")


#: None: each readout's own most likely next token; int: one token id; str: a whole answer; Contrast.
Target = str | int | Contrast | None


@dataclass(frozen=True)
class Continuation:
    """One scored answer: its token ids as they follow the prompt, and its sign in f (+1, or -1 for the
    other answer of a contrast). The model reads prompt[:position + 1] + ids[:-1] and scores ids."""

    ids: tuple[int, ...]
    sign: float = 1.0

    @property
    def prefix(self) -> tuple[int, ...]:
        """The answer tokens fed in after the prompt (all but the last)."""
        return self.ids[:-1]


def joiner(prompt: str, answer: str) -> str:
    """The text between prompt and answer: a space unless one side already has whitespace there."""
    return "" if not prompt or prompt[-1].isspace() or answer[:1].isspace() else " "


def answer_ids(tokenizer, prompt: str, answer: str) -> tuple[int, ...]:
    """The answer's token ids as they follow `prompt` (see the module docstring): non-empty."""
    if not answer.strip():
        raise ValueError(f"target answer {answer!r} is empty")
    sep = joiner(prompt, answer)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    joint = list(tokenizer(prompt + sep + answer, add_special_tokens=True)["input_ids"])
    if joint[: len(prompt_ids)] == prompt_ids and len(joint) > len(prompt_ids):
        return tuple(int(i) for i in joint[len(prompt_ids) :])
    alone = tokenizer(sep + answer, add_special_tokens=False)["input_ids"]
    if not alone:
        raise ValueError(f"target answer {answer!r} has no tokens")
    return tuple(int(i) for i in alone)


def continuations(tokenizer, prompt: str, target: Target) -> list[Continuation] | None:
    """The scored answers of a target (None: each readout's own top token, found by the attribution)."""
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, int | str | Contrast):
        raise ValueError(
            f"target={target!r} is invalid: give an answer string, a token id, a Contrast or None"
        )
    if isinstance(target, int):
        return [Continuation((int(target),))]
    if isinstance(target, str):
        return [Continuation(answer_ids(tokenizer, prompt, target))]
    return [
        Continuation(answer_ids(tokenizer, prompt, target.answer), 1.0),
        Continuation(answer_ids(tokenizer, prompt, target.other), -1.0),
    ]


def longest(found: Sequence[Continuation] | None) -> int:
    """Answer tokens to keep room for when the prompt is cut to the model's max length."""
    return max((len(c.ids) for c in found or ()), default=1)


def describe(target: Target) -> str:
    """How the studio names the explained quantity."""
    if target is None:
        return "log p(top token)"
    if isinstance(target, Contrast):
        return f"log p({target.answer}) - log p({target.other})"
    return f"log p({target})"
