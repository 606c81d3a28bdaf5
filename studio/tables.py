"""Reshape the engine's JSON outputs and `analysis/` tables for display (selection, renaming and number
formatting only: the statistics come from `analysis.accuracy`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

SPLIT_LABELS = {"iid": "i.i.d.", "ood": "o.o.d."}


def _interval(row) -> str:
    return f"[{row.low:.2f}, {row.high:.2f}]"


def accuracy_wide(rows: pd.DataFrame) -> pd.DataFrame:
    """`analysis.accuracy.split_accuracy` rows pivoted: a row per checkpoint and readout; per split the
    accuracy, its 95% Wilson interval and n."""
    if rows.empty:
        return rows
    out = None
    for split, part in rows.groupby("split", sort=True):
        label = SPLIT_LABELS.get(split, split)
        cells = part.assign(interval=[_interval(r) for r in part.itertuples(index=False)])
        cells = cells[["checkpoint", "readout", "accuracy", "interval", "n"]].rename(
            columns={"accuracy": label, "interval": f"{label} 95% CI", "n": f"{label} n"}
        )
        out = cells if out is None else out.merge(cells, on=["checkpoint", "readout"], how="outer")
    return out.reset_index(drop=True)


def accuracy_by_dataset(rows: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: split, n, chance, majority, then each readout's "accuracy [95% CI]" (text cells)."""
    if rows.empty:
        return baselines
    cells = rows.assign(cell=[f"{r.accuracy:.3f} {_interval(r)}" for r in rows.itertuples(index=False)])
    wide = cells.pivot_table(index=["dataset", "split"], columns="readout", values="cell", aggfunc="first")
    wide.columns.name = None
    table = baselines.merge(wide.reset_index(), on=["dataset", "split"], how="left")
    return table.assign(split=table["split"].map(lambda s: SPLIT_LABELS.get(s, s)))


NOT_APPLICABLE = "not applicable"


def _listed(values) -> str:
    """Every item of a list, joined (the card wraps them; nothing is cut)."""
    if values is None or values == []:
        return "—"
    return ", ".join(map(str, values)) if isinstance(values, list | tuple) else str(values)


def model_card(
    config: dict[str, Any],
    training: dict[str, Any] | None,
    last_step: int | None,
    *,
    has_router: bool = True,
    has_invariant: bool = True,
) -> pd.DataFrame:
    """Key facts of a checkpoint as a two-column table (field, value), lists printed whole; what the
    variant does not have (a router, the aggregation, loss terms) says "not applicable" and why."""
    adapters = config.get("adapters") or {}
    router = config.get("router") or {}
    data = (training or {}).get("data")
    data = data if isinstance(data, dict) else {}  # training_config.json is anyone's file
    weights = config.get("loss_weights") or {}
    used = (
        ["lm"]
        + (["routing"] if has_router else [])
        + (["invariant", "domain", "mi"] if has_invariant else [])
    )
    variant = config.get("variant")
    facts = [
        ("backbone", config.get("backbone")),
        ("variant", variant),
        ("K (domain modules)", config.get("num_domains") if has_router else "1 (one adapter)"),
        ("router", f"{router.get('kind', '?')} (projection {router.get('projection_dim', '?')})"
         if has_router else f"{NOT_APPLICABLE}: the {variant} variant has no router"),
        ("aggregation", config.get("aggregation")
         if has_invariant else f"{NOT_APPLICABLE}: no invariant module to aggregate with"),
        ("adapters", f"LoRA r={adapters.get('r')} alpha={adapters.get('alpha')} on "
         f"{_listed(adapters.get('target_modules'))}"),
        ("loss weights", ", ".join(f"{k} {weights[k]}" for k in used if k in weights) or "—"),
        ("training datasets", _listed(config.get("dataset_names"))),
        ("training files", _listed(data.get("train")) if data.get("train") else data.get("mix") or "—"),
        ("steps trained", "—" if last_step is None else last_step),
    ]  # fmt: skip
    return pd.DataFrame([(k, "—" if v is None else str(v)) for k, v in facts], columns=["field", "value"])


def bar_rows(rows: pd.DataFrame, selected: str) -> pd.DataFrame:
    """Rows for `analysis.accuracy_figures.accuracy_bars` from `analysis.accuracy` rows: every readout of
    the selected checkpoint and the model readout of each other checkpoint; accuracy, interval and n kept.

    A checkpoint's model readout is named by the checkpoint (and drawn in its run colour) whichever
    checkpoint the sidebar selects, so a model keeps its name and colour across pages and selections.
    """
    out = []
    for row in rows.itertuples(index=False):
        if row.readout == "model":
            module = row.checkpoint
        elif row.checkpoint == selected:
            module = row.readout
        else:
            continue
        out.append(
            {"module": module, "split": SPLIT_LABELS.get(row.split, row.split), "dataset": row.dataset,
             "accuracy": row.accuracy, "low": row.low, "high": row.high, "n": row.n}
        )  # fmt: skip
    return pd.DataFrame(out, columns=["module", "split", "dataset", "accuracy", "low", "high", "n"])


#: Metric groups of metrics.jsonl: label -> column, or prefix of nested per-module columns.
DYNAMICS_GROUPS: dict[str, str] = {
    "Loss terms (nats)": "loss_terms",
    "Total loss (nats)": "loss",
    "Held-out probe loss (nats)": "probe_loss",
    "MI penalty, batch estimator (nats; the training term)": "mi_batch",
    "MI, KSG on first PCs (nats)": "mi_ksg",
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

# probe_loss: the model's answer-token cross-entropy on held-out examples, the curve a run's step is read from
DEFAULT_DYNAMICS = (
    "loss_terms", "probe_loss", "mi_ksg", "cka", "pearson", "probe_routing_fraction", "router_nmi",
)  # fmt: skip


def training_records(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, int]:
    """(flat table of the logged steps with `a/b` columns, number of skipped non-finite steps)."""
    logged = [r for r in records if "event" not in r]
    skipped = sum(1 for r in records if r.get("event") == "skipped_nonfinite")
    return (pd.json_normalize(logged, sep="/") if logged else pd.DataFrame()), skipped


def without_columns(frame: pd.DataFrame, group: str, names: tuple[str, ...]) -> pd.DataFrame:
    """The frame without the `group/name` columns of `names` (terms a run's variant does not have)."""
    return frame.drop(columns=[f"{group}/{n}" for n in names if f"{group}/{n}" in frame.columns])


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
    over datasets from the engine's own counts (n_correct / n_scored), with the 95% Wilson interval."""
    from analysis.accuracy import summed_intervals

    rows = summed_intervals(summary, ["intervention", "split"]).rename(columns={"intervention": "module"})
    return rows.assign(split=rows["split"].map(lambda s: SPLIT_LABELS.get(s, s)))


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
