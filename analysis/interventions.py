"""Interventions on an ICLM's modules: forced routes, a dropped module, swapped domain modules.

`intervention_table` predicts every example under every intervention (one row per example and intervention);
`intervention_summary` turns it into accuracy per dataset and intervention plus the fraction of predictions
that changed against the unintervened model. `predict_all_modules` (in `analysis.module_predictions`) is the
studio's single-prompt view.

Interventions (see `InterventionChoice`, a named choice of the table, not the engine's value: its
`.model_intervention` is the `iclm.interventions.Intervention` it hands to the run, as
`model(intervention=...)` takes it):
- "none": the model as it is (its router's routes);
- "force_route": every example goes to domain module `route` (= `model(force_route=k)`);
- "drop_invariant" / "drop_domain": that module's states are replaced by zeros in the aggregation
  (`model(drop_module=...)`; variant "iclm" only);
- "swap": each example goes to domain (router route + `shift`) mod K, a permutation that never keeps the
  router's choice when K > 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch

from analysis import predict
from analysis.module_predictions import ModulePrediction, ModulePredictions, predict_all_modules
from iclm import interventions as model_interventions
from iclm.readout import Readout

REFERENCE = " unintervened"  # the reference readout's name: no intervention is named with a leading space

__all__ = [
    "InterventionChoice",
    "ModulePrediction",
    "ModulePredictions",
    "intervention_summary",
    "intervention_table",
    "predict_all_modules",
    "standard_interventions",
]

Kind = Literal["none", "force_route", "drop_invariant", "drop_domain", "swap"]
KINDS: tuple[str, ...] = ("none", "force_route", "drop_invariant", "drop_domain", "swap")


@dataclass(frozen=True)
class InterventionChoice:
    """One intervention of the table, as the Interventions page names it: `kind`, the domain for
    "force_route", the route shift for "swap" (`name` labels its rows). The run itself takes
    `model_intervention`, the engine's `iclm.interventions.Intervention`."""

    kind: Kind
    route: int | None = None
    shift: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Intervention kind={self.kind!r} is invalid; choose one of {list(KINDS)}")
        if (self.kind == "force_route") != (self.route is not None):
            raise ValueError(
                f"Intervention route={self.route!r} is invalid: give it exactly for 'force_route'"
            )

    @property
    def name(self) -> str:
        """Stable label: "none", "force_route_1", "drop_invariant", "drop_domain", "swap_+1"."""
        if self.kind == "force_route":
            return f"force_route_{self.route}"
        if self.kind == "swap":
            return f"swap_{self.shift:+d}"
        return self.kind

    def check(self, config) -> None:
        """Raise ValueError if the model with this `ICLMConfig` cannot take the intervention."""
        k = config.num_domains
        if self.kind == "force_route" and not (0 <= self.route < k):
            raise ValueError(f"Intervention route={self.route} is invalid; the model has {k} domain modules")
        if self.kind.startswith("drop_") and not config.has_invariant:
            raise ValueError(f"intervention {self.kind!r} needs variant 'iclm' (got {config.variant!r})")
        if self.kind == "swap" and (k < 2 or self.shift % k == 0):
            raise ValueError(
                f"swap with shift={self.shift} keeps every route for K={k}; need K >= 2, shift % K != 0"
            )

    @property
    def model_intervention(self) -> model_interventions.Intervention:
        """The value the run takes (`iclm.interventions.Intervention`)."""
        return model_interventions.Intervention(
            force_route=self.route if self.kind == "force_route" else None,
            route_shift=self.shift if self.kind == "swap" else 0,
            drop_module=self.drop_module,
        )

    def routes(self, model_routes: torch.Tensor, num_domains: int) -> torch.Tensor:
        """Routes (N,) this intervention uses, given the router's routes (N,)."""
        return self.model_intervention.routes(model_routes, num_domains)

    @property
    def drop_module(self) -> str | None:
        return self.kind.removeprefix("drop_") if self.kind.startswith("drop_") else None


def standard_interventions(config) -> list[InterventionChoice]:
    """Every intervention a model with this config supports: none, each forced route, drops, swap."""
    found = [InterventionChoice("none")]
    found += [InterventionChoice("force_route", route=k) for k in range(config.num_domains)]
    if config.has_invariant:
        found += [InterventionChoice("drop_invariant"), InterventionChoice("drop_domain")]
    if config.num_domains > 1:
        found.append(InterventionChoice("swap"))
    return found


@torch.no_grad()
def intervention_table(
    model,
    tokenizer,
    examples: Sequence,
    interventions: Sequence[InterventionChoice] | None = None,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    max_length: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per example and intervention: id, dataset, split, gold, intervention, route, prediction,
    correct (nullable: null without a gold answer), changed (prediction differs from "none").
    With `progress(done, total)` the examples run one batch at a time (every intervention on it) and each
    batch reports the examples done: a studio job can show its pace and stop between batches.
    Prompts are collated as in training (`max_length` default: `predict.default_max_length(model)`) and
    moved to the model's device; the router routes them once (= `analysis.collect`'s routes) and each
    intervention goes to the run as its `model_intervention` (a forced route as force_route)."""
    if not examples:
        raise ValueError("examples is empty")
    if progress is not None:
        kwargs = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "max_length": max_length}
        parts = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            parts.append(intervention_table(model, tokenizer, chunk, interventions, **kwargs))
            progress(min(start + batch_size, len(examples)), len(examples))
        order = {name: i for i, name in enumerate(dict.fromkeys(parts[0]["intervention"]))}
        table = pd.concat(parts, ignore_index=True)
        return table.sort_values("intervention", key=lambda s: s.map(order), kind="stable").reset_index(
            drop=True
        )
    interventions = list(interventions) if interventions is not None else standard_interventions(model.config)
    for intervention in interventions:
        intervention.check(model.config)
    model.eval()
    collator = predict.make_collator(model, tokenizer, examples, max_length)
    router_routes = predict.model_routes(model, collator, examples, batch_size)
    # One readout of the model's output per intervention (plus the unintervened reference), all read from the
    # same module passes: a module's states do not depend on which intervention reads them.
    reference = Readout.under(REFERENCE, "logits", model_interventions.Intervention())
    readouts = [reference] + [
        Readout.under(i.name, "logits", i.model_intervention) for i in interventions if i.kind != "none"
    ]
    found = predict.predict_readouts(
        model, tokenizer, examples, router_routes, readouts,
        batch_size=batch_size, max_new_tokens=max_new_tokens, collator=collator,
    )  # fmt: skip
    frames = []
    for intervention in interventions:
        value = intervention.model_intervention
        routes = value.routes(router_routes, model.config.num_domains)
        predictions = found[REFERENCE if intervention.kind == "none" else intervention.name]
        frames.append(_rows(examples, intervention.name, routes, predictions, found[REFERENCE]))
    return pd.concat(frames, ignore_index=True)


def _rows(examples, name, routes, predictions, reference) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [e.id for e in examples],
            "dataset": [e.dataset for e in examples],
            "split": [e.split for e in examples],
            "gold": [e.answer for e in examples],
            "intervention": name,
            "route": routes.tolist(),
            "prediction": predictions,
            "correct": pd.Series(
                [predict.is_correct(p, e.answer) for p, e in zip(predictions, examples, strict=True)],
                dtype="boolean",
            ),
            "changed": [p != r for p, r in zip(predictions, reference, strict=True)],
        }
    )


def intervention_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, split, intervention): n, n_correct, accuracy (over rows with a gold answer; NaN if
    none), changed (fraction of predictions that differ from the unintervened model's)."""
    grouped = table.groupby(["dataset", "split", "intervention"], sort=False)
    summary = grouped.agg(
        n=("id", "size"),
        n_scored=("correct", "count"),
        n_correct=("correct", "sum"),
        changed=("changed", "mean"),
    ).reset_index()
    summary["n_correct"] = summary["n_correct"].astype("int64")
    summary["accuracy"] = summary["n_correct"] / summary["n_scored"].where(summary["n_scored"] > 0)
    return summary[["dataset", "split", "intervention", "n", "n_scored", "n_correct", "accuracy", "changed"]]
