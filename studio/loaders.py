"""Cached loaders: everything a page reads from disk or builds once goes through here.

Each loader only wraps `st.cache_*` around a function that lives below it (`studio.checkpoints`,
`analysis.*`, `iclm.*`): which artifact tensor means what, how an MI table is computed and how a model is
made ready for live runs are decided there, not here. `st.cache_resource` holds shared heavy objects
(models, artifacts, fitted projections) without copying them; `st.cache_data` holds small JSON-derived
values. Every key includes the file's modification time so a re-trained or re-analysed checkpoint is picked
up without restarting the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from studio.checkpoints import CheckpointError, CheckpointFiles, folder_path, inspect, read_json_object
from studio.text import plain


def _mtime(path: Path | str | None) -> float:
    try:
        return Path(path).stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


def inspect_checkpoint(folder: str) -> CheckpointFiles:
    """`studio.checkpoints.inspect` plus the engine's own config validation (its message on failure); a
    typed path with a NUL byte, thousands of characters or a symlink loop is a CheckpointError too."""
    path = folder_path(folder)
    # the folder's and its part folders' mtimes change when a part appears (an evaluation or analysis run
    # while the studio is open), so a cached listing never hides it
    stamps = tuple(_mtime(p) for p in (path / "config.json", path, path / "eval", path / "eval-parent"))
    return _inspect(str(path), stamps)


@st.cache_data(show_spinner=False, max_entries=64)
def _inspect(folder: str, stamps: tuple[float, ...]) -> CheckpointFiles:  # stamps: in the cache key
    from iclm.checkpoint import read_config

    files = inspect(folder)
    read_config(Path(folder))  # CheckpointError (the same class studio.checkpoints raises) naming the file
    return files


def results(files: CheckpointFiles) -> dict[str, Any] | None:
    """eval/results.json of a checkpoint, or None when it has none; JsonFileError naming the file when it
    is not a results.json (`iclm.evaluation.report.load_results`)."""
    return None if files.results is None else _results(str(files.results), _mtime(files.results))


@st.cache_data(show_spinner=False, max_entries=64)
def _results(path: str, mtime: float) -> dict[str, Any]:
    from iclm.evaluation.report import load_results

    return load_results(path)


@st.cache_data(show_spinner=False, max_entries=64)
def _json(path: str, what: str, mtime: float) -> dict[str, Any]:
    return read_json_object(Path(path), what)


def json_object(path: Path, what: str) -> dict[str, Any]:
    """A small JSON object file of a checkpoint, e.g. training_config.json (cached until the file changes);
    CheckpointError naming the file when it is unreadable or not an object."""
    return _json(str(path), what, _mtime(path))


def metrics(files: CheckpointFiles) -> list[dict[str, Any]]:
    """Records of metrics.jsonl (empty when the checkpoint has no training log); JsonFileError when the
    file cannot be read at all."""
    log = metrics_log(files)
    return [] if log is None else log.records


def metrics_log(files: CheckpointFiles):
    """metrics.jsonl as read (`iclm.training.metrics_log.MetricsLog`: records and the lines skipped), or
    None when the checkpoint has no training log."""
    return None if files.metrics is None else _metrics(str(files.metrics), _mtime(files.metrics))


def training_log(folder: Path):
    """(CheckpointFiles, `metrics_log`) of another listed checkpoint, for overlays; CheckpointError or
    JsonFileError naming the file when its config or log cannot be read."""
    run = inspect_checkpoint(str(folder))
    return run, metrics_log(run)


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(path: str, mtime: float):
    from iclm.training.metrics_log import read_metrics_log

    return read_metrics_log(path)


def artifact(files: CheckpointFiles):
    """The analysis artifact (`analysis.collect.Artifact`) or None when the checkpoint has none."""
    if files.artifact is None:
        return None
    manifest = files.artifact / "manifest.json"
    return _artifact(str(files.artifact), _mtime(manifest))


@st.cache_resource(show_spinner="Loading the analysis artifact…", max_entries=8)
def _artifact(folder: str, mtime: float):
    from analysis.collect import load_artifact

    return load_artifact(folder)


def model(files: CheckpointFiles, device: str, precision: str = "fp32"):
    """The checkpoint's ICLMForCausalLM in eval mode on `device`, for live runs in `precision` (a bf16 model
    keeps its Linear weights in bf16 and must run under bf16 autocast, as `state.run_live` does); cached per
    folder, device and precision."""
    return _model(str(files.folder), device, precision, _mtime(files.folder / "config.json"))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _model(folder: str, device: str, precision: str, mtime: float):
    from studio import torch_lane

    # Loading runs torch ops too: on the lane, so the script's pooled thread keeps no OpenMP team.
    return torch_lane.run(_load_model, folder, device, precision)


def _load_model(folder: str, device: str, precision: str):
    from analysis.live_model import load_live_model

    return load_live_model(folder, device, precision)


def projection(files: CheckpointFiles, space: str, method: str, seed: int = 0, params: tuple = ()):
    """2-D projection (`analysis.projection.Projection`) of one artifact state, e.g. router embeddings;
    `params`: (name, value) pairs of the method's parameters (t-SNE perplexity, UMAP n_neighbors)."""
    art = artifact(files)
    return _projection(
        str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, seed, params, art
    )


@st.cache_resource(show_spinner="Projecting…", max_entries=32)
def _projection(folder: str, mtime: float, space: str, method: str, seed: int, params: tuple, _art):
    from analysis.projection import project

    return project(
        _art.states[space], method, seed=seed, params=dict(params) or None, cache_dir=projection_cache_dir()
    )


def projection_at_once(files: CheckpointFiles, space: str, method: str, seed: int = 0, params: tuple = ()):
    """The projection if it needs no fit in the background: PCA (computed here, sub-second), or a UMAP /
    t-SNE already in the disk cache; None otherwise (`projection_job` fits it)."""
    if method == "pca":
        return projection(files, space, method, seed, params)
    from analysis.projection import cached_projection

    states = artifact(files).states[space]
    return cached_projection(states, method, seed=seed, params=dict(params), cache_dir=projection_cache_dir())


def _worker_job(key: tuple, label: str, call, restart: bool):
    """A one-step job (`studio.jobs`) running `call(poll)` in the projection worker: Cancel, checked at
    every poll, ends the worker at once. A cancelled or failed job is returned as it is (the page says so)
    unless `restart`."""
    from studio.jobs import JOBS

    found = JOBS.get(key)
    if found is not None and found.status in ("cancelled", "failed") and not restart:
        return found

    def work(progress):
        progress(0, 1)
        result = call(lambda: progress(0, 1))
        progress(1, 1)
        return result

    return JOBS.submit(key, label, work)


def projection_job(
    files: CheckpointFiles, space: str, method: str, seed: int = 0, params: tuple = (), restart: bool = False
):
    """A job fitting a UMAP / t-SNE in the projection worker process (`studio.projection_worker`); its
    result is an `analysis.projection.Projection`, and the fit lands in the disk cache for every later run."""
    from studio.projection_worker import WORKER

    states = artifact(files).states[space]
    key = ("projection", str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, seed)
    label = f"{method.upper()} of {space} ({len(states)} points)"
    cache = projection_cache_dir()
    fit = lambda poll: WORKER.fit(  # noqa: E731
        states, method, seed=seed, params=dict(params), cache_dir=cache, poll=poll
    )
    return _worker_job(key + (params,), label, fit, restart)


def placement_job(files: CheckpointFiles, space: str, method: str, points, restart: bool = False):
    """A job placing `points` (M, D) of `space` on the artifact's fitted `method` map in the projection
    worker (Custom prompts' UMAP: a fit of minutes the first time, then a transform); its result is
    (reference coords, points' coords). Keyed by the points' bytes, so the same prompts reuse it."""
    import hashlib

    import numpy as np

    from studio.projection_worker import WORKER

    states = artifact(files).states[space]
    points = np.ascontiguousarray(points, dtype=np.float32)
    digest = hashlib.sha256(points.tobytes()).hexdigest()
    key = ("placement", str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, digest)
    label = f"{method.upper()} of {space} ({len(states)} points) with {len(points)} prompt(s) placed"
    place = lambda poll: WORKER.place(states, points, method, poll=poll)  # noqa: E731
    return _worker_job(key, label, place, restart)


def task_and_rendering(files: CheckpointFiles):
    """`analysis.neighbours.task_and_rendering` of the artifact's prompts (cached with the artifact)."""
    return _task_and_rendering(str(files.artifact), _mtime(files.artifact / "manifest.json"), artifact(files))


@st.cache_data(show_spinner=False, max_entries=8)
def _task_and_rendering(folder: str, mtime: float, _art):
    from analysis.neighbours import task_and_rendering as detect

    return detect(_art.examples["prompt"])


def projection_cache_dir() -> Path:
    """Where fitted projections are cached on disk (the user's cache, never the checkpoint folder)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iclm-studio" / "projections"


def module_states(files: CheckpointFiles, rows: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """`analysis.artifact_states.module_states` of the checkpoint's (cached) artifact."""
    from analysis.artifact_states import module_states as states_of

    return states_of(artifact(files), rows)


@st.cache_data(show_spinner="Bootstrapping similarities…", max_entries=32)
def grouped_similarity(folder: str, mtime: float, metric: str, n_boot: int, _files: CheckpointFiles):
    """`analysis.artifact_states.routed_similarity`: invariant vs routed domain per dataset and split."""
    from analysis.artifact_states import routed_similarity

    return routed_similarity(artifact(_files), metric=metric, n_boot=n_boot)


@st.cache_data(show_spinner="Estimating mutual information…", max_entries=32)
def mi_table(folder: str, mtime: float, n_boot: int, _files: CheckpointFiles) -> pd.DataFrame:
    """`analysis.artifact_states.routed_mi`: invariant vs routed domain MI, every estimator, per split."""
    from analysis.artifact_states import routed_mi

    return routed_mi(artifact(_files), n_boot=n_boot)


def require_model(files: CheckpointFiles, device: str, precision: str = "fp32"):
    """The model, or an st.error with the engine's message (missing/mismatched file) and a stopped page."""
    from studio.errors import describe

    try:
        return model(files, device, precision)
    except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
        st.error(f"Cannot load the model of {plain(files.name)}: {describe(exc, files.folder)}")
        st.stop()


def examples(files: CheckpointFiles) -> list:
    """The artifact's examples as `iclm.data.Example`s, with their choices re-read from the data files
    named in the manifest when those files still exist (else prompt + gold only, scored greedily)."""
    art = artifact(files)
    if art is None:
        return []
    return _examples(str(files.artifact), _mtime(files.artifact / "manifest.json"), art)


@st.cache_resource(show_spinner=False, max_entries=8)
def _examples(folder: str, mtime: float, _art) -> list:
    from analysis.artifact_states import artifact_examples

    return artifact_examples(_art)


def fitted_projection(files: CheckpointFiles, space: str, method: str):
    """A transformable projection (`studio.placement.FittedProjection`) of one artifact state."""
    art = artifact(files)
    return _fitted(str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, art)


@st.cache_resource(show_spinner="Fitting the projection…", max_entries=16)
def _fitted(folder: str, mtime: float, space: str, method: str, _art):
    from studio.placement import fit

    return fit(_art.states[space], method)
