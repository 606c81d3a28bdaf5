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
    from iclm.config import variant_has_invariant, variant_has_router  # lazy: the engine imports torch

    rows = []
    for row in long.itertuples(index=False):
        if row.checkpoint == selected:
            module = (
                "aggregated"
                if row.readout == "model" and variant_has_invariant(variants.get(selected, ""))
                else row.readout
            )
        elif row.readout == "model":
            routed = variant_has_router(variants.get(row.checkpoint, ""))
            module = row.checkpoint if routed else f"baseline ({row.checkpoint})"
        else:
            continue
        rows.append(
            {"module": module, "split": SPLIT_LABELS.get(row.split, row.split), "accuracy": row.accuracy}
        )
    return pd.DataFrame(rows, columns=["module", "split", "accuracy"])


#: Metric groups of metrics.jsonl: label -> column, or prefix of nested per-module columns.
DYNAMICS_GROUPS: dict[str, str] = {
    "Loss terms": "loss_terms",
    "Total loss": "loss",
    "MI (batch estimator, training loss)": "mi_batch",
    "MI (KSG, first principal components)": "mi_ksg",
    "Linear CKA invariant vs domain": "cka",
    "Mean |Pearson r| invariant vs domain": "pearson",
    "Routing fractions (probe set)": "probe_routing_fraction",
    "Routing fractions (training batches)": "routing_fraction",
    "Router NMI vs dataset": "router_nmi",
    "Router purity": "router_purity",
    "Codebook perplexity": "codebook_perplexity",
    "Learning rate": "learning_rate",
    "Gradient norm": "grad_norm",
}


DEFAULT_DYNAMICS = ("loss_terms", "mi_batch", "cka", "pearson", "probe_routing_fraction", "router_nmi")


def training_records(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, int]:
    """(flat table of the logged steps with `a/b` columns, number of skipped non-finite steps)."""
    logged = [r for r in records if "event" not in r]
    skipped = sum(1 for r in records if r.get("event") == "skipped_nonfinite")
    return (pd.json_normalize(logged, sep="/") if logged else pd.DataFrame()), skipped


def metric_history(frames: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """Long table (run, step, value[, module]) of one metric group for `analysis.figures.metric_lines`."""
    parts = []
    for run, frame in frames.items():
        if frame.empty or "step" not in frame:
            continue
        nested = [c for c in frame.columns if c.startswith(column + "/")]
        if column in frame.columns:
            part = frame[["step", column]].rename(columns={column: "value"}).assign(run=run)
            parts.append(part)
        for name in nested:
            part = frame[["step", name]].rename(columns={name: "value"})
            parts.append(part.assign(run=run, module=name.split("/", 1)[1]))
    if not parts:
        return pd.DataFrame(columns=["run", "step", "value"])
    history = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    return history[["run", "step", "value"] + (["module"] if "module" in history else [])]


def intervention_bars(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows for `accuracy_bars` from `intervention_summary`: accuracy per intervention and split, summed
    over datasets from the engine's own counts (n_correct / n_scored)."""
    grouped = (
        summary.groupby(["intervention", "split"], sort=False)[["n_correct", "n_scored"]].sum().reset_index()
    )
    grouped = grouped[grouped["n_scored"] > 0]
    return pd.DataFrame(
        {
            "module": grouped["intervention"],
            "split": grouped["split"].map(lambda s: SPLIT_LABELS.get(s, s)),
            "accuracy": grouped["n_correct"] / grouped["n_scored"],
        }
    )


def prediction_columns(examples: pd.DataFrame) -> list[str]:
    """The artifact's `pred_*` columns with values (aggregated, invariant, routed and forced domains)."""
    return [c for c in examples.columns if c.startswith("pred_") and examples[c].notna().any()]


def disagree_mask(examples: pd.DataFrame) -> pd.Series:
    """True where the modules' predictions (aggregated, invariant, routed domain) are not all the same."""
    columns = [c for c in ("pred_aggregated", "pred_invariant", "pred_domain") if examples[c].notna().any()]
    return examples[columns].astype("string").nunique(axis=1, dropna=True) > 1


def module_predictions(row: pd.Series, columns: list[str]) -> pd.DataFrame:
    """One example's prediction by each module (artifact columns), with correctness where known."""
    out = []
    for column in columns:
        if pd.isna(row[column]):
            continue
        module = column.removeprefix("pred_")
        correct = row.get(f"correct_{module}")
        label = f"domain (routed: domain_{row['route']})" if module == "domain" else module
        out.append(
            {
                "module": label,
                "prediction": str(row[column]),
                "correct": None if pd.isna(correct) else bool(correct),
            }
        )
    return pd.DataFrame(out)
