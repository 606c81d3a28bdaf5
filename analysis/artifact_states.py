"""An analysis artifact read by meaning: the pooled module states of its forced sample or of every routed
example, with their rows; their similarity and MI tables; its examples as `iclm.data.Example`s.

The artifact's tensor names (`invariant`, `domain`, `forced_index`, `forced_domain_k`) and manifest keys are
`analysis.collect`'s: this module is the one reader that knows them, so the studio's loaders only cache.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from analysis.collect import Artifact

logger = logging.getLogger(__name__)
Rows = Literal["forced", "routed"]


def module_states(artifact: Artifact, rows: Rows) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Pooled module states {module: (M, H)} and the matching example rows (M of them).

    rows="forced": the forced sample, every module (invariant + each domain_k forced) on the same M rows;
    rows="routed": all N examples, the invariant module and the routed domain module ("domain").
    """
    if rows not in ("forced", "routed"):
        raise ValueError(f"rows={rows!r} is invalid; choose 'forced' or 'routed'")
    examples = artifact.examples
    if rows == "routed":
        states = {name: artifact.states[name] for name in ("invariant", "domain") if name in artifact.states}
        return states, examples
    index = artifact.states["forced_index"].astype("int64")
    modules = artifact.manifest.get("modules", [])
    names = [m for m in modules if m == "invariant" or m.startswith("domain_")]
    states = {}
    for name in names:
        key = "invariant" if name == "invariant" else f"forced_{name}"
        if key in artifact.states:
            states[name] = artifact.states[key][index] if name == "invariant" else artifact.states[key]
    return states, examples.iloc[index].reset_index(drop=True)


def routed_similarity(artifact: Artifact, metric: str, n_boot: int) -> pd.DataFrame:
    """`analysis.similarity.grouped_similarity` of the invariant vs the routed domain module per dataset and
    split (and overall), with bootstrap intervals."""
    from analysis.similarity import grouped_similarity

    states, examples = module_states(artifact, "routed")
    return grouped_similarity(states, examples[["dataset", "split"]], metric=metric, n_boot=n_boot)


def routed_mi(artifact: Artifact, n_boot: int) -> pd.DataFrame:
    """MI of the invariant vs the routed domain module by every estimator, overall and per split, with
    bootstrap intervals (`analysis.information.mi_by_split`)."""
    from analysis.information import mi_by_split

    states, examples = module_states(artifact, "routed")
    return mi_by_split(states["invariant"], states["domain"], examples["split"], n_boot=n_boot)


def artifact_examples(artifact: Artifact) -> list:
    """The artifact's examples as `iclm.data.Example`s in its row order, with their choices re-read from the
    data files named in the manifest when those files still exist (else prompt + gold only, which the
    studio scores greedily)."""
    from iclm.data import DataFileError, Example, load_examples

    by_id = {}
    for entry in artifact.manifest.get("data", []):
        path = Path(entry.get("path") or "")
        if not path.is_file():
            continue  # in-memory examples (path null) or a file since moved
        try:
            found = load_examples(path, dataset=entry.get("dataset"), split=entry.get("split"))
        except DataFileError as error:  # since overwritten with something unreadable: prompt + gold only
            logger.warning("%s; its examples are scored greedily", error)
            continue
        by_id.update((example.id, example) for example in found.examples)
    out = []
    for row in artifact.examples.itertuples(index=False):
        found = by_id.get(row.id)
        if found is None:
            found = Example(id=row.id, prompt=row.prompt, answer=str(row.gold), choices=None,
                            dataset=row.dataset, split=row.split)  # fmt: skip
        out.append(found)
    return out
