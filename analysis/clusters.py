"""Router clusters against the true datasets as tables: the contingency table and per-split score reports.

The scores themselves (NMI, ARI, homogeneity, completeness, purity) are `iclm.metrics.clusters`, shared with
the training probes; this module adds what needs pandas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from iclm.metrics.clusters import ClusterScores, as_labels, check_labels, cluster_scores


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


def contingency_table(clusters, labels) -> pd.DataFrame:
    """Counts of examples per (router cluster, true dataset).

    Args:
        clusters: (N,) cluster id per example; labels: (N,) dataset name per example.
    Returns:
        DataFrame, index ``cluster`` (sorted), columns ``dataset`` (sorted), int counts summing to N.
    """
    c, y = check_labels(clusters, labels)
    table = pd.crosstab(pd.Series(c, name="cluster"), pd.Series(y, name="dataset"))
    return table.sort_index(axis=0).sort_index(axis=1).astype(np.int64)


def cluster_report(clusters, labels, splits=None) -> ClusterReport:
    """Scores and contingency overall and, when ``splits`` (N,) is given, per split value (e.g. iid/ood)."""
    c, y = check_labels(clusters, labels)
    report = ClusterReport(overall=cluster_scores(c, y), contingency=contingency_table(c, y))
    if splits is None:
        return report
    s = as_labels(splits, "splits")
    if s.shape[0] != c.shape[0]:
        raise ValueError(f"splits must have the same length as clusters, got {s.shape[0]} and {c.shape[0]}")
    for split in sorted(set(s.tolist()), key=str):
        mask = s == split
        report.per_split[str(split)] = cluster_scores(c[mask], y[mask])
        report.contingency_per_split[str(split)] = contingency_table(c[mask], y[mask])
    return report
