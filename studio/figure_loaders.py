"""Cached loaders of the figures' statistics (beside `studio.loaders`, which holds the file readers).

Each wraps `st.cache_data` around a function of `analysis/`, keyed by the files' modification times so a
re-evaluated or re-analysed checkpoint is picked up without restarting the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from studio.checkpoints import CheckpointFiles


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


def results(files: CheckpointFiles) -> dict[str, Any] | None:
    """eval/results.json with 95% Wilson intervals, chance and majority (`analysis.accuracy.with_statistics`:
    completed from predictions.jsonl when it predates them), or None without an evaluation; JsonFileError
    naming the file when either cannot be read."""
    if files.results is None:
        return None
    return _results(
        str(files.results), _mtime(files.results), str(files.predictions or ""), _mtime(files.predictions)
    )


def checkpoint_results(folder: Path) -> tuple[str, dict[str, Any]]:
    """(name, `results`) of another listed checkpoint with an evaluation, for the comparisons;
    CheckpointError or JsonFileError naming the file when its config or results cannot be read."""
    from studio import loaders

    other = loaders.inspect_checkpoint(str(folder))
    return other.name, results(other)


@st.cache_data(show_spinner=False, max_entries=32)
def _results(path: str, mtime: float, predictions: str, predictions_mtime: float) -> dict[str, Any]:
    from analysis.accuracy import read_predictions, with_statistics
    from iclm.evaluation.report import load_results

    written = load_results(path)  # JsonFileError naming the file when it is not a results.json
    return with_statistics(written, read_predictions(predictions) if predictions else None)


@st.cache_data(show_spinner="Estimating mutual information…", max_entries=32)
def mi_report(folder: str, mtime: float, scope: str, n_boot: int, _files: CheckpointFiles) -> pd.DataFrame:
    """`analysis.mi_report.mi_report` of invariant vs routed domain for the examples of `scope`."""
    from analysis.mi_report import mi_report as compute
    from studio import loaders

    states, examples = loaders.module_states(_files, "routed")
    return compute(states["invariant"], states["domain"], examples, scope, n_boot=n_boot)
