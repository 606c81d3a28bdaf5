"""analysis/artifact_states.py: the artifact's tensors read by meaning (what the studio's loaders cache)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.artifact_states import artifact_examples, module_states, routed_mi, routed_similarity
from analysis.collect import Artifact
from iclm.metrics.information import ESTIMATORS, estimate_mi


def _artifact(n: int = 12, forced: int = 4, data: list | None = None) -> Artifact:
    rng = np.random.default_rng(0)
    examples = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "dataset": ["a", "b"] * (n // 2),
            "split": ["iid"] * (n // 2) + ["ood"] * (n // 2),
            "prompt": [f"p{i}" for i in range(n)],
            "gold": ["1"] * n,
        }
    )
    index = np.arange(0, 2 * forced, 2)
    states = {
        "invariant": rng.normal(size=(n, 3)).astype(np.float32),
        "domain": rng.normal(size=(n, 3)).astype(np.float32),
        "forced_index": index.astype(np.int64),
        "forced_domain_0": rng.normal(size=(forced, 3)).astype(np.float32),
        "forced_domain_1": rng.normal(size=(forced, 3)).astype(np.float32),
    }
    manifest = {"modules": ["invariant", "domain_0", "domain_1"], "data": data or []}
    return Artifact(manifest=manifest, examples=examples, states=states)


def test_routed_states_are_the_invariant_and_routed_domain_on_every_row():
    art = _artifact()
    states, rows = module_states(art, "routed")
    assert set(states) == {"invariant", "domain"} and rows is art.examples
    np.testing.assert_array_equal(states["domain"], art.states["domain"])


def test_forced_states_are_every_module_on_the_forced_rows():
    art = _artifact()
    states, rows = module_states(art, "forced")
    assert list(states) == ["invariant", "domain_0", "domain_1"]
    np.testing.assert_array_equal(states["invariant"], art.states["invariant"][[0, 2, 4, 6]])
    np.testing.assert_array_equal(states["domain_1"], art.states["forced_domain_1"])
    assert rows["id"].tolist() == ["e0", "e2", "e4", "e6"]


def test_an_unknown_row_set_is_refused():
    with pytest.raises(ValueError, match="rows='all' is invalid"):
        module_states(_artifact(), "all")


def test_routed_mi_has_every_estimator_overall_and_per_split():
    art = _artifact()
    table = routed_mi(art, n_boot=5)
    assert list(table.columns) == ["split", "estimator", "mi", "low", "high", "n"]
    assert table["split"].tolist() == [s for s in ("all", "iid", "ood") for _ in ESTIMATORS]
    iid = (art.examples["split"] == "iid").to_numpy()
    expected = estimate_mi(art.states["invariant"][iid], art.states["domain"][iid], estimator="ksg", n_boot=5)
    row = table[(table["split"] == "iid") & (table["estimator"] == "ksg")].iloc[0]
    assert row["mi"] == expected.estimate.value and row["n"] == 6


def test_routed_similarity_groups_by_dataset_and_split():
    table = routed_similarity(_artifact(), metric="cka", n_boot=5)
    assert not table.empty


def test_examples_take_their_choices_from_the_data_file_when_it_exists(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"prompt": "p0", "answer": "1", "choices": ["1", "2"]}) + "\n")
    art = _artifact(data=[{"path": str(path), "dataset": "a", "split": "iid"}, {"path": None}])
    art.examples.loc[0, "id"] = "a:1"  # the loader's id of the file's first line
    examples = artifact_examples(art)
    assert [e.id for e in examples] == art.examples["id"].tolist()
    assert examples[0].choices == ("1", "2") and examples[1].choices is None
    assert (examples[1].prompt, examples[1].answer) == ("p1", "1")


def test_a_data_file_since_made_unreadable_falls_back_to_prompt_and_gold(tmp_path, caplog):
    """A data file named in the manifest that is now binary must not break the Predictions and Interventions
    pages: its examples keep the artifact's prompt and gold (scored greedily) and the file is named."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\x00\x01\x02 binary")
    art = _artifact(data=[{"path": str(path), "dataset": "a", "split": "iid"}])
    with caplog.at_level("WARNING"):
        examples = artifact_examples(art)
    assert [e.choices for e in examples] == [None] * len(art.examples)
    assert str(path) in caplog.text


def test_routed_mi_of_splits_of_six_examples_with_wide_states():
    """Six examples per split, 16 features: KSG keeps 5 components (it crashed asking sklearn for 8)."""
    art = _artifact()
    rng = np.random.default_rng(1)
    art.states["invariant"], art.states["domain"] = rng.normal(size=(2, 12, 16)).astype(np.float32)
    table = routed_mi(art, n_boot=5)
    assert set(table["split"]) == {"all", "iid", "ood"} and table["mi"].notna().all()
