"""Tests for iclm/metrics/similarity.py (CKA invariances, debiasing, correlation, bootstrap) and
analysis/similarity.py (module x module matrices, grouping)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ortho_group

from analysis.similarity import grouped_similarity, similarity_matrix
from iclm.metrics.similarity import (
    bootstrap_similarity,
    correlation_matrix,
    correlation_summary,
    get_metric,
    linear_cka,
    mean_abs_correlation,
    paired_mean_abs_correlation,
)


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(200, 16))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_rotation_and_isotropic_scaling_invariant(x, debiased):
    q = ortho_group.rvs(16, random_state=1)
    assert linear_cka(x, x @ q, debiased=debiased) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, 7.5 * x @ q, debiased=debiased) == pytest.approx(1.0, abs=1e-9)


def test_cka_independent_small_and_debiased_near_zero():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(500, 10)), rng.normal(size=(500, 10))
    assert linear_cka(a, b) < 0.05
    assert abs(linear_cka(a, b, debiased=True)) < 0.01
    # plain CKA is biased upwards for few rows and many features; debiased removes it
    a, b = rng.normal(size=(30, 100)), rng.normal(size=(30, 100))
    assert linear_cka(a, b) > 0.5
    assert abs(linear_cka(a, b, debiased=True)) < 0.1


def _unbiased_hsic(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC from Gram matrices (reference for the feature-space formula)."""
    n = k.shape[0]
    k, l_ = k.copy(), l_.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l_, 0)
    one = np.ones(n)
    t = (
        np.trace(k @ l_)
        + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ k @ l_ @ one
    )
    return t / (n * (n - 3))


def test_debiased_cka_matches_gram_matrix_definition():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 5))
    b = a @ rng.normal(size=(5, 7)) + rng.normal(size=(40, 7))
    ac, bc = a - a.mean(0), b - b.mean(0)
    k, l_ = ac @ ac.T, bc @ bc.T
    expected = _unbiased_hsic(k, l_) / np.sqrt(_unbiased_hsic(k, k) * _unbiased_hsic(l_, l_))
    assert linear_cka(a, b, debiased=True) == pytest.approx(expected, rel=1e-9)


def test_correlation_matrix_known_values():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(1000, 2))
    b = np.column_stack([a[:, 0], -a[:, 1], np.ones(1000)])  # identical, negated, constant
    r = correlation_matrix(a, b)
    assert r.shape == (2, 3)
    assert r[0, 0] == pytest.approx(1.0)
    assert r[1, 1] == pytest.approx(-1.0)
    assert np.all(r[:, 2] == 0.0)
    assert abs(r[0, 1]) < 0.1
    summary = correlation_summary(a, b)
    assert summary.max_abs == pytest.approx(1.0)
    assert summary.n_constant == 1
    assert np.isnan(summary.paired_mean_abs)
    assert mean_abs_correlation(a, a) > 0.5


def test_similarity_matrix_symmetric_with_unit_diagonal(x):
    rng = np.random.default_rng(5)
    states = {
        "invariant": x,
        "domain_0": x @ ortho_group.rvs(16, random_state=6),
        "domain_1": rng.normal(size=(200, 8)),
    }
    m = similarity_matrix(states, "cka")
    assert list(m.index) == list(states) == list(m.columns)
    np.testing.assert_allclose(np.diag(m), 1.0)
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
    assert m.loc["invariant", "domain_0"] == pytest.approx(1.0)
    assert m.loc["invariant", "domain_1"] < 0.3


def test_bootstrap_ci_is_seeded_and_contains_value(x):
    y = x + np.random.default_rng(7).normal(size=x.shape)
    e1 = bootstrap_similarity(x, y, "cka", n_boot=50, seed=3)
    e2 = bootstrap_similarity(x, y, "cka", n_boot=50, seed=3)
    assert e1 == e2
    assert e1.low <= e1.value <= e1.high
    assert e1.n_boot == 50


def test_grouped_similarity_per_dataset_and_split(x):
    groups = pd.DataFrame(
        {"dataset": ["acre"] * 100 + ["raven"] * 100, "split": (["iid"] * 50 + ["ood"] * 50) * 2}
    )
    states = {"invariant": x, "domain_0": 2 * x}
    out = grouped_similarity(states, groups, "cka_debiased", n_boot=10)
    assert len(out) == 1 + 4  # overall + 2 datasets x 2 splits
    assert set(out.columns) >= {"dataset", "split", "module_a", "module_b", "value", "low", "high", "n"}
    assert (out[["dataset", "split"]].iloc[0] == "all").all()
    np.testing.assert_allclose(out["value"], 1.0)
    assert out["n"].tolist() == [200, 50, 50, 50, 50]


def test_unknown_metric_lists_valid():
    with pytest.raises(ValueError, match="cka_debiased"):
        get_metric("cosine")


def test_mismatched_rows_rejected():
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(np.zeros((5, 2)), np.zeros((6, 2)))


def test_non_finite_rejected():
    a = np.ones((5, 2))
    a[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(a, a)


def test_grouped_similarity_row_mismatch_rejected(x):
    with pytest.raises(ValueError, match="same number of rows"):
        grouped_similarity({"a": x, "b": x}, pd.DataFrame({"split": ["iid"] * 10}))


def test_linear_cka_is_one_for_rotations_and_scalings_and_low_for_independent_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(200, 8))) < 0.15


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_of_identical_inputs_is_one_and_symmetric(x, debiased):
    y = np.tanh(x[:, :5]) + 0.1 * np.random.default_rng(8).normal(size=(200, 5))
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(
        linear_cka(y, x, debiased=debiased), rel=1e-12
    )


def test_plain_cka_is_the_closed_form_the_training_probe_logged(x):
    """||Y^T X||^2 / (||X^T X|| ||Y^T Y||) on centred inputs, bit for bit, so metrics.jsonl values repeat."""
    y = x[:, :6] ** 2
    xc, yc = x - x.mean(axis=0, keepdims=True), y - y.mean(axis=0, keepdims=True)
    cross = np.linalg.norm(yc.T @ xc, ord="fro") ** 2
    norm = np.linalg.norm(xc.T @ xc, ord="fro") * np.linalg.norm(yc.T @ yc, ord="fro")
    assert linear_cka(x, y) == float(cross / norm)


def test_constant_representation_gives_zero_cka():
    assert np.isfinite(linear_cka(np.ones((3, 2)), np.ones((3, 2))))
    assert linear_cka(np.ones((3, 2)), np.ones((3, 2))) == 0.0


def test_mean_abs_pearson_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    y[:, 0] = -2 * x[:, 0]
    expected = np.mean([abs(np.corrcoef(x[:, j], y[:, j])[0, 1]) for j in range(4)])
    assert paired_mean_abs_correlation(x, y) == pytest.approx(expected)
    assert paired_mean_abs_correlation(x, x) == pytest.approx(1.0)


def test_paired_correlation_leaves_constant_features_out_where_the_summary_counts_them_as_zero():
    a = np.random.default_rng(9).normal(size=(100, 2))
    b = np.column_stack([a[:, 0], np.ones(100)])  # identical, constant
    assert paired_mean_abs_correlation(a, b) == pytest.approx(1.0)
    assert correlation_summary(a, b).paired_mean_abs == pytest.approx(0.5)
    assert paired_mean_abs_correlation(a[:1], b[:1]) == 0.0
