"""Mutual information between named modules as a table: the module x module MI matrix.

The estimators (``batch``, ``ksg``, ``binned``), their registry and bootstrap intervals are
`iclm.metrics.information`, shared with the training probes; this module adds the DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iclm.metrics.information import Estimator, get_estimator


def mi_matrix(
    states: dict[str, np.ndarray], estimator: Estimator = "ksg", seed: int = 0, **kwargs
) -> pd.DataFrame:
    """Symmetric module x module MI (nats) between named states (each (N, D_m), rows aligned).

    The diagonal is the module's MI with itself (large for ``ksg``; finite for ``binned`` and ``batch``).
    ``batch`` needs equal widths D for every pair.
    """
    fn = get_estimator(estimator)
    if not states:
        raise ValueError("states is empty: pass at least one named (N, D) array")
    names = list(states)
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="module"), columns=pd.Index(names, name="module"))
    for i, a in enumerate(names):
        for b in names[i:]:
            out.loc[a, b] = out.loc[b, a] = fn.value(states[a], states[b], seed=seed, **kwargs)
    return out
