"""Mutual information of two modules for one scope of examples, by every estimator, with the primary one
named and every interval that cannot be read explained.

The PRIMARY estimator is KSG (`iclm.metrics.ksg`): it estimates the MI of the continuous states themselves
(standardised, PCA-reduced to the same 8 dimensions for every model), so its nats mean the same thing for
an ICLM, a no-invariant model or another checkpoint, and it is consistent as N grows. The others answer
other questions and are shown beside it, never instead of it:

- ``batch`` is the training penalty itself (`iclm.mi.batch_mi` on softmaxed features): it tracks the
  training objective (what the MI loss term pushed down), but it measures feature-activation distributions,
  is bounded by log D and is comparable only with itself; near 0 it is float round-off (|MI| < 1e-6 nats,
  negative values included, are numerically zero).
- ``binned`` is a plug-in histogram of each side's first principal component: one direction only, a lower
  bound up to estimation error, and capped at log(bins) (+ the Miller-Madow correction): when the two first
  PCs fall in matching bins for every example, every per-example term is the same, the estimate sits at the
  cap and its bootstrap interval has zero width.

Every value is in nats (divide by ln 2 = 0.693 for bits).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.scopes import scope_mask
from iclm.metrics.binned import default_bins
from iclm.metrics.information import ESTIMATORS, estimate_mi
from iclm.metrics.ksg import MIN_ROWS, PCA_DIMS, ksg_dims

PRIMARY = "ksg"
UNITS = "nats"
NUMERICAL_ZERO = 1e-6  # nats; float32 round-off of the batch estimator's KL
WHAT = {
    "ksg": "MI of the continuous states (KSG, k = 3, 8 PCs): comparable across models. Primary.",
    "batch": "The training penalty (softmaxed features): tracks the objective, comparable only with itself.",
    "binned": "Histogram MI of the first principal components: one direction, capped at log(bins).",
}
COLUMNS = ["scope", "estimator", "primary", "mi", "low", "high", "n", "units", "note"]


def components_note(n: int, x_features: int, y_features: int) -> str:
    """Why KSG read fewer than its PCA_DIMS components of a side: n examples span at most n - 1 ("" when
    neither side is cut by n)."""
    kept = [ksg_dims(n, f) for f in (x_features, y_features)]
    if kept == [min(PCA_DIMS, f) for f in (x_features, y_features)]:
        return ""
    count = str(kept[0]) if kept[0] == kept[1] else f"{kept[0]} and {kept[1]}"
    return (
        f"KSG on {count} principal components per module, not {PCA_DIMS}: {n} examples span at most "
        f"{n - 1}, so this value is not comparable with estimates on {PCA_DIMS} components"
    )


def interval_note(estimator: str, mi: float, low: float, high: float, n: int) -> str:
    """Why an estimate or its interval must be read with care ("" when nothing needs saying)."""
    if estimator == "batch" and abs(mi) < NUMERICAL_ZERO:
        return "numerically zero (float round-off; negative values too)"
    if high - low <= 1e-12 * max(1.0, abs(mi)):
        if estimator == "binned":
            cap = math.log(default_bins(n))
            return (
                f"zero-width interval: every example's term is the same (the first PCs fall in matching "
                f"bins), so resampling cannot move it; the estimate is at the cap log(bins) = {cap:.3f} "
                "+ correction: read KSG"
            )
        return "zero-width interval: every resample gave the same value"
    return ""


def mi_report(
    x: np.ndarray,
    y: np.ndarray,
    examples: pd.DataFrame,
    scope: str,
    n_boot: int = 100,
    min_rows: int = MIN_ROWS,
) -> pd.DataFrame:
    """MI (nats) between paired rows x (N, Dx) and y (N, Dy) of the examples in `scope`, by every
    registered estimator (primary first), with bootstrap intervals and notes (KSG's says when the scope's
    few examples cut its components). Empty with fewer than `min_rows` rows in the scope (KSG's minimum)."""
    mask = scope_mask(examples, scope)
    xs, ys = x[mask], y[mask]
    if len(xs) < min_rows:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for name in [PRIMARY, *(e for e in ESTIMATORS if e != PRIMARY)]:
        result = estimate_mi(xs, ys, estimator=name, n_boot=n_boot)
        est = result.estimate
        notes = [interval_note(name, est.value, est.low, est.high, result.n)]
        if name == "ksg":
            notes.append(components_note(result.n, xs.shape[1], ys.shape[1]))
        note = "; ".join(text for text in notes if text)
        rows.append(
            {"scope": scope, "estimator": name, "primary": name == PRIMARY, "mi": est.value, "low": est.low,
             "high": est.high, "n": result.n, "units": UNITS, "note": note}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
