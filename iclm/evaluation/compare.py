"""Paired comparison of two evaluated checkpoints on the same examples (McNemar per dataset and split).

Two runs evaluated on the same files have one prediction row per example id each; pairing by id and
testing the discordant pairs (iclm/evaluation/statistics.mcnemar) is the test a paired design needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from iclm.evaluation.report import outcomes
from iclm.evaluation.statistics import McNemar, mcnemar


@dataclass(frozen=True)
class PairedResult:
    """A vs B on the examples of one dataset (or "all <split>"): accuracies, counts and McNemar's test."""

    dataset: str
    split: str
    n: int
    accuracy_a: float
    accuracy_b: float
    test: McNemar

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _paired_rows(a: list[dict], b: list[dict]) -> list[tuple[dict, dict]]:
    by_id = {row["id"]: row for row in b}
    missing = [row["id"] for row in a if row["id"] not in by_id]
    if missing or len(a) != len(b):
        raise ValueError(
            f"the two evaluations hold different examples ({len(a)} vs {len(b)} rows; "
            f"first unmatched id: {missing[0] if missing else '?'}): evaluate both on the same files "
            "with the same --limit"
        )
    return [(row, by_id[row["id"]]) for row in a]


def _compare(
    pairs: list[tuple[dict, dict]], readouts: tuple[str, str], method: str, dataset: str, split: str
):
    a_rows, b_rows = [p[0] for p in pairs], [p[1] for p in pairs]
    a, b = outcomes(a_rows, readouts[0], method), outcomes(b_rows, readouts[1], method)
    if not a or len(a) != len(b):
        return None  # the readout or method does not apply to these examples
    return PairedResult(dataset, split, len(a), sum(a) / len(a), sum(b) / len(b), mcnemar(a, b))


def paired_comparison(
    a: list[dict], b: list[dict], readout_a: str = "model", readout_b: str = "model", method: str = "choice"
) -> list[PairedResult]:
    """McNemar of A's `readout_a` against B's `readout_b` for every (dataset, split) and every split, from
    two `predictions.jsonl` row lists of the same examples."""
    pairs = _paired_rows(a, b)
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for pair in pairs:
        groups.setdefault((pair[0]["dataset"], pair[0]["split"]), []).append(pair)
    found = []
    for (dataset, split), members in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        found.append(_compare(members, (readout_a, readout_b), method, dataset, split))
    for split in ("iid", "ood"):
        members = [p for p in pairs if p[0]["split"] == split]
        if members:
            found.append(_compare(members, (readout_a, readout_b), method, f"all {split}", split))
    return [result for result in found if result is not None]
