"""How well router clusters recover the true datasets: NMI, ARI, homogeneity, completeness, purity.

All scores compare a clustering (router route per example) with reference labels (the dataset each example
came from). They are invariant to renaming clusters, so a router that sends dataset A to module 3 and
dataset B to module 0 scores 1 if it never mixes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn import metrics


@dataclass(frozen=True)
class ClusterScores:
    """Agreement between clusters and labels for n examples.

    nmi: normalised mutual information (arithmetic mean normalisation), ari: adjusted Rand index
    (0 for chance, 1 for identical partitions, can be < 0), homogeneity: each cluster holds one label,
    completeness: each label sits in one cluster, purity: share of examples in their cluster's majority label.
    """

    nmi: float
    ari: float
    homogeneity: float
    completeness: float
    purity: float
    n: int


@dataclass(frozen=True)
class ClusterReport:
    """Scores and contingency tables, overall and per split (``per_split`` is empty without splits)."""

    overall: ClusterScores
    contingency: pd.DataFrame
    per_split: dict[str, ClusterScores] = field(default_factory=dict)
    contingency_per_split: dict[str, pd.DataFrame] = field(default_factory=dict)

    def scores_frame(self) -> pd.DataFrame:
        """One row per scope (``all`` then each split) with every score as a column."""
        rows = [{"split": "all", **asdict(self.overall)}]
        rows += [{"split": s, **asdict(sc)} for s, sc in self.per_split.items()]
        return pd.DataFrame(rows)


def _labels(values: Sequence | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _check(clusters, labels) -> tuple[np.ndarray, np.ndarray]:
    c, y = _labels(clusters, "clusters"), _labels(labels, "labels")
    if c.shape[0] != y.shape[0]:
        raise ValueError(f"clusters and labels must have the same length, got {c.shape[0]} and {y.shape[0]}")
    if c.shape[0] == 0:
        raise ValueError("clusters and labels are empty")
    return c, y


def contingency_table(clusters, labels) -> pd.DataFrame:
    """Counts of examples per (router cluster, true dataset).

    Args:
        clusters: (N,) cluster id per example; labels: (N,) dataset name per example.
    Returns:
        DataFrame, index ``cluster`` (sorted), columns ``dataset`` (sorted), int counts summing to N.
    """
    c, y = _check(clusters, labels)
    table = pd.crosstab(pd.Series(c, name="cluster"), pd.Series(y, name="dataset"))
    return table.sort_index(axis=0).sort_index(axis=1).astype(np.int64)


def purity(clusters, labels) -> float:
    """Share of examples whose label is the majority label of their cluster (1 = every cluster is pure)."""
    table = contingency_table(clusters, labels)
    return float(table.to_numpy().max(axis=1).sum() / table.to_numpy().sum())


def cluster_scores(clusters, labels) -> ClusterScores:
    """All agreement scores between clusters (N,) and labels (N,)."""
    c, y = _check(clusters, labels)
    c_str, y_str = c.astype(str), y.astype(str)  # sklearn needs one comparable type per array
    hom, com, _ = metrics.homogeneity_completeness_v_measure(y_str, c_str)
    return ClusterScores(
        nmi=float(metrics.normalized_mutual_info_score(y_str, c_str)),
        ari=float(metrics.adjusted_rand_score(y_str, c_str)),
        homogeneity=float(hom),
        completeness=float(com),
        purity=purity(c, y),
        n=int(c.shape[0]),
    )


def cluster_report(clusters, labels, splits=None) -> ClusterReport:
    """Scores and contingency overall and, when ``splits`` (N,) is given, per split value (e.g. iid/ood)."""
    c, y = _check(clusters, labels)
    report = ClusterReport(overall=cluster_scores(c, y), contingency=contingency_table(c, y))
    if splits is None:
        return report
    s = _labels(splits, "splits")
    if s.shape[0] != c.shape[0]:
        raise ValueError(f"splits must have the same length as clusters, got {s.shape[0]} and {c.shape[0]}")
    for split in sorted(set(s.tolist()), key=str):
        mask = s == split
        report.per_split[str(split)] = cluster_scores(c[mask], y[mask])
        report.contingency_per_split[str(split)] = contingency_table(c[mask], y[mask])
    return report
