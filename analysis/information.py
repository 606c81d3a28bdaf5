"""Mutual information between modules as tables: the module x module MI matrix, and one pair's MI by every
estimator per split with bootstrap intervals (the studio's MI table).

The estimators (``batch``, ``ksg``, ``binned``), their registry and bootstrap intervals are
`iclm.metrics.information`, shared with the training probes; this module adds the DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iclm.metrics.information import ESTIMATORS, Estimator, estimate_mi, get_estimator
from iclm.metrics.ksg import MIN_ROWS


def mi_matrix(
    states: dict[str, np.ndarray], estimator: Estimator = "ksg", seed: int = 0, **kwargs
) -> pd.DataFrame:
    """Symmetric module x module MI (nats) between named states (each (N, D_m), rows aligned).

    The diagonal is the module's MI with itself (large for ``ksg``; finite for ``binned`` and ``batch``).
    ``batch`` needs equal widths D for every pair.
    """
    fn = get_estimator(estimator)
    if not states:
        raise ValueError("states is empty: pass at least one named (N, D) array")
    names = list(states)
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="module"), columns=pd.Index(names, name="module"))
    for i, a in enumerate(names):
        for b in names[i:]:
            out.loc[a, b] = out.loc[b, a] = fn.value(states[a], states[b], seed=seed, **kwargs)
    return out


def mi_by_split(
    x: np.ndarray, y: np.ndarray, splits: pd.Series, n_boot: int = 200, min_rows: int = MIN_ROWS
) -> pd.DataFrame:
    """MI (nats) between paired rows x (N, Dx) and y (N, Dy) by every registered estimator, over all rows
    ("all") and per split (`splits`, N labels, e.g. iid/ood), each with its bootstrap interval. Columns:
    split, estimator, mi, low, high, n. A scope with fewer than `min_rows` rows (KSG's minimum) is left
    out."""
    rows = []
    for scope in ["all", *sorted(splits.unique())]:
        mask = (splits == scope).to_numpy() if scope != "all" else slice(None)
        xs, ys = x[mask], y[mask]
        if len(xs) < min_rows:
            continue
        for name in ESTIMATORS:
            result = estimate_mi(xs, ys, estimator=name, n_boot=n_boot)
            est = result.estimate
            rows.append(
                {
                    "split": scope,
                    "estimator": name,
                    "mi": est.value,
                    "low": est.low,
                    "high": est.high,
                    "n": result.n,
                }
            )
    return pd.DataFrame(rows)
