"""Shared-context packing: examples whose prompts share a long prefix train as one sequence.

An ACRE puzzle's 4 queries are 4 consecutive file lines with one ~120-token context and a ~10-token query
each. Packed, the context runs once per module pass instead of once per query: a row holds the context, then
each example's segment (its query, then its answer + EOS). The attention mask lets a segment see the context
and itself only, and each segment's positions continue from the context, so every state of a segment equals
the state of the same token in the example's own unpacked row (causal attention over the same keys at the
same positions): losses, MI, router embeddings and gradients are those of the unpacked batch (tested to 1e-5
in fp32, tests/iclm/test_packing.py).

A row's context is its members' common token prefix, cut so that every segment keeps at least one prompt
token: the state predicting a segment's first answer token is then its own last query token, inside the
segment, so `next_token_targets` reads packed labels unchanged. A lone example is a row whose context is its
prompt minus the last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from iclm.data.collate import IGNORE_INDEX, EncodedExample
from iclm.evaluation.groups import common_prefix, group_prompts

CONTEXT = 0  # segment id of a row's context tokens; a row's segments are 1..n, padding is PAD
PAD = -1


@dataclass(frozen=True)
class PackedRow:
    """One packed sequence as token ids: the shared context, then per example (query ids, answer ids)."""

    context: tuple[int, ...]
    segments: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]

    def __len__(self) -> int:
        return len(self.context) + sum(len(q) + len(a) for q, a in self.segments)


@dataclass(frozen=True)
class Segment:
    """Where one example lies in the packed batch: row `row`, query tokens [start, prompt_end), answer tokens
    [prompt_end, end). Its prompt is the row's context + the query."""

    row: int
    start: int
    prompt_end: int
    end: int


@dataclass(frozen=True)
class PackedBatch:
    """A packed batch of S examples in R rows of width T.

    input_ids, position_ids, labels (answer tokens, -100 elsewhere), segment_ids: (R, T) long; segment_ids is
    0 on a row's context, i (1-based, within the row) on its i-th segment, -1 on padding. `segments` (S) are
    in batch order (row by row); `rows` keep the token lists so a row can be re-packed with fewer segments.
    """

    input_ids: Tensor
    position_ids: Tensor
    labels: Tensor
    segment_ids: Tensor
    segments: tuple[Segment, ...]
    rows: tuple[PackedRow, ...]
    pad_id: int

    @property
    def num_examples(self) -> int:
        return len(self.segments)

    @property
    def token_mask(self) -> Tensor:
        """(R, T) long: 1 on real tokens, 0 on padding (the 2D mask a Trainer counts tokens with)."""
        return (self.segment_ids != PAD).long()

    def attention_mask(self, dtype: torch.dtype | None = None) -> Tensor:
        """(R, 1, T, T) 4D mask: query position i sees key j <= i when j is context or in i's own segment
        (padding sees itself only, so no row is empty). bool (True = attend) when dtype is None (sdpa), else
        additive in `dtype`: 0 where attended, dtype-min elsewhere (eager). Transformers passes it as is."""
        seg = self.segment_ids  # (R, T)
        length = seg.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=seg.device).tril()  # (T, T)
        key_shared = (seg[:, None, :] == CONTEXT) | (seg[:, None, :] == seg[:, :, None])  # (R, T, T)
        real = (seg[:, :, None] != PAD) & (seg[:, None, :] != PAD)
        eye = torch.eye(length, dtype=torch.bool, device=seg.device)
        allowed = ((causal & key_shared & real) | eye)[:, None]  # (R, 1, T, T)
        if dtype is None:
            return allowed
        zero = torch.zeros((), dtype=dtype, device=seg.device)
        return torch.where(allowed, zero, torch.finfo(dtype).min)

    def pool_mask(self) -> tuple[Tensor, Tensor]:
        """The tokens the router pools per example: (rows (S,) long, mask (S, T) bool over that row), true on
        the row's context and the example's query tokens (its whole prompt)."""
        rows = torch.tensor([s.row for s in self.segments], dtype=torch.long, device=self.segment_ids.device)
        positions = torch.arange(self.segment_ids.shape[1], device=rows.device)  # (T,)
        start = torch.tensor([s.start for s in self.segments], device=rows.device)[:, None]
        end = torch.tensor([s.prompt_end for s in self.segments], device=rows.device)[:, None]
        query = (positions >= start) & (positions < end)  # (S, T)
        return rows, (self.segment_ids[rows] == CONTEXT) | query

    def prompt_ids(self, index: int) -> tuple[int, ...]:
        """Example `index`'s prompt token ids (context + query), e.g. as a router-cache key."""
        seg = self.segments[index]
        row = self.rows[seg.row]
        return row.context + row.segments[self._local(index)][0]

    def _local(self, index: int) -> int:
        return sum(1 for s in self.segments[:index] if s.row == self.segments[index].row)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PackedBatch:
        """The same batch with its tensors on `device` (also what accelerate's send_to_device calls)."""
        moved = {
            name: getattr(self, name).to(device, non_blocking=non_blocking)
            for name in ("input_ids", "position_ids", "labels", "segment_ids")
        }
        return replace(self, **moved)


def pack(rows: Sequence[PackedRow], pad_id: int) -> PackedBatch:
    """Lay rows out right-padded to the longest: context at positions 0..c-1, each segment at c..c+len-1."""
    if not rows:
        raise ValueError("cannot pack an empty list of rows")
    width = max(max(len(row) for row in rows), 1)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)  # (R, T)
    position_ids = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    segment_ids = torch.full(shape, PAD, dtype=torch.long)
    segments = []
    for r, row in enumerate(rows):
        c = len(row.context)
        input_ids[r, :c] = torch.tensor(row.context, dtype=torch.long)
        position_ids[r, :c] = torch.arange(c)
        segment_ids[r, :c] = CONTEXT
        start = c
        for i, (query, answer) in enumerate(row.segments, start=1):
            prompt_end, end = start + len(query), start + len(query) + len(answer)
            input_ids[r, start:end] = torch.tensor(query + answer, dtype=torch.long)
            position_ids[r, start:end] = torch.arange(c, c + end - start)
            labels[r, prompt_end:end] = torch.tensor(answer, dtype=torch.long)
            segment_ids[r, start:end] = i
            segments.append(Segment(r, start, prompt_end, end))
            start = end
    return PackedBatch(input_ids, position_ids, labels, segment_ids, tuple(segments), tuple(rows), pad_id)


def group_examples(encoded: Sequence[EncodedExample]) -> list[list[int]]:
    """Groups of consecutive examples whose prompts share a context (the rule of iclm/evaluation/groups.py:
    >= 16 shared tokens and >= 80% of the shorter prompt); a lone example is a group of one."""
    return [list(group.members) for group in group_prompts([list(e.prompt_ids) for e in encoded])]


def pack_examples(
    encoded: Sequence[EncodedExample], pad_id: int, groups: Sequence[Sequence[int]] | None = None
) -> PackedBatch:
    """Pack encoded examples (in order, so segment i is example i): one row per group of consecutive
    examples (`group_examples(encoded)` unless given)."""
    groups = group_examples(encoded) if groups is None else groups
    if [i for members in groups for i in members] != list(range(len(encoded))):
        raise ValueError(
            f"groups {[list(g) for g in groups]} must cover the {len(encoded)} examples in order "
            "(consecutive examples, each once)"
        )
    rows = []
    for members in groups:
        prompts = [tuple(encoded[m].prompt_ids) for m in members]
        c = min(len(p) for p in prompts) - 1  # every segment keeps >= 1 query token
        for other in prompts[1:]:
            c = min(c, common_prefix(prompts[0], other))
        c = max(c, 0)
        segments = tuple((p[c:], tuple(encoded[m].answer_ids)) for p, m in zip(prompts, members, strict=True))
        rows.append(PackedRow(prompts[0][:c], segments))
    return pack(rows, pad_id)


@dataclass(frozen=True)
class RouteSplit:
    """A packed batch re-packed so that every row's examples share one route (rows whose examples route
    differently become one sub-row per route: context + that route's segments), and the way back.

    batch: the re-packed batch (R', T'); row_routes (R',) long; source / target: (rows, positions) index
    pairs (N,) each, taking states of `batch` to the original layout, or None when no row was split (then
    `batch` is the original batch). A split row's context positions carry its first segment's route."""

    batch: PackedBatch
    row_routes: Tensor
    source: tuple[Tensor, Tensor] | None
    target: tuple[Tensor, Tensor] | None

    def restore(self, hidden: Tensor, shape: tuple[int, int]) -> Tensor:
        """States (R', T', H) of the split batch -> (R, T, H) in the original layout (zeros on padding)."""
        if self.source is None:
            return hidden
        out = hidden.new_zeros(*shape, hidden.shape[-1])
        return out.index_put(self.target, hidden[self.source])


def split_by_routes(packed: PackedBatch, routes: Tensor) -> RouteSplit:
    """Rows whose examples all route to k stay as they are; the others are split per route (RouteSplit)."""
    route_of = routes.tolist()  # (S,)
    members: list[list[int]] = [[] for _ in packed.rows]  # example indices per row, in row order
    for index, seg in enumerate(packed.segments):
        members[seg.row].append(index)
    device = packed.input_ids.device
    if all(len({route_of[i] for i in m}) <= 1 for m in members):
        row_routes = [route_of[m[0]] if m else 0 for m in members]
        return RouteSplit(packed, torch.tensor(row_routes, dtype=torch.long, device=device), None, None)
    rows, row_routes, plan = [], [], []  # plan: (original row, kept example indices, carries the context)
    for r, row in enumerate(packed.rows):
        for k in dict.fromkeys(route_of[i] for i in members[r]):  # first route = the first segment's
            keep = [i for i in members[r] if route_of[i] == k]
            local = [members[r].index(i) for i in keep]
            rows.append(PackedRow(row.context, tuple(row.segments[j] for j in local)))
            row_routes.append(k)
            plan.append((r, keep, k == route_of[members[r][0]]))
    batch = pack(rows, packed.pad_id).to(device)
    source: tuple[list[int], list[int]] = ([], [])
    target: tuple[list[int], list[int]] = ([], [])
    cursor = 0  # the split batch's segments, in its row order
    for j, (r, keep, carries_context) in enumerate(plan):
        if carries_context:
            c = len(packed.rows[r].context)
            _extend(source, target, j, range(c), r, range(c))
        for i in keep:
            sub, seg = batch.segments[cursor], packed.segments[i]
            _extend(source, target, j, range(sub.start, sub.end), r, range(seg.start, seg.end))
            cursor += 1
    routes_tensor = torch.tensor(row_routes, dtype=torch.long, device=device)
    return RouteSplit(batch, routes_tensor, _index(source, device), _index(target, device))


def _index(pair: tuple[list[int], list[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    return tuple(torch.tensor(x, dtype=torch.long, device=device) for x in pair)


def _extend(source, target, src_row: int, src_pos: range, dst_row: int, dst_pos: range) -> None:
    source[0].extend([src_row] * len(src_pos))
    source[1].extend(src_pos)
    target[0].extend([dst_row] * len(dst_pos))
    target[1].extend(dst_pos)


def check_packed(
    packed: PackedBatch, input_ids: Tensor, prompt_mask, past_key_values, use_cache
) -> PackedBatch:
    """The packed batch of a forward call, on input_ids' device; raises ValueError for what packing cannot
    take (a KV cache, a prompt_mask) or input_ids that are not its rows."""
    if past_key_values is not None or use_cache:
        raise ValueError("a packed batch takes no KV cache: pass use_cache=False and no past_key_values")
    if prompt_mask is not None:
        raise ValueError(
            "prompt_mask does not apply to a packed batch: each example's router embedding pools its row's "
            "context + its own query; pass packed without prompt_mask"
        )
    if tuple(input_ids.shape) != tuple(packed.input_ids.shape):
        raise ValueError(
            f"input_ids {tuple(input_ids.shape)} are not the packed rows {tuple(packed.input_ids.shape)}; "
            "pass the collator's input_ids together with its packed batch"
        )
    return packed.to(input_ids.device)
