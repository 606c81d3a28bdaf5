"""How well router clusters recover the true datasets: NMI, ARI, homogeneity, completeness, purity.

All scores compare a clustering (router route per example) with reference labels (the dataset each example
came from). They are invariant to renaming clusters, so a router that sends dataset A to module 3 and
dataset B to module 0 scores 1 if it never mixes them. The contingency table and per-split reports (pandas)
are in `analysis.clusters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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


def as_labels(values: Sequence | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a 1-D array; anything else raises ValueError naming ``name`` and the shape."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def check_labels(clusters, labels) -> tuple[np.ndarray, np.ndarray]:
    """clusters (N,) and labels (N,) as arrays, checked: 1-D, the same length, not empty."""
    c, y = as_labels(clusters, "clusters"), as_labels(labels, "labels")
    if c.shape[0] != y.shape[0]:
        raise ValueError(f"clusters and labels must have the same length, got {c.shape[0]} and {y.shape[0]}")
    if c.shape[0] == 0:
        raise ValueError("clusters and labels are empty")
    return c, y


def purity(clusters, labels) -> float:
    """Share of examples whose label is the majority label of their cluster (1 = every cluster is pure)."""
    c, y = check_labels(clusters, labels)
    _, ci = np.unique(c, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    counts = np.zeros((ci.max() + 1, yi.max() + 1), dtype=np.int64)  # (clusters, labels) contingency
    np.add.at(counts, (ci.ravel(), yi.ravel()), 1)
    return float(counts.max(axis=1).sum() / counts.sum())


def nmi(clusters, labels) -> float:
    """Normalised mutual information (arithmetic mean normalisation) between clusters (N,) and labels (N,).

    Labels are compared as given: `cluster_scores` passes strings (one comparable type per array), the
    training probe passes integer ids; sklearn orders its contingency table by the values, so the two can
    differ in the last bit.
    """
    from sklearn.metrics import normalized_mutual_info_score

    c, y = check_labels(clusters, labels)
    return float(normalized_mutual_info_score(y, c))


def cluster_scores(clusters, labels) -> ClusterScores:
    """All agreement scores between clusters (N,) and labels (N,)."""
    from sklearn import metrics

    c, y = check_labels(clusters, labels)
    c_str, y_str = c.astype(str), y.astype(str)  # sklearn needs one comparable type per array
    hom, com, _ = metrics.homogeneity_completeness_v_measure(y_str, c_str)
    return ClusterScores(
        nmi=nmi(c_str, y_str),
        ari=float(metrics.adjusted_rand_score(y_str, c_str)),
        homogeneity=float(hom),
        completeness=float(com),
        purity=purity(c, y),
        n=int(c.shape[0]),
    )
