"""Naming and accumulation of task-profile metrics (shared by the per-task profile modules).

A metric name is ``group.key`` (a share or a rule accuracy, e.g. ``label_share.off``, ``rule.seen_alone``)
or a bare ``name`` (a mean or maximum, e.g. ``objects_per_evidence_panel``). The group of a name is
everything before its last dot (the bare name itself when it has none); ``counts[group]`` is the
denominator of every metric of the group, so a reader can compute intervals. The kind follows from the
name: ``rule.*`` are accuracies, bare names are sizes, everything else is a share (fraction 0-1).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MetricKind = Literal["share", "size", "accuracy"]
METRIC_KINDS: tuple[str, ...] = ("share", "size", "accuracy")


def metric_group(name: str) -> str:
    """``"matrix_rule.size.constant"`` -> ``"matrix_rule.size"``; ``"pointer_max"`` -> itself."""
    return name.rsplit(".", 1)[0] if "." in name else name


def metric_kind(name: str) -> MetricKind:
    """ "accuracy" for ``rule.*``, "size" for bare names (means, maxima), "share" otherwise."""
    if name.startswith("rule."):
        return "accuracy"
    return "share" if "." in name else "size"


@dataclass
class MetricTable:
    """Flat metrics plus the denominator of each metric group, filled by the task modules."""

    metrics: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def shares(self, group: str, values: Iterable[Hashable], keys: Sequence[str] = ()) -> None:
        """Share of each value (as ``group.value``); `keys` are always reported (0 when absent), first."""
        counter = Counter(str(v) for v in values)
        total = sum(counter.values())
        if not total:
            return
        self.counts[group] = total
        rest = sorted((k for k in counter if k not in keys), key=_natural)
        for key in [*keys, *rest]:
            self.metrics[f"{group}.{key}"] = counter.get(key, 0) / total

    def fraction(self, name: str, hits: Sequence[bool]) -> None:
        """Fraction of true `hits` as ``name`` (a share, or an accuracy for ``rule.*``), with its group's
        denominator."""
        if hits:
            self.metrics[name] = sum(hits) / len(hits)
            self.counts[metric_group(name)] = len(hits)

    def mean(self, name: str, values: Sequence[float]) -> None:
        if values:
            self.metrics[name] = float(statistics.fmean(values))
            self.counts[name] = len(values)

    def maximum(self, name: str, values: Sequence[float]) -> None:
        if values:
            self.metrics[name] = float(max(values))
            self.counts[name] = len(values)


def _natural(key: str) -> tuple[int, int | str]:
    """Numbers in numeric order before other keys in alphabetical order."""
    return (0, int(key)) if key.lstrip("-").isdigit() else (1, key)
