"""Tests for iclm/metrics/clusters.py (perfect, permuted and random clusterings) and analysis/clusters.py
(contingency, per-split report)."""

import numpy as np
import pytest

from analysis.clusters import cluster_report, contingency_table
from iclm.metrics.clusters import cluster_scores, nmi, purity

LABELS = np.array(["acre"] * 30 + ["raven"] * 20 + ["pvr"] * 10)


def test_perfect_clustering_scores_one():
    clusters = np.array([0] * 30 + [1] * 20 + [2] * 10)
    s = cluster_scores(clusters, LABELS)
    for value in (s.nmi, s.ari, s.homogeneity, s.completeness, s.purity):
        assert value == pytest.approx(1.0)
    assert s.n == 60


def test_permuted_perfect_clustering_scores_one():
    clusters = np.array([2] * 30 + [0] * 20 + [1] * 10)
    s = cluster_scores(clusters, LABELS)
    assert (s.nmi, s.ari, s.purity) == pytest.approx((1.0, 1.0, 1.0))


def test_single_cluster_is_complete_not_homogeneous():
    s = cluster_scores(np.zeros(60, dtype=int), LABELS)
    assert s.completeness == pytest.approx(1.0)
    assert s.homogeneity == pytest.approx(0.0)
    assert s.ari == pytest.approx(0.0)
    assert s.purity == pytest.approx(30 / 60)


def test_random_clustering_near_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=3000)
    s = cluster_scores(rng.integers(0, 3, size=3000), labels)
    assert abs(s.ari) < 0.02
    assert s.nmi < 0.02


def test_purity_known_value():
    clusters = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array(["a", "a", "b", "b", "b", "a"])
    assert purity(clusters, labels) == pytest.approx(4 / 6)


def test_contingency_counts_and_sums():
    clusters = np.array([1, 0, 0, 1, 1, 2])
    labels = np.array(["b", "a", "a", "b", "a", "b"])
    t = contingency_table(clusters, labels)
    assert t.index.name == "cluster" and t.columns.name == "dataset"
    assert list(t.index) == [0, 1, 2] and list(t.columns) == ["a", "b"]
    assert t.to_numpy().tolist() == [[2, 0], [1, 2], [0, 1]]
    assert t.to_numpy().sum() == 6
    assert t.sum(axis=0).tolist() == [3, 3]


def test_report_per_split():
    clusters = np.array([0] * 30 + [1] * 20 + [2] * 10)
    splits = np.array(["iid", "ood"] * 30)
    report = cluster_report(clusters, LABELS, splits)
    assert set(report.per_split) == {"iid", "ood"}
    assert report.per_split["iid"].n == 30
    assert report.contingency_per_split["ood"].to_numpy().sum() == 30
    assert (
        sum(t.to_numpy().sum() for t in report.contingency_per_split.values())
        == report.contingency.to_numpy().sum()
    )
    frame = report.scores_frame()
    assert frame["split"].tolist() == ["all", "iid", "ood"]
    assert np.allclose(frame["nmi"], 1.0)


def test_report_without_splits_has_only_overall():
    report = cluster_report([0, 1], ["a", "b"])
    assert report.per_split == {} and len(report.scores_frame()) == 1


def test_length_mismatch_rejected():
    with pytest.raises(ValueError, match="same length"):
        cluster_scores([0, 1, 2], ["a", "b"])


def test_split_length_mismatch_rejected():
    with pytest.raises(ValueError, match="splits must have the same length"):
        cluster_report([0, 1], ["a", "b"], ["iid"])


def test_empty_rejected():
    with pytest.raises(ValueError, match="empty"):
        contingency_table([], [])


def test_two_dimensional_rejected():
    with pytest.raises(ValueError, match="1-D"):
        cluster_scores(np.zeros((2, 2)), np.zeros((2, 2)))


def test_cluster_purity_nmi_on_known_assignments():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert purity(np.array([1, 1, 1, 0, 0, 0]), labels) == 1.0
    assert nmi(np.array([1, 1, 1, 0, 0, 0]), labels) == pytest.approx(1.0)
    assert purity(np.array([0, 0, 0, 0, 0, 0]), labels) == 0.5
    assert nmi(np.array([0, 1, 0, 1, 0, 1]), labels) < 0.1


def test_two_pure_clusters_of_two_datasets_each():
    """Four balanced datasets in two pure pairs: NMI = ln 2 / ((ln 4 + ln 2) / 2) = 2/3, purity 1/2."""
    labels = np.repeat(["acre", "raven", "pvr", "arc"], 5)
    clusters = np.repeat([0, 0, 1, 1], 5)
    assert nmi(clusters, labels) == pytest.approx(2 / 3)
    assert purity(clusters, labels) == pytest.approx(0.5)
    assert cluster_scores(clusters, labels).nmi == pytest.approx(2 / 3)


def test_independent_clusters_have_zero_nmi():
    assert nmi([0, 0, 1, 1], ["a", "b", "a", "b"]) == pytest.approx(0.0, abs=1e-12)
    assert purity([0, 0, 1, 1], ["a", "b", "a", "b"]) == 0.5


def test_purity_of_empty_input_rejected():
    with pytest.raises(ValueError, match="empty"):
        purity([], [])
