"""Reshape the engine's JSON outputs into tables for display (selection and renaming only, no statistics)."""

from __future__ import annotations

from typing import Any

import pandas as pd

SPLIT_LABELS = {"iid": "i.i.d.", "ood": "o.o.d."}


def accuracy_long(named_results: list[tuple[str, dict[str, Any]]], method: str) -> pd.DataFrame:
    """One row per (checkpoint, readout, split) from eval/results.json `splits` entries.

    Columns: checkpoint, readout, split, n, accuracy (fraction, as the engine computed it).
    """
    rows = []
    for name, results in named_results:
        for split, entry in results.get("splits", {}).items():
            for readout, accuracy in entry.get(method, {}).items():
                rows.append(
                    {
                        "checkpoint": name,
                        "readout": readout,
                        "split": split,
                        "n": entry.get("n"),
                        "accuracy": accuracy,
                    }
                )
    return pd.DataFrame(rows, columns=["checkpoint", "readout", "split", "n", "accuracy"])


def accuracy_by_dataset(results: dict[str, Any], method: str) -> pd.DataFrame:
    """Accuracy per dataset (rows) and readout (columns), with the dataset's split and size."""
    rows = []
    for entry in results.get("datasets", []):
        row = {
            "dataset": entry["dataset"],
            "split": SPLIT_LABELS.get(entry["split"], entry["split"]),
            "n": entry["n"],
        }
        row.update(entry.get(method, {}))
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_wide(long: pd.DataFrame) -> pd.DataFrame:
    """The long table pivoted: a row per checkpoint and readout, a column per split."""
    if long.empty:
        return long
    wide = long.pivot_table(
        index=["checkpoint", "readout"], columns="split", values="accuracy", aggfunc="first"
    )
    wide = wide.rename(columns=SPLIT_LABELS).reset_index()
    wide.columns.name = None
    return wide


def model_card(
    config: dict[str, Any], training: dict[str, Any] | None, last_step: int | None
) -> pd.DataFrame:
    """Key facts of a checkpoint as a two-column table (field, value)."""
    adapters = config.get("adapters") or {}
    router = config.get("router") or {}
    training = training or {}
    data = training.get("data") or {}
    facts = [
        ("backbone", config.get("backbone")),
        ("variant", config.get("variant")),
        ("K (domain modules)", config.get("num_domains")),
        ("router", f"{router.get('kind', '?')} (projection {router.get('projection_dim', '?')})"),
        ("aggregation", config.get("aggregation")),
        (
            "adapters",
            f"LoRA r={adapters.get('r')} alpha={adapters.get('alpha')} on {adapters.get('target_modules')}",
        ),
        ("training datasets", ", ".join(config.get("dataset_names") or []) or "—"),
        ("training files", ", ".join(map(str, data.get("train") or [])) or data.get("mix") or "—"),
        ("steps trained", "—" if last_step is None else last_step),
    ]
    return pd.DataFrame([(k, "—" if v is None else str(v)) for k, v in facts], columns=["field", "value"])


def bar_rows(long: pd.DataFrame, selected: str, variants: dict[str, str]) -> pd.DataFrame:
    """Rows for `analysis.figures.accuracy_bars`: every readout of the selected checkpoint, and the
    model readout of each other checkpoint (named `baseline` when it is a baseline-variant checkpoint).

    The model readout of an ICLM is its aggregated output, so it is shown as `aggregated`.
    """
    rows = []
    for row in long.itertuples(index=False):
        if row.checkpoint == selected:
            module = (
                "aggregated" if row.readout == "model" and variants.get(selected) == "iclm" else row.readout
            )
        elif row.readout == "model":
            variant = variants.get(row.checkpoint)
            module = f"baseline ({row.checkpoint})" if variant == "baseline" else row.checkpoint
        else:
            continue
        rows.append(
            {"module": module, "split": SPLIT_LABELS.get(row.split, row.split), "accuracy": row.accuracy}
        )
    return pd.DataFrame(rows, columns=["module", "split", "accuracy"])
