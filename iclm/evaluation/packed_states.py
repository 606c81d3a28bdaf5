"""`ModuleStates` without a KV cache: a batch's contexts, every member's own tokens and every choice in one
packed pass per module.

The cached path (`iclm.evaluation.states`) runs each module over the contexts, then each member's tokens and
each choice as continuations on *copies* of the cache rows: on the CPU measured here the copies (index_select,
a new DynamicCache, and torch.cat growing it layer by layer) took ~45% of an ACRE evaluation. Here one row per
prompt group holds, in order:

    context | member 1's own tokens | its choice prefixes ... | member 2's own tokens | its prefixes ... |

with position ids that continue from the context for each member and from the member's tokens for each of
its prefixes, and a 4D mask that lets a token see the context, its own segment and (for a prefix) its
member's tokens: a tree of segments over one shared context. With causal attention over the same keys at
the same positions, every state equals the cached path's (tested to 1e-5 in fp32). A prefix asked for later
(a greedy token that is no choice's) runs as a short continuation on the pass's kept KV cache (no copy).

Needs the base's attention to be sdpa or eager (`iclm.packed_passes.packed_mask`'s rule); `applies` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from transformers import DynamicCache

from iclm.data.collate import pad_rows
from iclm.evaluation.groups import PromptGroup
from iclm.evaluation.states import StateKey
from iclm.packed_passes import as_attention_mask, takes_4d_mask

# Rows x length^2 of the 4D mask per pass: bounds sdpa's (rows, heads, T, T) scores (~9 heads x 4 bytes each).
MASK_BUDGET = 8_000_000
CONTEXT, PAD = 0, -1


def applies(model) -> bool:
    """Packed passes need a 4D mask, which sdpa and eager attention take (flash attention does not)."""
    return takes_4d_mask(model)


@dataclass
class _Row:
    """One packed row under construction: tokens, positions, segment and parent-segment ids per token."""

    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    segments: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    next_segment: int = 1

    def add(self, tokens: Iterable[int], first_position: int, parent: int) -> tuple[int, int]:
        """Append a segment; -> (its segment id, index of its first token)."""
        tokens = list(tokens)
        segment, start = self.next_segment, len(self.ids)
        self.next_segment += 1
        self.ids += tokens
        self.positions += range(first_position, first_position + len(tokens))
        self.segments += [segment] * len(tokens)
        self.parents += [parent] * len(tokens)
        return segment, start


def tree_mask(segments: Tensor, parents: Tensor) -> Tensor:
    """(R, 1, T, T) bool: query i sees key j <= i when j is context, in i's segment or in i's parent
    segment; padding sees itself only (no row of the mask is empty)."""
    length = segments.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    key = segments[:, None, :]  # (R, 1, T)
    seen = (key == CONTEXT) | (key == segments[:, :, None]) | (key == parents[:, :, None])  # (R, T, T)
    real = (segments[:, :, None] != PAD) & (key != PAD)
    eye = torch.eye(length, dtype=torch.bool, device=segments.device)
    return ((causal & seen & real) | eye)[:, None]


@dataclass(frozen=True)
class _Member:
    """Where member `row`'s prompt lies in the packed rows: packed row, its own tokens' segment id and
    [start, end) span, and its position after the prompt (context + own tokens)."""

    packed_row: int
    segment: int
    start: int
    end: int
    next_position: int


class PackedModuleStates:
    """The interface of `iclm.evaluation.states.ModuleStates` (`state`, `ensure`, `pooled`) for one batch of
    prompt groups; row i is the i-th member of the groups in order.

    prefixes: {row: token-id prefixes} to compute in the first pass (a choice's tokens but its last, so every
    choice token's predicting state is there; `choice_prefixes` lists them); the empty prefix (the prompt's
    last state) is always computed. `pooled[module]` (B, H) is each row's mean state over its prompt (context
    + own tokens), as in ModuleStates. With `keep_cache` each module keeps the first pass's KV cache, so a
    prefix asked for later (a greedy token that is no choice's) runs as a short continuation that sees its
    context and member only (`ensure`); without it such a prefix cannot be computed.

    rows_per_module: {module: member rows it must cover} (default: every module covers every row). A module
    then runs only over the packed rows (prompt groups) holding one of its rows, so a collection that needs
    only the routed domain module per example (and every module for a small forced sample) does not run each
    domain module over the whole batch. A member its module skipped has no state (`state` raises KeyError)
    and a NaN `pooled` row."""

    def __init__(
        self,
        model,
        modules: list[str | None],
        groups: list[PromptGroup],
        pad_id: int,
        prefixes: dict[int, list[tuple[int, ...]]] | None = None,
        device: torch.device | None = None,
        keep_cache: bool = True,
        rows_per_module: dict[str | None, Iterable[int]] | None = None,
    ) -> None:
        self.model, self.modules, self.groups, self.pad_id = model, list(modules), groups, pad_id
        self.device = device if device is not None else next(model.parameters()).device
        self.states: dict[StateKey, Tensor] = {}
        rows, points, self.members = self._layout(prefixes or {})
        ids, positions, segments, parents = (
            pad_rows(column, fill)[0].to(self.device)
            for column, fill in (
                ([r.ids for r in rows], self.pad_id),
                ([r.positions for r in rows], 0),
                ([r.segments for r in rows], PAD),
                ([r.parents for r in rows], PAD),
            )
        )
        self.key_segments = segments  # (R, T0): what a later continuation may see
        width = ids.shape[1]
        per_pass = max(1, MASK_BUDGET // (width * width))
        # Per module: the packed rows it runs over, in passes of at most per_pass rows each.
        self.chunks: dict[str | None, list[list[int]]] = {}
        self.caches: dict[str | None, list[DynamicCache | None]] = {}
        self.pooled: dict[str | None, Tensor] = {}
        for module in self.modules:
            covered = self._packed_rows(module, rows_per_module, len(rows))
            self.chunks[module] = [covered[a : a + per_pass] for a in range(0, len(covered), per_pass)]
            caches, hidden = [], []
            for part in self.chunks[module]:
                cache = DynamicCache() if keep_cache else None
                mask = as_attention_mask(self.model, tree_mask(segments[part], parents[part]))
                hidden.append(self.model.module_states(module, ids[part], mask, cache, positions[part]))
                caches.append(cache)
            self.caches[module] = caches
            states = torch.cat(hidden) if hidden else None  # (covered rows, T0, H)
            where = {packed: i for i, packed in enumerate(covered)}
            for (row, prefix), (r, index) in points.items():
                if r in where:
                    self.states[(module, row, prefix)] = states[where[r], index]
            self.pooled[module] = torch.stack(
                [self._prompt_mean(states, where, row) for row in range(len(self.members))]
            )

    # ------------------------------------------------------------- reading
    def state(self, module: str, row: int, prefix: tuple[int, ...]) -> Tensor:
        """(H,) state after prompt `row` + `prefix`; `ensure` it first for a prefix not planned."""
        return self.states[(module, row, prefix)]

    def ensure(self, keys: set[StateKey]) -> None:
        """Compute the states of `keys` not yet known: per module, one continuation on its kept cache where
        each missing prefix is a new segment seeing its context and its member's own tokens (a prefix that
        begins another missing one is not run on its own)."""
        missing: dict[str, dict[int, list[tuple[int, ...]]]] = {}
        for module, row, prefix in keys:
            if (module, row, prefix) not in self.states:
                missing.setdefault(module, {}).setdefault(row, []).append(prefix)
        for module, rows in missing.items():
            if any(cache is None for cache in self.caches[module]):
                raise ValueError(
                    "these packed states were built with keep_cache=False: no prefix can be added"
                )
            self._continue(module, {row: _longest(found) for row, found in rows.items()})

    # ------------------------------------------------------------- passes
    def _continue(self, module: str, wanted: dict[int, list[tuple[int, ...]]]) -> None:
        """New segments (each missing prefix, parent = its member's own tokens) appended to the cache of every
        chunk that has one; padding where a packed row has none."""
        new: dict[int, _Row] = {}
        owners: dict[int, list[tuple[int, tuple[int, ...], int]]] = {}  # packed row -> (row, prefix, first)
        covered = {r for part in self.chunks[module] for r in part}
        for row, found in sorted(wanted.items()):
            member = self.members[row]
            if member.packed_row not in covered:
                raise KeyError(f"{module} did not run over row {row} (rows_per_module left it out)")
            packed = new.setdefault(member.packed_row, _Row())
            for prefix in found:
                _, first = packed.add(prefix, member.next_position, member.segment)
                owners.setdefault(member.packed_row, []).append((row, prefix, first))
        for part, cache in zip(self.chunks[module], self.caches[module], strict=True):
            if not any(r in new for r in part):
                continue
            built = [new.get(r, _Row()) for r in part]
            ids, positions, segments, parents = (
                pad_rows(columns, fill)[0].to(self.device)
                for columns, fill in (
                    ([b.ids for b in built], self.pad_id),
                    ([b.positions for b in built], 0),
                    ([b.segments for b in built], PAD),
                    ([b.parents for b in built], PAD),
                )
            )
            past = cache.get_seq_length()
            allowed = _continuation_mask(self.key_segments[part], past, segments, parents)
            hidden = self.model.module_states(
                module, ids, as_attention_mask(self.model, allowed), cache, positions
            )
            for at, r in enumerate(part):
                for row, prefix, first in owners.get(r, ()):
                    for i in range(len(prefix)):
                        self.states[(module, row, prefix[: i + 1])] = hidden[at, first + i]

    def _layout(self, prefixes: dict[int, list[tuple[int, ...]]]):
        """One packed row per group: its context, then per member its own tokens and its wanted prefixes;
        -> (rows, {(row, prefix): (packed row, index)}, [_Member per row])."""
        rows: list[_Row] = []
        points: dict[tuple[int, tuple[int, ...]], tuple[int, int]] = {}
        members: list[_Member] = []
        for r, group in enumerate(self.groups):
            packed, c = _Row(), len(group.context)
            packed.ids += group.context
            packed.positions += range(c)
            packed.segments += [CONTEXT] * c
            packed.parents += [CONTEXT] * c
            for suffix in group.suffixes:
                row = len(members)
                segment, start = packed.add(suffix, c, CONTEXT)
                members.append(_Member(r, segment, start, start + len(suffix), c + len(suffix)))
                points[(row, ())] = (r, start + len(suffix) - 1 if suffix else c - 1)
                for prefix in _longest(prefixes.get(row, ())):
                    _, first = packed.add(prefix, c + len(suffix), segment)
                    for i in range(len(prefix)):
                        points[(row, prefix[: i + 1])] = (r, first + i)
            rows.append(packed)
        return rows, points, members

    def _packed_rows(self, module, rows_per_module, count: int) -> list[int]:
        """The packed rows `module` runs over: all, or those holding a member row it must cover."""
        if rows_per_module is None or module not in rows_per_module:
            return list(range(count))
        return sorted({self.members[row].packed_row for row in rows_per_module[module]})

    def _prompt_mean(self, hidden: Tensor | None, where: dict[int, int], row: int) -> Tensor:
        """Mean of one member's states over its prompt (its group's context + its own tokens); NaN where its
        module did not run over it (`where`: packed row -> row of `hidden`)."""
        member = self.members[row]
        if member.packed_row not in where:
            size = self.model.base.config.get_text_config().hidden_size
            return torch.full((size,), float("nan"), device=self.device)
        at = where[member.packed_row]
        context = hidden[at, : len(self.groups[member.packed_row].context)]
        own = hidden[at, member.start : member.end]
        return torch.cat([context, own]).mean(0)


def _continuation_mask(old_segments: Tensor, past: int, segments: Tensor, parents: Tensor) -> Tensor:
    """(R, 1, L, past + L) bool for new tokens (segments, parents (R, L)) on a cache of `past` positions
    whose first T0 are the first pass's (old_segments (R, T0)); later cached positions belong to earlier
    continuations and are never seen. A new token sees old context keys, its parent segment's keys and
    earlier tokens of its own new segment; padding sees itself only."""
    rows, length = segments.shape
    first = old_segments.shape[1]
    old = (old_segments[:, None, :] == CONTEXT) | (
        old_segments[:, None, :] == parents[:, :, None]
    )  # (R, L, T0)
    old = old & (segments[:, :, None] != PAD)
    later = torch.zeros(rows, length, past - first, dtype=torch.bool, device=segments.device)
    own = tree_mask(segments, torch.full_like(parents, PAD))[:, 0]  # (R, L, L): causal, same new segment
    return torch.cat([old, later, own], dim=-1)[:, None]


def _longest(prefixes: Iterable[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The non-empty prefixes that no other one extends (their own prefixes come with them), deduplicated."""
    unique = sorted({tuple(p) for p in prefixes if p})
    return [p for i, p in enumerate(unique) if not (i + 1 < len(unique) and unique[i + 1][: len(p)] == p)]


def choice_prefixes(items) -> dict[int, list[tuple[int, ...]]]:
    """{row: every choice's tokens but its last} of `iclm.evaluation.fast.BatchItem`s: the states that score
    the choices (the first token's state is the prompt's)."""
    return {row: [tuple(c[:-1]) for c in item.choices] for row, item in enumerate(items) if item.choices}


@torch.no_grad()
def packed_router_embeddings(
    model, groups: list[PromptGroup], pad_id: int, device: torch.device | None = None
) -> Tensor:
    """The router's prompt-mean embedding (M, H) of every member of `groups`, in order: one pass of the
    frozen base (module None) over rows of context + members' own tokens. Equals
    `iclm.evaluation.states.shared_router_embeddings` (tested)."""
    return PackedModuleStates(model, [None], groups, pad_id, device=device, keep_cache=False).pooled[None]
