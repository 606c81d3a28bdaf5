"""Words of a prompt for token attribution: which tokens form a word, and each word's score.

A word starts at a token that begins with whitespace (whitespace-only tokens join the next word); special
tokens are words of their own. A word's score is the SUM of its tokens' scores, so the word scores of
gradient x input and integrated gradients keep the attributions' total (completeness); word ablation
already gives every token of a word the word's score, which is then taken once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

WORD_LEVEL_METHODS = ("feature_ablation",)  # methods whose token scores are already the word's score


def word_groups(tokenizer, ids: Sequence[int]) -> list[int]:
    """Word index of each token (see the module docstring)."""
    special = set(tokenizer.all_special_ids)
    groups, word, prev_text = [], -1, None
    for token_id in ids:
        text = tokenizer.decode([int(token_id)])
        starts = (
            prev_text is None
            or token_id in special
            or prev_text == "<special>"
            or (text[:1].isspace() and not prev_text.isspace())
            or (prev_text[-1:].isspace() and not prev_text.isspace())
        )
        word += int(starts)
        groups.append(word)
        prev_text = "<special>" if token_id in special else (text or " ")
    return groups


def word_scores(frame: pd.DataFrame, module: str) -> pd.DataFrame:
    """One row per word of one readout's attribution frame (`AttributionResult.frame`).

    Columns: word (index), text (its tokens joined, whitespace kept), first_token, tokens (count), score.
    """
    part = frame[frame["module"] == module].sort_values("token_index")
    if part.empty:
        raise ValueError(
            f"module={module!r} is not in the attribution; it has {sorted(set(frame['module']))}"
        )
    method = str(part["method"].iloc[0])
    score = "first" if method in WORD_LEVEL_METHODS else "sum"
    words = part.groupby("word", sort=True).agg(
        text=("token", "".join),
        first_token=("token_index", "min"),
        tokens=("token_index", "size"),
        score=("score", score),
    )
    return words.reset_index()
