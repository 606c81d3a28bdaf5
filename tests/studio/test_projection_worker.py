"""The projection worker process: the same projection as in-process, errors as one line, and a cancel that
ends the process at once (the cores go idle), after which the next fit starts a new one."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis.projection import cached_projection, fit_projection, project
from studio.jobs import Cancelled
from studio.projection_worker import ProjectionWorker


@pytest.fixture
def worker():
    found = ProjectionWorker()
    yield found
    found.close()


def _points(n: int = 60, d: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(0, 1, (n // 2, d)), rng.normal(6, 1, (n - n // 2, d))]).astype(
        np.float32
    )


def test_a_fit_in_the_worker_equals_the_fit_here_and_lands_in_the_cache(worker, tmp_path):
    x = _points()
    here = project(x, "tsne", seed=3, params={"perplexity": 10.0})
    there = worker.fit(x, "tsne", seed=3, params={"perplexity": 10.0}, cache_dir=tmp_path)
    np.testing.assert_allclose(there.coords, here.coords, atol=1e-4)
    assert there.params == here.params and not there.from_cache
    cached = cached_projection(x, "tsne", seed=3, params={"perplexity": 10.0}, cache_dir=tmp_path)
    assert cached is not None and cached.from_cache
    np.testing.assert_array_equal(cached.coords, there.coords)
    assert cached_projection(x, "tsne", seed=4, params={"perplexity": 10.0}, cache_dir=tmp_path) is None
    again = worker.fit(x, "tsne", seed=3, params={"perplexity": 10.0}, cache_dir=tmp_path)
    assert again.from_cache and worker.started == 1  # one process serves every fit


def test_placing_points_in_the_worker_equals_fit_and_transform_here(worker):
    """Custom prompts' placement: the reference's fitted coords and the new points' transform, as
    `fit_projection` gives them in-process; exact for PCA."""
    x, new = _points(), _points(4) + 0.5
    fitted = fit_projection(x, "pca", seed=2)
    reference, placed = worker.place(x, new, "pca", seed=2)
    np.testing.assert_allclose(reference, fitted.coords, atol=1e-5)
    np.testing.assert_allclose(placed, fitted.transform(new), atol=1e-5)
    assert placed.shape == (4, 2)


def test_the_worker_is_niced_below_the_server(worker):
    import os

    worker.fit(_points(), "pca")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, mine + 10)


def test_a_bad_request_is_one_line_and_the_worker_goes_on(worker):
    with pytest.raises(ValueError, match="params \\['bogus'\\] are not valid for method='tsne'"):
        worker.fit(_points(), "tsne", params={"bogus": 1})
    assert worker.fit(_points(), "pca").coords.shape == (60, 2)


def test_cancel_ends_the_worker_at_once_and_the_next_fit_starts_a_new_one(worker):
    x = np.random.default_rng(1).normal(size=(3000, 50)).astype(np.float32)  # a t-SNE of tens of seconds
    started = time.monotonic()
    calls = []

    def poll():
        calls.append(time.monotonic())
        if time.monotonic() - started > 1.0:
            raise Cancelled

    with pytest.raises(Cancelled):
        worker.fit(x, "tsne", poll=poll)
    assert time.monotonic() - started < 4.0  # the poll period (0.1 s) plus terminating the process
    assert not worker.alive() and len(calls) >= 5
    assert worker.fit(_points(), "pca").coords.shape == (60, 2)
    assert worker.started == 2
