"""Probe-set dynamics metrics (iclm.training.dynamics) and the atomic metrics.jsonl writer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from iclm.training import dynamics
from iclm.training.metrics_log import MetricsWriter, read_metrics

RNG = np.random.default_rng(0)


def test_linear_cka_is_one_for_rotations_and_scalings_and_low_for_independent_data():
    x = RNG.normal(size=(200, 8))
    q, _ = np.linalg.qr(RNG.normal(size=(8, 8)))
    assert dynamics.linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0)
    assert dynamics.linear_cka(x, RNG.normal(size=(200, 8))) < 0.15


def test_mean_abs_pearson_matches_numpy_corrcoef():
    x, y = RNG.normal(size=(50, 4)), RNG.normal(size=(50, 4))
    y[:, 0] = -2 * x[:, 0]
    expected = np.mean([abs(np.corrcoef(x[:, j], y[:, j])[0, 1]) for j in range(4)])
    assert dynamics.mean_abs_pearson(x, y) == pytest.approx(expected)
    assert dynamics.mean_abs_pearson(x, x) == pytest.approx(1.0)


def test_cluster_purity_nmi_and_perplexity_on_known_assignments():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert dynamics.cluster_purity(np.array([1, 1, 1, 0, 0, 0]), labels) == 1.0
    assert dynamics.cluster_nmi(np.array([1, 1, 1, 0, 0, 0]), labels) == pytest.approx(1.0)
    assert dynamics.cluster_purity(np.array([0, 0, 0, 0, 0, 0]), labels) == 0.5
    assert dynamics.cluster_nmi(np.array([0, 1, 0, 1, 0, 1]), labels) < 0.1
    assert dynamics.codebook_perplexity(np.array([0, 1, 0, 1]), 2) == pytest.approx(2.0)
    assert dynamics.codebook_perplexity(np.array([1, 1, 1]), 2) == pytest.approx(1.0)
    assert dynamics.routing_fractions(np.array([0, 1, 1, 1]), 3) == [0.25, 0.75, 0.0]


def test_ksg_mi_is_high_for_dependent_and_near_zero_for_independent_states():
    x = RNG.normal(size=(300, 6)) * np.array([5.0, 1, 1, 1, 1, 1])  # a dominant first component
    dependent = dynamics.ksg_mi_first_pcs(x, 2 * x + 0.1 * RNG.normal(size=(300, 6)))
    independent = dynamics.ksg_mi_first_pcs(x, RNG.normal(size=(300, 6)))
    assert dependent > 0.5 and independent < 0.1


def test_metrics_writer_appends_whole_lines_and_writes_nan_as_null(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    writer.write({"step": 1, "loss": float("nan"), "nested": {"a": np.float32(0.5)}})
    writer.write({"step": 2, "loss": 1.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert json.loads(lines[0])["loss"] is None and json.loads(lines[0])["nested"]["a"] == 0.5


def test_metrics_truncate_after_keeps_earlier_steps_and_skips_a_torn_line(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    for step in (5, 10, 15):
        writer.write({"step": step})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write(
            '{"step": 20, "lo'
        )  # a process killed mid-line (cannot happen with write(), tested anyway)
    writer.truncate_after(10)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [5, 10]


def test_disabled_writer_writes_nothing(tmp_path):
    MetricsWriter(tmp_path / "metrics.jsonl", enabled=False).write({"step": 1})
    assert not (tmp_path / "metrics.jsonl").exists()
    assert math.isfinite(dynamics.linear_cka(np.ones((3, 2)), np.ones((3, 2))))
