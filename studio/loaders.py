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
from studio.text import plain


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


def model(files: CheckpointFiles, device: str, precision: str = "fp32"):
    """The checkpoint's ICLMForCausalLM in eval mode on `device`, for live runs in `precision` (a bf16 model
    keeps its Linear weights in bf16 and must run under bf16 autocast, as `state.run_live` does); cached per
    folder, device and precision."""
    return _model(str(files.folder), device, precision, _mtime(files.folder / "config.json"))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _model(folder: str, device: str, precision: str, _mtime: float):
    from studio import torch_lane

    # Loading runs torch ops too: on the lane, so the script's pooled thread keeps no OpenMP team.
    return torch_lane.run(_load_model, folder, device, precision)


def _load_model(folder: str, device: str, precision: str):
    import iclm.model  # noqa: F401  (registers the iclm model type)
    from analysis.precision import store_linear_weights_in_bf16
    from iclm.model import ICLMForCausalLM

    loaded = ICLMForCausalLM.from_pretrained(folder)
    loaded.name_or_path = folder  # analysis.predict.default_max_length reads training_config.json there
    loaded.to(device).eval()
    if precision == "bf16":
        store_linear_weights_in_bf16(loaded)
    _warm_up(loaded, device, precision)
    return loaded


def _warm_up(model, device: str, precision: str) -> None:
    """One short attribution (forward + backward): PyTorch's first backward in a process pays for its
    set-up, which the user's first click would otherwise pay."""
    from analysis.attribution import attribute
    from analysis.precision import autocast

    with autocast(device, precision):
        attribute(model, model.tokenizer, "Warm-up: the first backward sets up autograd.", method="saliency")


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


def module_states(files: CheckpointFiles, rows: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pooled module states of the artifact and the matching example rows.

    rows="forced": the forced sample, every module (invariant + each domain_k forced) on the same M rows;
    rows="routed": all N examples, the invariant module and the routed domain module ("domain").
    """
    art = artifact(files)
    examples = art.examples
    if rows == "routed":
        states = {name: art.states[name] for name in ("invariant", "domain") if name in art.states}
        return states, examples
    index = art.states["forced_index"].astype("int64")
    names = [m for m in art.manifest.get("modules", []) if m == "invariant" or m.startswith("domain_")]
    states = {}
    for name in names:
        key = "invariant" if name == "invariant" else f"forced_{name}"
        if key in art.states:
            states[name] = art.states[key][index] if name == "invariant" else art.states[key]
    return states, examples.iloc[index].reset_index(drop=True)


@st.cache_data(show_spinner="Bootstrapping similarities…", max_entries=32)
def grouped_similarity(folder: str, _mtime: float, metric: str, n_boot: int, _files: CheckpointFiles):
    """`analysis.similarity.grouped_similarity` of invariant vs routed domain per dataset and split."""
    from analysis.similarity import grouped_similarity as compute

    states, examples = module_states(_files, "routed")
    return compute(states, examples[["dataset", "split"]], metric=metric, n_boot=n_boot)


@st.cache_data(show_spinner="Estimating mutual information…", max_entries=32)
def mi_table(folder: str, _mtime: float, n_boot: int, _files: CheckpointFiles) -> pd.DataFrame:
    """MI (invariant vs routed domain) by every estimator, overall and per split, with bootstrap CIs."""
    from iclm.metrics.information import ESTIMATORS, estimate_mi

    states, examples = module_states(_files, "routed")
    rows = []
    for scope in ["all", *sorted(examples["split"].unique())]:
        mask = (examples["split"] == scope).to_numpy() if scope != "all" else slice(None)
        x, y = states["invariant"][mask], states["domain"][mask]
        if len(x) < 4:
            continue
        for name in ESTIMATORS:
            result = estimate_mi(x, y, estimator=name, n_boot=n_boot)
            est = result.estimate
            rows.append(
                {
                    "split": scope,
                    "estimator": name,
                    "mi": est.value,
                    "low": est.low,
                    "high": est.high,
                    "n": result.n,
                }
            )
    return pd.DataFrame(rows)


def require_model(files: CheckpointFiles, device: str, precision: str = "fp32"):
    """The model, or an st.error with the engine's message (missing/mismatched file) and a stopped page."""
    from iclm.checkpoint import CheckpointError as EngineError

    try:
        return model(files, device, precision)
    except (EngineError, OSError, ValueError, RuntimeError) as exc:
        st.error(f"Cannot load the model of {plain(files.name)}: {plain(exc)}")
        st.stop()


def examples(files: CheckpointFiles) -> list:
    """The artifact's examples as `iclm.data.Example`s, with their choices re-read from the data files
    named in the manifest when those files still exist (else prompt + gold only, scored greedily)."""
    art = artifact(files)
    if art is None:
        return []
    return _examples(str(files.artifact), _mtime(files.artifact / "manifest.json"), art)


@st.cache_resource(show_spinner=False, max_entries=8)
def _examples(folder: str, _mtime: float, _art) -> list:
    from iclm.data import Example, load_examples

    by_id = {}
    for entry in _art.manifest.get("data", []):
        path = Path(entry.get("path", ""))
        if path.is_file():
            for example in load_examples(
                path, dataset=entry.get("dataset"), split=entry.get("split")
            ).examples:
                by_id[example.id] = example
    out = []
    for row in _art.examples.itertuples(index=False):
        found = by_id.get(row.id)
        if found is None:
            found = Example(id=row.id, prompt=row.prompt, answer=str(row.gold), choices=None,
                            dataset=row.dataset, split=row.split)  # fmt: skip
        out.append(found)
    return out


def fitted_projection(files: CheckpointFiles, space: str, method: str):
    """A transformable projection (`studio.placement.FittedProjection`) of one artifact state."""
    art = artifact(files)
    return _fitted(str(files.artifact), _mtime(files.artifact / "manifest.json"), space, method, art)


@st.cache_resource(show_spinner="Fitting the projection…", max_entries=16)
def _fitted(folder: str, _mtime: float, space: str, method: str, _art):
    from studio.placement import fit

    return fit(_art.states[space], method)
