"""Consecutive prompts that share a context, so the context runs once per module instead of once per prompt.

An ACRE puzzle's 4 queries are 4 file lines with one ~120-400-token context and a ~10-token query each.
`group_prompts` puts consecutive prompts whose token ids share a long common prefix into one
`PromptGroup`: evaluation then runs every module over the shared prefix once (a KV-cached pass) and each
member's remaining tokens, choices and greedy tokens as continuations of that cache. With causal attention
and positions continuing from the prefix, a member's states equal those of its own full pass (tested to
1e-5 in fp32).

The prefix is token-level (the longest common prefix of the token ids), so a word that tokenises
differently at the boundary stays in the members' own tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_SHARED_TOKENS = 16  # a shorter common prefix is not worth a group
# A prompt joins the previous one's group when they share this much of the shorter of the two: an ACRE
# puzzle's queries share ~95% (all but the query), two puzzles share only the instruction (20-75%).
MIN_SHARED_FRACTION = 0.8


@dataclass(frozen=True)
class PromptGroup:
    """Prompts `members` (indices) = `context` + each member's own `suffixes` entry (token ids)."""

    context: tuple[int, ...]
    members: tuple[int, ...]
    suffixes: tuple[tuple[int, ...], ...]


def common_prefix(a: Sequence, b: Sequence) -> int:
    """Length of the longest common prefix of two sequences (token ids, or prompt strings)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def group_prompts(prompts: list[list[int]], share: bool = True) -> list[PromptGroup]:
    """Groups of consecutive prompts (in the given order) that share a context; singletons otherwise.

    A prompt joins the previous prompt's group when the two share at least `MIN_SHARED_TOKENS` and
    `MIN_SHARED_FRACTION` of the shorter one; the group's context is what all its members share. A member's
    suffix may be empty (its prompt is the context itself). `share=False` gives one group per prompt."""
    groups: list[tuple[tuple[int, ...], list[int]]] = []
    for index, prompt in enumerate(prompts):
        if share and groups:
            previous = prompts[index - 1]
            shared = common_prefix(previous, prompt)
            enough = MIN_SHARED_FRACTION * min(len(previous), len(prompt))
            if shared >= MIN_SHARED_TOKENS and shared >= enough:
                context, members = groups[-1]
                groups[-1] = (context[: common_prefix(context, prompt)], members + [index])
                continue
        groups.append((tuple(prompt), [index]))
    return [
        PromptGroup(context, tuple(members), tuple(tuple(prompts[m][len(context) :]) for m in members))
        for context, members in groups
    ]
