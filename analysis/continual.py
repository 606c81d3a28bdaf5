"""Continual learning, measured: what an extension (python -m iclm extend) did to the old tasks and the new.

Built from files the other commands write: the extended checkpoint's `lineage.json` (its parent and the new
datasets), both checkpoints' `eval/predictions.jsonl` on the same test files (`python -m iclm evaluate`), the
extension run's `metrics.jsonl` (the probe's routing per dataset) and both analysis artifacts (their pooled
invariant states on the same examples).

- **Before / after accuracy** per dataset: both Wilson intervals, the paired change (after - before) with a
  95% interval for paired proportions (Newcombe's square-and-add, `iclm.evaluation.statistics`) and
  McNemar's exact p on the discordant pairs; an old dataset's forgetting is minus its change, also pooled
  over every old dataset.
- **Routing over the extension's training**: the share of each probe dataset sent to each domain, per step.
- **Invariant drift**: linear CKA between the parent's and the extension's invariant states on the same
  examples (1 = the same representation up to rotation and scale), with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.palette import GREYS, RUN_COLORS
from iclm.evaluation.report import outcomes
from iclm.evaluation.statistics import mcnemar, paired_difference_interval, wilson_interval
from iclm.metrics.bootstrap import bootstrap_ci
from iclm.metrics.similarity import linear_cka

N_BOOT = 1000


@dataclass(frozen=True)
class Drift:
    """Linear CKA of the invariant module before vs after on n shared examples, with its interval."""

    cka: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class PooledForgetting:
    """Forgetting over every old dataset's examples together: mean accuracy before and after, forgetting
    (before - after, in accuracy points as a fraction) with Newcombe's paired 95% interval,
    and McNemar's exact p on them."""

    before: float
    after: float
    forgetting: float
    low: float
    high: float
    p_value: float
    n: int
    datasets: int


def _by_id(rows: Sequence[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows}


def with_parent_on_new_task(parent: Sequence[dict], on_new_task: Sequence[dict]) -> list[dict]:
    """The parent's predictions.jsonl rows completed by its scores on the new task's test files (an
    extension's `eval-parent/`, written after the parent shipped); an id both hold keeps the parent's row."""
    known = {row["id"] for row in parent}
    return [*parent, *(row for row in on_new_task if row["id"] not in known)]


def _paired_outcomes(first: dict, second: dict, ids: Sequence[str], readout: str, method: str):
    """(scoring, before outcomes, after outcomes) of the examples `ids`; choice scoring falls back to greedy
    exact match where the examples have no choices."""
    scoring = method
    a = outcomes([first[i] for i in ids], readout, scoring)
    if not a and method == "choice":
        scoring = "greedy"
        a = outcomes([first[i] for i in ids], readout, scoring)
    return scoring, a, outcomes([second[i] for i in ids], readout, scoring)


def before_after(
    before: Sequence[dict],
    after: Sequence[dict],
    new_datasets: Sequence[str],
    readout: str = "model",
    method: str = "choice",
) -> pd.DataFrame:
    """One row per dataset both predictions.jsonl hold (paired by example id): role ("old" / "new"), n,
    the scoring used, accuracy before and after with Wilson intervals, the paired change with Newcombe's
    paired interval (not degenerate when no example changed, as a bootstrap would be), McNemar's p, and
    forgetting (= -change, old datasets only). Examples only one side has are left out. Choice scoring
    falls back to greedy exact match on a dataset without choices (PVR's answers are free-form digits), so
    a new task like it still gets its row."""
    first, second = _by_id(before), _by_id(after)
    shared = [i for i in first if i in second]
    datasets = sorted({first[i]["dataset"] for i in shared})
    rows = []
    for dataset in datasets:
        ids = [i for i in shared if first[i]["dataset"] == dataset]
        scoring, a, b = _paired_outcomes(first, second, ids, readout, method)
        if not a or len(a) != len(b):
            continue  # the readout or method does not apply to this dataset
        change = paired_difference_interval(a, b)
        wa, wb = wilson_interval(sum(a), len(a)), wilson_interval(sum(b), len(b))
        role = "new" if dataset in set(new_datasets) else "old"
        rows.append(
            {
                "dataset": dataset,
                "split": first[ids[0]].get("split", ""),
                "role": role,
                "n": len(a),
                "scoring": scoring,
                "before": wa.accuracy,
                "before low": wa.low,
                "before high": wa.high,
                "after": wb.accuracy,
                "after low": wb.low,
                "after high": wb.high,
                "change": change.difference,
                "change low": change.low,
                "change high": change.high,
                "McNemar p": mcnemar(a, b).p_value,
                "forgetting": 0.0 - change.difference if role == "old" else None,  # never -0.0
            }
        )
    return pd.DataFrame(rows)


def pooled_forgetting(
    before: Sequence[dict],
    after: Sequence[dict],
    new_datasets: Sequence[str],
    readout: str = "model",
    method: str = "choice",
) -> PooledForgetting | None:
    """`before_after`'s forgetting over all old datasets at once (examples paired by id, each dataset
    weighted by its n), or None when no old example is scored on both sides. One number with a tighter
    interval than any single dataset's; the per-dataset table says where it comes from."""
    first, second = _by_id(before), _by_id(after)
    new = set(new_datasets)
    ids = [i for i in first if i in second and first[i]["dataset"] not in new]
    _, a, b = _paired_outcomes(first, second, ids, readout, method)
    if not a or len(a) != len(b):
        return None
    change = paired_difference_interval(a, b)
    return PooledForgetting(
        before=sum(a) / len(a),
        after=sum(b) / len(b),
        forgetting=0.0 - change.difference,  # never -0.0
        low=-change.high,
        high=-change.low,
        p_value=mcnemar(a, b).p_value,
        n=len(a),
        datasets=len({first[i]["dataset"] for i in ids}),
    )


def routing_over_training(records: Sequence[dict]) -> pd.DataFrame:
    """Tidy (step, dataset, domain, share) from metrics.jsonl records' `probe_routing_by_dataset`."""
    rows = []
    for record in records:
        for dataset, shares in (record.get("probe_routing_by_dataset") or {}).items():
            for domain, share in shares.items():
                rows.append({"step": record["step"], "dataset": dataset, "domain": domain, "share": share})
    return pd.DataFrame(rows, columns=["step", "dataset", "domain", "share"])


def invariant_drift(
    before: np.ndarray,
    before_ids: Sequence[str],
    after: np.ndarray,
    after_ids: Sequence[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Drift:
    """Linear CKA between the invariant states (N, H) of the parent and the extension on the examples both
    artifacts hold (matched by id); ValueError when fewer than 3 are shared."""
    position = {i: k for k, i in enumerate(after_ids)}
    pairs = [(k, position[i]) for k, i in enumerate(before_ids) if i in position]
    if len(pairs) < 3:
        raise ValueError(f"invariant drift needs >= 3 examples both artifacts hold; {len(pairs)} are shared")
    x = before[[p for p, _ in pairs]].astype(np.float64)
    y = after[[q for _, q in pairs]].astype(np.float64)
    estimate = bootstrap_ci(lambda idx: linear_cka(x[idx], y[idx]), len(pairs), n_boot, seed)
    return Drift(cka=estimate.value, low=estimate.low, high=estimate.high, n=len(pairs))


BEFORE_AFTER_COLORS = {
    "before": GREYS[0],
    "after": RUN_COLORS[1],
}  # the parent grey, the extension a run colour


def before_after_bars(table: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """`analysis.accuracy_figures.accuracy_bars` rows from a `before_after` table: one bar per side and
    dataset, named `names["before"]` / `names["after"]`, with the Wilson interval and n."""
    rows = []
    for side in ("before", "after"):
        for row in table.to_dict("records"):
            rows.append(
                {
                    "module": names[side],
                    "dataset": f"{row['dataset']} ({row['role']})",
                    "accuracy": row[side],
                    "low": row[f"{side} low"],
                    "high": row[f"{side} high"],
                    "n": row["n"],
                }
            )
    return pd.DataFrame(rows)


def before_after_colors(names: dict[str, str]) -> dict[str, str]:
    return {names[side]: color for side, color in BEFORE_AFTER_COLORS.items()}
