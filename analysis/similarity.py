"""Representation similarity between named modules as tables: module x module matrices and grouped bootstraps.

States are addressed by module name: ``states = {"invariant": (N, D1), "domain_0": (N, D2), ...}`` with row i
of every array describing the same example/token. The pairwise metrics (linear CKA, Pearson r) and their
bootstrap are `iclm.metrics.similarity`, shared with the training probes; this module adds the DataFrames.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from iclm.metrics.similarity import Metric, bootstrap_similarity, get_metric

logger = logging.getLogger(__name__)


def similarity_matrix(states: Mapping[str, np.ndarray], metric: Metric = "cka") -> pd.DataFrame:
    """Symmetric module x module matrix of ``metric`` between named states (each (N, D_m), same N)."""
    fn = get_metric(metric)
    names = list(states)
    if not names:
        raise ValueError("states is empty: pass at least one named (N, D) array")
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="module"), columns=pd.Index(names, name="module"))
    for i, a in enumerate(names):
        for b in names[i:]:
            value = fn(states[a], states[b])
            out.loc[a, b] = value
            out.loc[b, a] = value
    return out


def grouped_similarity(
    states: Mapping[str, np.ndarray],
    groups: pd.DataFrame,
    metric: Metric = "cka",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    min_rows: int = 4,
) -> pd.DataFrame:
    """Pairwise similarity with bootstrap CIs, per group (e.g. per dataset and split) and overall.

    Args:
        states: module name -> (N, D_m) array.
        groups: (N, G) DataFrame of group keys, e.g. columns ``dataset`` and ``split``; rows align with
            the states' rows.
    Returns:
        long DataFrame with the group columns (``"all"`` for the overall rows), ``module_a``, ``module_b``,
        ``metric``, ``value``, ``low``, ``high``, ``n``. Groups with fewer than ``min_rows`` rows are skipped.
    """
    states = {name: np.asarray(v) for name, v in states.items()}
    names = list(states)
    n = {v.shape[0] for v in states.values()}
    if len(n) != 1 or len(groups) not in n:
        raise ValueError(
            f"states and groups must have the same number of rows, got {sorted(n)} and {len(groups)}"
        )
    keys = list(groups.columns)
    parts = [(dict.fromkeys(keys, "all"), np.arange(len(groups)))]
    if keys:
        for key, idx in groups.groupby(keys, sort=True).indices.items():
            key = key if isinstance(key, tuple) else (key,)
            parts.append((dict(zip(keys, key, strict=True)), idx))
    rows = []
    for key, idx in parts:
        if len(idx) < min_rows:
            logger.info("grouped_similarity: skipping group %s with %d rows", key, len(idx))
            continue
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                est = bootstrap_similarity(states[a][idx], states[b][idx], metric, n_boot, seed, level)
                rows.append(
                    {**key, "module_a": a, "module_b": b, "metric": metric, "value": est.value,
                     "low": est.low, "high": est.high, "n": len(idx)}
                )  # fmt: skip
    return pd.DataFrame(rows)
