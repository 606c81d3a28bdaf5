"""Which examples a page's numbers are about: "all", "split: <s>" or "dataset: <d>".

One scope filters every number of a page (heatmap, tables, MI), so the page names the scope once and
every computation takes the same mask.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL = "all"


def scopes(examples: pd.DataFrame) -> list[str]:
    """The scopes of these example rows: all, each split, each dataset (sorted)."""
    found = [ALL] + [f"split: {s}" for s in sorted(examples["split"].unique())]
    return found + [f"dataset: {d}" for d in sorted(examples["dataset"].unique())]


def scope_mask(examples: pd.DataFrame, scope: str) -> np.ndarray:
    """Boolean mask (N,) of the rows in `scope`; ValueError for a scope of another form."""
    if scope == ALL:
        return np.ones(len(examples), dtype=bool)
    for prefix, column in (("split: ", "split"), ("dataset: ", "dataset")):
        if scope.startswith(prefix):
            return (examples[column] == scope.removeprefix(prefix)).to_numpy()
    raise ValueError(f"scope={scope!r} is invalid; use 'all', 'split: <name>' or 'dataset: <name>'")


def in_scope(frame: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Rows of a per-(dataset, split) table that belong to `scope` (a split's rows keep its datasets)."""
    if scope == ALL:
        return frame
    for prefix, column in (("split: ", "split"), ("dataset: ", "dataset")):
        if scope.startswith(prefix) and column in frame:
            return frame[frame[column] == scope.removeprefix(prefix)]
    return frame.iloc[0:0]
