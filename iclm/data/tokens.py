"""How a prompt and its answers become token ids: the rules training, evaluation and analysis share.

- The prompt budget: `max_length` tokens of prompt + answer; `DEFAULT_MAX_LENGTH` when neither the caller nor
  the checkpoint's training run names one (`iclm.checkpoint.max_length_for`).
- The left prompt cut (`cut_prompt`): a prompt too long for its answer loses tokens from the LEFT, a leading
  BOS kept, so the question at its end survives; the answer is never cut.
- The longest-answer rule (`longest_answer`): one prompt serves the gold answer and every choice, so it is cut
  to fit the longest of them (every choice is then scored on the same prompt).
- The pad id (`special_ids`, `pad_id`): the tokenizer's pad token, else its EOS.

Torch-free: row padding, which builds tensors, is `iclm.data.collate.pad_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

DEFAULT_MAX_LENGTH = 2048

Answer = TypeVar("Answer")


def special_ids(tokenizer) -> tuple[int, int]:
    """(pad id, eos id); pad falls back to eos. Raises ValueError when the tokenizer has neither."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    if eos is None or pad is None:
        raise ValueError("tokenizer must define eos_token_id (used for EOS and as the fallback pad id)")
    return int(pad), int(eos)


def pad_id(tokenizer) -> int:
    """The id that pads rows: the tokenizer's pad token, else its EOS (see `special_ids`)."""
    return special_ids(tokenizer)[0]


def cut_prompt(prompt_ids: list[int], bos: int | None, max_length: int, reserve: int) -> list[int]:
    """`prompt_ids` (tokenised with special tokens) cut from the LEFT, a leading BOS kept, so that `reserve`
    answer tokens still fit in `max_length`; a prompt that fits is returned unchanged. Raises ValueError when
    the answer leaves no room for even one prompt token."""
    keep_bos = bool(prompt_ids) and bos is not None and prompt_ids[0] == bos
    room = max_length - reserve - int(keep_bos)
    if room < 1:
        raise ValueError(
            f"the answer has {reserve} tokens, leaving no room for the prompt within max_length={max_length}"
        )
    if len(prompt_ids) + reserve <= max_length:
        return list(prompt_ids)
    return ([bos] if keep_bos else []) + list(prompt_ids[len(prompt_ids) - room :])


def longest_answer(answers: Sequence[Answer], count: Callable[[Answer], int]) -> Answer:
    """The answer with the most tokens (`count(answer)`; the first of equal ones; answers as text or as token
    ids): the one a shared prompt is cut to fit, so that the gold answer and every choice are scored on the
    same prompt."""
    return max(answers, key=count)
