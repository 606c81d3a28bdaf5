"""Training samplers that keep examples sharing a context together, so batches can pack them (iclm/packing).

The stock random sampler scatters an ACRE puzzle's 4 queries over 4 batches, and packing then finds nothing
to share. These samplers shuffle whole groups (consecutive training examples whose prompts share a long
prefix) and yield each group's indices contiguously. Given the batch size, they also fill batches with whole
groups (first fit), so a group is cut at a batch boundary only when it is larger than a batch or at the end
of the epoch. Randomness comes from torch's global RNG, which the Trainer seeds and checkpoints, unless a
generator is given (the same contract as the stock samplers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from iclm.data.examples import Example
from iclm.evaluation.groups import common_prefix

MIN_SHARED_CHARS = 64  # the character-level twin of iclm/evaluation/groups.py's 16-token rule
MIN_SHARED_FRACTION = 0.8


def find_groups(examples: Sequence[Example]) -> list[list[int]]:
    """Groups of consecutive example indices: an example joins the previous one's group when their prompts
    share a prefix of >= 64 characters and >= 80% of the shorter prompt; every index is in one group."""
    groups: list[list[int]] = []
    for index, example in enumerate(examples):
        if groups:
            previous = examples[index - 1].prompt
            shared = common_prefix(previous, example.prompt)
            shorter = min(len(previous), len(example.prompt))
            if shared >= MIN_SHARED_CHARS and shared >= MIN_SHARED_FRACTION * shorter:
                groups[-1].append(index)
                continue
        groups.append([index])
    return groups


def group_lengths(examples: Sequence[Example], groups: Sequence[Sequence[int]]) -> list[int]:
    """Characters of each group's packed row (a length proxy): the first prompt, then every other prompt's
    part after the shared prefix, plus every answer."""
    lengths = []
    for members in groups:
        first = examples[members[0]].prompt
        total = len(first)
        for m in members[1:]:
            total += len(examples[m].prompt) - common_prefix(first, examples[m].prompt)
        lengths.append(total + sum(len(examples[m].answer) for m in members))
    return lengths


def fill_batches(groups: Sequence[Sequence[int]], batch_size: int) -> list[int]:
    """Indices of `groups` (in order) laid out so that batches of `batch_size` hold whole groups: each group
    goes into the first open batch with room for it (a group larger than a batch opens its own run of
    batches); full batches come out in the order they fill, the open ones last."""
    open_batches: list[list[int]] = []
    out: list[int] = []
    for members in groups:
        if len(members) >= batch_size:
            head = len(members) - len(members) % batch_size
            out.extend(members[:head])
            members = members[head:]
            if not members:
                continue
        target = next((b for b in open_batches if len(b) + len(members) <= batch_size), None)
        if target is None:
            target = []
            open_batches.append(target)
        target.extend(members)
        if len(target) == batch_size:
            out.extend(target)
            open_batches.remove(target)
    for batch in open_batches:
        out.extend(batch)
    return out


def _generator(generator: torch.Generator | None) -> torch.Generator:
    """The given generator, else one seeded from torch's global RNG (as RandomSampler does)."""
    if generator is not None:
        return generator
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    return torch.Generator().manual_seed(seed)


class GroupSampler(torch.utils.data.Sampler):
    """Random order of whole groups, each group's indices contiguous (batches filled with whole groups when
    `batch_size` is given)."""

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        batch_size: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        self.groups = [list(g) for g in groups]
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(len(self.groups), generator=_generator(self.generator)).tolist()
        return iter(fill_batches([self.groups[i] for i in order], self.batch_size))


class LengthGroupedGroupSampler(GroupSampler):
    """transformers' length grouping over whole groups: shuffle the groups, cut them into megabatches of
    about `mega_batch_mult` batches, sort each megabatch by packed length (longest first), fill batches."""

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        lengths: Sequence[int],
        batch_size: int,
        generator: torch.Generator | None = None,
        mega_batch_mult: int = 50,
    ) -> None:
        if len(lengths) != len(groups):
            raise ValueError(
                f"lengths has {len(lengths)} entries for {len(groups)} groups; give one length per group"
            )
        super().__init__(groups, batch_size, generator)
        self.lengths = list(lengths)
        self.mega_batch_mult = mega_batch_mult

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(len(self.groups), generator=_generator(self.generator)).tolist()
        mult = max(1, min(self.mega_batch_mult, len(self) // max(self.batch_size, 1)))
        megabatches, current, size = [], [], 0
        for i in order:
            current.append(i)
            size += len(self.groups[i])
            if size >= mult * self.batch_size:
                megabatches.append(current)
                current, size = [], 0
        if current:
            megabatches.append(current)
        out: list[int] = []
        for mega in megabatches:
            ranked = sorted(mega, key=lambda i: self.lengths[i], reverse=True)
            out.extend(fill_batches([self.groups[i] for i in ranked], self.batch_size))
        return iter(out)
