"""Cached loaders: everything a page reads from disk or builds once goes through here.

`st.cache_resource` holds shared heavy objects (models, artifacts, fitted projections) without copying
them; `st.cache_data` holds small JSON-derived values. Every key includes the file's modification time
so a re-trained or re-analysed checkpoint is picked up without restarting the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from studio.checkpoints import CheckpointError, CheckpointFiles, inspect, read_json


def _mtime(path: Path | str | None) -> float:
    try:
        return Path(path).stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


def inspect_checkpoint(folder: str) -> CheckpointFiles:
    """`studio.checkpoints.inspect` plus the engine's own config validation (its message on failure)."""
    files = _inspect(
        str(Path(folder).expanduser().resolve()), _mtime(Path(folder).expanduser() / "config.json")
    )
    return files


@st.cache_data(show_spinner=False, max_entries=64)
def _inspect(folder: str, _config_mtime: float) -> CheckpointFiles:
    files = inspect(folder)
    from iclm.checkpoint import CheckpointError as EngineError
    from iclm.checkpoint import read_config

    try:
        read_config(Path(folder))
    except EngineError as exc:
        raise CheckpointError(str(exc)) from exc
    return files


def missing_weights(files: CheckpointFiles) -> list[str]:
    """Weight files the engine needs to load this checkpoint that the folder lacks (names only)."""
    from iclm.checkpoint import ADAPTERS_FILE, AGGREGATION_FILE, ROUTER_FILE

    needed = [ADAPTERS_FILE, ROUTER_FILE] + (
        [AGGREGATION_FILE] if files.config.get("variant") == "iclm" else []
    )
    return [name for name in needed if not (files.folder / name).is_file()]


def results(files: CheckpointFiles) -> dict[str, Any] | None:
    """eval/results.json of a checkpoint, or None when it has none."""
    return None if files.results is None else _json(str(files.results), _mtime(files.results))


@st.cache_data(show_spinner=False, max_entries=64)
def _json(path: str, _mtime: float) -> Any:
    return read_json(Path(path))


def json_file(path: Path) -> Any:
    """Any small JSON file of a checkpoint (cached until the file changes)."""
    return _json(str(path), _mtime(path))


def metrics(files: CheckpointFiles) -> list[dict[str, Any]]:
    """Records of metrics.jsonl (empty when the checkpoint has no training log)."""
    if files.metrics is None:
        return []
    return _metrics(str(files.metrics), _mtime(files.metrics))


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(path: str, _mtime: float) -> list[dict[str, Any]]:
    from iclm.training.metrics_log import read_metrics

    return read_metrics(path)


def artifact(files: CheckpointFiles):
    """The analysis artifact (`analysis.collect.Artifact`) or None when the checkpoint has none."""
    if files.artifact is None:
        return None
    manifest = files.artifact / "manifest.json"
    return _artifact(str(files.artifact), _mtime(manifest))


@st.cache_resource(show_spinner="Loading the analysis artifact…", max_entries=8)
def _artifact(folder: str, _mtime: float):
    from analysis.collect import load_artifact

    return load_artifact(folder)


def model(files: CheckpointFiles, device: str):
    """The checkpoint's ICLMForCausalLM in eval mode on `device`; cached per folder and device."""
    return _model(str(files.folder), device, _mtime(files.folder / "config.json"))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _model(folder: str, device: str, _mtime: float):
    import iclm.model  # noqa: F401  (registers the iclm model type)
    from iclm.model import ICLMForCausalLM

    loaded = ICLMForCausalLM.from_pretrained(folder)
    loaded.to(device).eval()
    return loaded


def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Training records as one flat table: nested dicts become `a/b` columns (e.g. `cka/domain_0`)."""
    return pd.json_normalize(records, sep="/") if records else pd.DataFrame()


def projection(files: CheckpointFiles, space: str, method: str, seed: int = 0):
    """2-D projection (`analysis.projection.Projection`) of one artifact state, e.g. router embeddings."""
    art = artifact(files)
    return _projection(
        str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, seed, art
    )


@st.cache_resource(show_spinner="Projecting…", max_entries=32)
def _projection(folder: str, _mtime: float, space: str, method: str, seed: int, _art):
    from analysis.projection import project

    return project(_art.states[space], method, seed=seed, cache_dir=projection_cache_dir())


def projection_cache_dir() -> Path:
    """Where fitted projections are cached on disk (the user's cache, never the checkpoint folder)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iclm-studio" / "projections"
