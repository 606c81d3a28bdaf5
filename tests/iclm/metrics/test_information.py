"""Tests for iclm/metrics/information.py and its estimators (Gaussians of known MI, independence, the paper's
estimator, CIs, the registry) and analysis/information.py (the MI matrix)."""

import numpy as np
import pytest
import torch

from analysis.information import mi_matrix
from iclm.metrics.arrays import first_component
from iclm.metrics.batch import batch_mi_value
from iclm.metrics.binned import binned_mi, default_bins
from iclm.metrics.information import ESTIMATORS, estimate_mi, get_estimator
from iclm.metrics.ksg import MIN_ROWS, ksg_dims, ksg_mi, ksg_mi_first_pcs
from iclm.mi import batch_mi

RHO = 0.8
TRUE_MI = -0.5 * np.log(1 - RHO**2)  # 0.5108 nats


@pytest.fixture(scope="module")
def gaussian() -> tuple[np.ndarray, np.ndarray]:
    z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=4000)
    return z[:, 0], z[:, 1]


@pytest.fixture(scope="module")
def independent() -> tuple[np.ndarray, np.ndarray]:
    z = np.random.default_rng(1).normal(size=(4000, 2))
    return z[:, 0], z[:, 1]


@pytest.mark.parametrize("fn", [ksg_mi, binned_mi])
def test_correlated_gaussian_within_ten_percent(gaussian, fn):
    assert fn(*gaussian) == pytest.approx(TRUE_MI, rel=0.10)


@pytest.mark.parametrize("fn", [ksg_mi, binned_mi])
def test_independent_near_zero(independent, fn):
    assert abs(fn(*independent)) < 0.02


def test_ksg_multivariate_gaussian():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 3))
    y = x + rng.normal(size=(3000, 3))  # three independent channels of SNR 1: MI = 3 * 0.5 * log 2
    assert ksg_mi(x, y) == pytest.approx(1.5 * np.log(2), rel=0.10)


def test_ksg_pca_reduction_of_wide_states():
    rng = np.random.default_rng(3)
    z = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=3000)
    mix = rng.normal(size=(1, 32))  # one informative direction spread over 32 features + small noise
    x = z[:, :1] @ mix + 0.01 * rng.normal(size=(3000, 32))
    y = z[:, 1:] @ mix + 0.01 * rng.normal(size=(3000, 32))
    assert ksg_mi(x, y, pca_dims=1) == pytest.approx(TRUE_MI, rel=0.10)
    assert binned_mi(x, y) == pytest.approx(TRUE_MI, rel=0.10)


@pytest.mark.parametrize("n", [5, 6, 7, 8])
def test_ksg_on_fewer_rows_than_components_keeps_n_minus_one(n):
    """Wide states of 5-8 examples: sklearn refused 8 components of fewer rows (the studio's Module
    correlation crashed on a split of 4-7 examples); n - 1, the rank of n centred rows, are kept."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 32))
    assert ksg_dims(n, 32) == n - 1 and ksg_dims(n, 3) == min(3, n - 1) and ksg_dims(100, 32) == 8
    assert np.isfinite(ksg_mi(x, x + 0.1 * rng.normal(size=(n, 32))))


def test_ksg_below_its_minimum_rows_names_the_minimum():
    with pytest.raises(ValueError, match=f"need at least {MIN_ROWS} rows"):
        ksg_mi(np.zeros((MIN_ROWS - 1, 4)), np.zeros((MIN_ROWS - 1, 4)))


def test_binned_bin_rule():
    assert default_bins(2000) == 20
    assert default_bins(10) == 2
    assert default_bins(10**7) == 64


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_bootstrap_ci_contains_value_and_is_seeded(gaussian, estimator):
    x = np.column_stack([gaussian[0][:600], -gaussian[0][:600]])
    y = np.column_stack([gaussian[1][:600], gaussian[1][:600] ** 2])
    a = estimate_mi(x, y, estimator, n_boot=30, seed=5)
    b = estimate_mi(x, y, estimator, n_boot=30, seed=5)
    assert a == b
    assert a.estimate.low <= a.estimate.value <= a.estimate.high
    assert a.estimator == estimator and a.n == 600


def test_ksg_ci_covers_truth(gaussian):
    result = estimate_mi(*gaussian, "ksg", n_boot=200)
    assert result.estimate.low < TRUE_MI < result.estimate.high


def test_batch_estimator_reuses_iclm_mi():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 8))
    y = x + 0.5 * rng.normal(size=(64, 8))
    expected = float(batch_mi(torch.from_numpy(x), torch.from_numpy(y)))
    assert batch_mi_value(x, y) == pytest.approx(expected)
    assert batch_mi_value(x, y) > batch_mi_value(x, rng.normal(size=(64, 8)))


def test_unknown_estimator_lists_valid(gaussian):
    with pytest.raises(ValueError, match=r"\['batch', 'ksg', 'binned'\]"):
        estimate_mi(*gaussian, "kde")


def test_row_mismatch_rejected():
    with pytest.raises(ValueError, match="same number of rows"):
        ksg_mi(np.zeros(10), np.zeros(11))


def test_too_few_bins_rejected(gaussian):
    with pytest.raises(ValueError, match="bins must be >= 2"):
        binned_mi(*gaussian, bins=1)


def test_non_finite_rejected():
    x = np.arange(10.0)
    x[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        binned_mi(x, np.arange(10.0))


def test_mi_matrix_symmetric_and_ordered(gaussian, independent):
    states = {"invariant": gaussian[0], "domain_0": gaussian[1], "domain_1": independent[0]}
    m = mi_matrix(states, "binned")
    assert list(m.index) == list(m.columns) == list(states)
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
    assert m.loc["invariant", "domain_0"] == pytest.approx(TRUE_MI, rel=0.10)
    assert abs(m.loc["invariant", "domain_1"]) < 0.02


def test_mi_matrix_unknown_estimator_rejected(gaussian):
    with pytest.raises(ValueError, match="estimator"):
        mi_matrix({"a": gaussian[0]}, "mine")


def test_ksg_mi_is_high_for_dependent_and_near_zero_for_independent_states():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)) * np.array([5.0, 1, 1, 1, 1, 1])  # a dominant first component
    dependent = ksg_mi_first_pcs(x, 2 * x + 0.1 * rng.normal(size=(300, 6)))
    independent = ksg_mi_first_pcs(x, rng.normal(size=(300, 6)))
    assert dependent > 0.5 and independent < 0.1


def test_first_pcs_ksg_is_zero_for_tiny_or_constant_inputs():
    rng = np.random.default_rng(5)
    assert ksg_mi_first_pcs(rng.normal(size=(4, 3)), rng.normal(size=(4, 3))) == 0.0
    assert ksg_mi_first_pcs(np.ones((50, 3)), rng.normal(size=(50, 3))) == 0.0


def test_first_component_raw_follows_variance_standardised_follows_correlation():
    rng = np.random.default_rng(6)
    shared = rng.normal(size=500)
    z = np.column_stack([10 * rng.normal(size=500), shared, shared + 0.1 * rng.normal(size=500)])
    raw = first_component(z, standardised=False)
    scaled = first_component(z, seed=0)
    assert abs(np.corrcoef(raw, z[:, 0])[0, 1]) > 0.99  # the loud but lonely feature
    assert abs(np.corrcoef(scaled, shared)[0, 1]) > 0.99  # the two correlated features


def test_registry_values_are_the_estimator_functions(gaussian):
    x, y = gaussian[0][:300], gaussian[1][:300]
    assert get_estimator("ksg").value(x, y, seed=2, k=4) == ksg_mi(x, y, k=4, seed=2)
    assert get_estimator("binned").value(x, y, seed=2, bins=6) == binned_mi(x, y, bins=6, seed=2)
    xs, ys = np.column_stack([x, -x]), np.column_stack([y, y])
    assert get_estimator("batch").value(xs, ys, seed=2) == batch_mi_value(xs, ys)


def test_registry_unknown_name_lists_valid():
    with pytest.raises(ValueError, match=r"estimator='kde' is invalid; choose one of \["):
        get_estimator("kde")
    with pytest.raises(ValueError, match=r"\['batch', 'ksg', 'binned'\]"):
        mi_matrix({"a": np.zeros(10)}, "mine")
