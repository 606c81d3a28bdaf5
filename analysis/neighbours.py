"""Linked views' helpers: each analysed example's task and rendering read from its prompt, and the nearest
neighbours of an example in a router space (full dimension, not the 2-D projection)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iclm.data.profile import detect_task


def task_and_rendering(prompts: pd.Series) -> pd.DataFrame:
    """Columns task ("acre", "raven", "pvr", "unknown") and rendering ("text", "symbolic", "") detected
    from each prompt by the task parsers (`iclm.data.profile.detect_task`), not from file names."""
    found = [detect_task(str(p)) for p in prompts]
    return pd.DataFrame(
        {"task": [t for t, _ in found], "rendering": [r or "-" for _, r in found]}, index=prompts.index
    )


def nearest_neighbours(states: np.ndarray, ids: list[str], example_id: str, k: int = 10) -> pd.DataFrame:
    """The `k` examples nearest to `example_id` by Euclidean distance in `states` (N, D), nearest first,
    the example itself left out: columns id, distance, rank."""
    if example_id not in ids:
        raise ValueError(f"example {example_id!r} is not among the {len(ids)} analysed examples")
    x = np.asarray(states, dtype=np.float64)
    index = ids.index(example_id)
    distances = np.linalg.norm(x - x[index], axis=1)
    distances[index] = np.inf
    order = np.argsort(distances, kind="stable")[: max(0, min(k, len(ids) - 1))]
    return pd.DataFrame(
        {"id": [ids[i] for i in order], "distance": distances[order], "rank": np.arange(1, len(order) + 1)}
    )
