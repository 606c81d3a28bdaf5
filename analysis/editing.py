"""A datapoint edited to test a hypothesis (does rewording a symbolic prompt as text move its route?): the
original and the edited prompt's route and every module's prediction, side by side, with what changed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.module_predictions import ModulePredictions


def _choice_probabilities(result: ModulePredictions, readout: str) -> dict[str, float] | None:
    logprobs = result.modules[readout].choice_logprobs
    if logprobs is None or result.choices is None:
        return None
    values = np.asarray(logprobs, dtype=np.float64)
    shares = np.exp(values - values.max())
    return dict(zip(result.choices, (shares / shares.sum()).tolist(), strict=True))


def edit_comparison(original: ModulePredictions, edited: ModulePredictions) -> pd.DataFrame:
    """One row per readout both runs have: prediction before and after, whether it changed, and the
    probability each gives its own prediction (among the choices when there are choices, else of the next
    token), before and after."""
    rows = []
    for readout in original.modules:
        if readout not in edited.modules:
            continue
        before, after = original.modules[readout], edited.modules[readout]
        row = {
            "readout": readout,
            "original": before.prediction,
            "edited": after.prediction,
            "changed": before.prediction != after.prediction,
        }
        for side, result, prediction in (("original", original, before), ("edited", edited, after)):
            shares = _choice_probabilities(result, readout)
            if shares is not None:
                row[f"p {side}"] = shares.get(prediction.prediction)
            else:
                row[f"p {side}"] = next(
                    (p for t, p in prediction.top_tokens if t == prediction.prediction), None
                )
        rows.append(row)
    return pd.DataFrame(rows, columns=["readout", "original", "edited", "changed", "p original", "p edited"])


def route_change(original: ModulePredictions, edited: ModulePredictions) -> dict[str, object]:
    """The route before and after, and the squared distance to each code before and after."""
    return {
        "route original": original.route,
        "route edited": edited.route,
        "moved": original.route != edited.route,
        "distances original": [round(d, 4) for d in original.distances],
        "distances edited": [round(d, 4) for d in edited.distances],
    }
