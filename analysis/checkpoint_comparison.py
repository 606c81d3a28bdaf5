"""Two checkpoints on the same examples: per dataset the agreement table (both right / only A / only B /
both wrong) with McNemar's exact p, and the examples of any cell.

From both checkpoints' `eval/predictions.jsonl` (`python -m iclm evaluate` on the same files): rows are
paired by example id (`iclm.evaluation.compare.paired_comparison`, the engine's paired test); examples
only one evaluation holds are left out and counted, so the table is always a paired comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from iclm.evaluation.compare import paired_comparison
from iclm.evaluation.statistics import wilson_interval

CELLS = ("both right", "only A", "only B", "both wrong")


@dataclass(frozen=True)
class Paired:
    """The rows of A and B that share an example id (same order), and how many of each were left out."""

    a: list[dict]
    b: list[dict]
    only_in_a: int
    only_in_b: int


def pair_rows(a: Sequence[dict], b: Sequence[dict]) -> Paired:
    """A's and B's prediction rows on the examples both hold, in A's order."""
    by_id = {row["id"]: row for row in b}
    shared = [row for row in a if row["id"] in by_id]
    ids = {row["id"] for row in shared}
    return Paired(
        a=shared,
        b=[by_id[row["id"]] for row in shared],
        only_in_a=len(a) - len(shared),
        only_in_b=sum(1 for row in b if row["id"] not in ids),
    )


def agreement_table(
    paired: Paired, readout_a: str = "model", readout_b: str = "model", method: str = "choice"
) -> pd.DataFrame:
    """Per dataset and split (and "all iid" / "all ood"): n, both accuracies with 95% Wilson intervals, the
    four agreement counts and McNemar's exact p on the discordant pairs (only A + only B)."""
    if not paired.a:
        return pd.DataFrame(columns=["dataset", "split", "n", *CELLS, "McNemar p"])
    rows = []
    for result in paired_comparison(paired.a, paired.b, readout_a, readout_b, method):
        test = result.test
        wa = wilson_interval(test.both_right + test.only_a, result.n)
        wb = wilson_interval(test.both_right + test.only_b, result.n)
        rows.append(
            {
                "dataset": result.dataset,
                "split": result.split,
                "n": result.n,
                "accuracy A": wa.accuracy,
                "A low": wa.low,
                "A high": wa.high,
                "accuracy B": wb.accuracy,
                "B low": wb.low,
                "B high": wb.high,
                "both right": test.both_right,
                "only A": test.only_a,
                "only B": test.only_b,
                "both wrong": test.both_wrong,
                "McNemar p": test.p_value,
            }
        )
    return pd.DataFrame(rows)


def cell_examples(
    paired: Paired,
    dataset: str,
    cell: str,
    readout_a: str = "model",
    readout_b: str = "model",
    method: str = "choice",
) -> pd.DataFrame:
    """The examples of one agreement cell (`CELLS`) of `dataset` ("all iid" / "all ood" for a split):
    id, dataset, split, gold and both predictions."""
    if cell not in CELLS:
        raise ValueError(f"cell={cell!r} is invalid; choose one of {list(CELLS)}")
    wanted = {
        "both right": (True, True),
        "only A": (True, False),
        "only B": (False, True),
        "both wrong": (False, False),
    }
    key = f"{method}_correct"
    rows = []
    for a, b in zip(paired.a, paired.b, strict=True):
        in_scope = a["dataset"] == dataset or dataset == f"all {a.get('split')}"
        ra, rb = a["readouts"].get(readout_a, {}), b["readouts"].get(readout_b, {})
        if not in_scope or key not in ra or key not in rb:
            continue
        if (bool(ra[key]), bool(rb[key])) == wanted[cell]:
            rows.append(
                {
                    "id": a["id"],
                    "dataset": a["dataset"],
                    "split": a.get("split"),
                    "gold": a.get("gold"),
                    "prediction A": ra.get(method),
                    "prediction B": rb.get(method),
                }
            )
    return pd.DataFrame(rows, columns=["id", "dataset", "split", "gold", "prediction A", "prediction B"])


def comparison_bars(table: pd.DataFrame, name_a: str, name_b: str) -> pd.DataFrame:
    """`analysis.accuracy_figures.accuracy_bars` rows (one bar per checkpoint and dataset) from an
    `agreement_table`: accuracy, Wilson interval and n."""
    rows = []
    for side, name in (("A", name_a), ("B", name_b)):
        for row in table.to_dict("records"):
            rows.append(
                {
                    "module": name,
                    "dataset": row["dataset"],
                    "accuracy": row[f"accuracy {side}"],
                    "low": row[f"{side} low"],
                    "high": row[f"{side} high"],
                    "n": row["n"],
                }
            )
    return pd.DataFrame(rows)
