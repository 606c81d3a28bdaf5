"""Tests for analysis/projection.py: shapes, seeding, disk cache, validation."""

import numpy as np
import pytest

from analysis import projection
from analysis.projection import METHODS, cache_key, project


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(3, 64))
    return (centres[rng.integers(0, 3, size=90)] + rng.normal(size=(90, 64))).astype(np.float32)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_shapes_and_seeding(x, method):
    a = project(x, method, seed=1)
    b = project(x, method, seed=1)
    assert a.coords.shape == (90, 2) and a.coords.dtype == np.float32
    assert np.all(np.isfinite(a.coords))
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.method == method and not a.from_cache and a.seconds >= 0


def test_umap_seed_changes_result(x):
    a = project(x, "umap", seed=0, params={"n_neighbors": 10})
    b = project(x, "umap", seed=1, params={"n_neighbors": 10})
    assert not np.allclose(a.coords, b.coords)
    assert a.params == {"n_neighbors": 10, "min_dist": 0.1}


def test_pca_recovers_dominant_directions():
    rng = np.random.default_rng(1)
    x = np.zeros((100, 5))
    x[:, 0] = rng.normal(scale=10, size=100)
    x[:, 1] = rng.normal(scale=3, size=100)
    x[:, 2:] = rng.normal(scale=0.01, size=(100, 3))
    coords = project(x, "pca").coords
    assert abs(np.corrcoef(coords[:, 0], x[:, 0])[0, 1]) > 0.999
    assert abs(np.corrcoef(coords[:, 1], x[:, 1])[0, 1]) > 0.999


def test_cache_hit_returns_identical_coords_without_recomputing(x, tmp_path, monkeypatch):
    first = project(x, "tsne", seed=2, params={"perplexity": 8}, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("tsne-")

    def fail(*args, **kwargs):
        raise AssertionError("recomputed despite a cache hit")

    monkeypatch.setitem(projection.METHODS, "tsne", (fail, {"perplexity": 30.0}))
    second = project(x, "tsne", seed=2, params={"perplexity": 8}, cache_dir=tmp_path)
    assert second.from_cache
    np.testing.assert_array_equal(first.coords, second.coords)
    assert second.seconds == pytest.approx(first.seconds)
    assert second.params == first.params
    with pytest.raises(AssertionError, match="recomputed"):  # another seed is a different key
        project(x, "tsne", seed=3, params={"perplexity": 8}, cache_dir=tmp_path)


def test_cache_key_depends_on_data_method_params_seed(x):
    base = cache_key(x, "umap", {"n_neighbors": 15}, 0)
    y = x.copy()
    y[0, 0] += 1
    assert cache_key(x, "umap", {"n_neighbors": 15}, 0) == base
    others = [
        cache_key(y, "umap", {"n_neighbors": 15}, 0),
        cache_key(x, "tsne", {"n_neighbors": 15}, 0),
        cache_key(x, "umap", {"n_neighbors": 5}, 0),
        cache_key(x, "umap", {"n_neighbors": 15}, 1),
    ]
    assert base not in others and len(set(others)) == 4


def test_corrupt_cache_entry_is_recomputed(x, tmp_path):
    first = project(x, "pca", cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not an npz")
    again = project(x, "pca", cache_dir=tmp_path)
    assert not again.from_cache
    np.testing.assert_array_equal(first.coords, again.coords)


def test_unknown_method_lists_valid(x):
    with pytest.raises(ValueError, match=r"\['pca', 'tsne', 'umap'\]"):
        project(x, "isomap")


def test_unknown_param_rejected(x):
    with pytest.raises(ValueError, match="perplexity"):
        project(x, "tsne", params={"n_neighbors": 5})


def test_too_many_points_rejected():
    with pytest.raises(ValueError, match="20000"):
        project(np.zeros((20_001, 3)), "pca")


def test_one_dimensional_rejected():
    with pytest.raises(ValueError, match="2-D"):
        project(np.zeros(10), "pca")


def test_single_column_rejected():
    with pytest.raises(ValueError, match="at least 2 columns"):
        project(np.zeros((10, 1)), "pca")


def test_non_finite_rejected():
    x = np.ones((10, 3))
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        project(x, "pca")


# ---------------------------------------------------------------- fit_projection: placing new points
def _blobs(n: int = 40, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(2, d))
    return (centers[np.arange(n) % 2] + rng.normal(size=(n, d))).astype(np.float32)


def test_pca_transform_of_the_fitted_points_reproduces_their_coords():
    from analysis.projection import fit_projection

    x = _blobs()
    fitted = fit_projection(x, "pca", seed=0)
    assert fitted.coords.shape == (40, 2) and fitted.method == "pca"
    np.testing.assert_allclose(fitted.transform(x), fitted.coords, atol=1e-4)
    np.testing.assert_allclose(np.abs(fitted.coords), np.abs(project(x, "pca").coords), atol=1e-3)


def test_umap_transform_places_new_points_with_finite_2d_coords():
    from analysis.projection import fit_projection

    x = _blobs(d=64)  # > 50 columns: fitted on the first 50 principal components, as project does
    fitted = fit_projection(x, "umap", seed=0, params={"n_neighbors": 5})
    placed = fitted.transform(_blobs(n=5, d=64, seed=0)[:5] + 0.01)
    assert fitted.prereduce is not None and fitted.params["n_neighbors"] == 5
    assert placed.shape == (5, 2) and placed.dtype == np.float32 and np.isfinite(placed).all()


def test_tsne_cannot_place_new_points():
    from analysis.projection import fit_projection

    with pytest.raises(ValueError, match="tsne' cannot place new points"):
        fit_projection(_blobs(), "tsne")


def test_transform_with_the_wrong_width_is_named():
    from analysis.projection import fit_projection

    fitted = fit_projection(_blobs(), "pca")
    with pytest.raises(ValueError, match=r"x must be \(M, 8\)"):
        fitted.transform(np.zeros((2, 3), np.float32))
