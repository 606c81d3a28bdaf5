"""The checkpoints shipped in checkpoints/: complete, pickle-free, small, and consistent with the engine."""

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.helpers.paths import ROOT

SHIPPED = ["iclm-k2", "baseline", "oracle-k4"]  # the experiment's runs at step 300 (docs/results.md)
# Shipped with eval/ while their analysis collection continues from its committed journal
# (experiment-state/<run>/analysis-journal/, docs/results.md "How each run was run").
ANALYSIS_PENDING: set[str] = set()
TEST_SETS = 12  # ACRE text/symbolic IID/Comp/Sys, RAVEN text/symbolic x 3 configurations
# continual learning (docs/results.md): PVR added to the shipped runs, `make continual`
EXTENDED = {
    "iclm-k2-pvr": "iclm-k2",
    "iclm-k2-pvr-sequential": "iclm-k2",
    "baseline-pvr-sequential": "baseline",
}
NEW_TASK = "pvr-symbolic-iid"


def test_shipped_folders_are_complete_small_and_pickle_free():
    """The experiment's runs (adapters in bf16, eval/, analysis/) stay under 60 MB together, as the
    experiment's issue asks; with the continual-learning runs the whole folder under 100 MB."""
    sizes = {}
    for name in [*SHIPPED, *EXTENDED]:
        folder = ROOT / "checkpoints" / name
        for part in ("config.json", "metrics.jsonl", "training_config.json", "eval/results.json"):
            assert (folder / part).is_file(), f"{folder / part} missing"
        for part in ("manifest.json", "examples.parquet", "states.safetensors"):
            if name in ANALYSIS_PENDING:
                journal = ROOT / "experiment-state" / name / "analysis-journal" / "journal.jsonl"
                assert journal.is_file(), f"{name}: no analysis/ and no journal to continue it from"
                break
            assert (folder / "analysis" / part).is_file(), f"{folder}/analysis/{part} missing"
        files = [p for p in folder.rglob("*") if p.is_file()]
        allowed = (".json", ".jsonl", ".safetensors", ".parquet", ".md", ".jinja")
        assert all(p.name.endswith(allowed) for p in files), [p.name for p in files]
        sizes[name] = sum(p.stat().st_size for p in files)
    assert sum(sizes[name] for name in SHIPPED) < 60 * 2**20, sizes
    every = sum(p.stat().st_size for p in (ROOT / "checkpoints").rglob("*") if p.is_file())
    assert every < 100 * 2**20, sizes


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_folders_hold_the_experiment_evaluated_and_analyzed_at_its_scale(name):
    """>= 300 scored examples of each test set with a 95% interval per cell, an artifact of >= 64 examples
    per test set, and the training curve with its held-out probe records (docs/results.md)."""
    import pandas as pd

    folder = ROOT / "checkpoints" / name
    results = json.loads((folder / "eval/results.json").read_text())
    assert len(results["datasets"]) == TEST_SETS
    for entry in results["datasets"]:
        assert entry["n"] >= 300, entry["dataset"]
        cell = entry["intervals"]["choice"]["model"]
        assert cell["low"] <= cell["accuracy"] <= cell["high"], entry["dataset"]
    if name not in ANALYSIS_PENDING:
        examples = pd.read_parquet(folder / "analysis/examples.parquet", columns=["dataset"])
        counts = examples["dataset"].value_counts()
        assert len(counts) == TEST_SETS and counts.min() >= 64, counts.to_dict()
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    steps = [r["step"] for r in records if "probe_loss" in r]
    trained = json.loads((folder / "training_config.json").read_text())["training"]["max_steps"]
    assert steps and max(steps) == trained
    with safe_open(folder / "adapters.safetensors", framework="pt") as adapters:  # shipped in bf16
        assert {str(adapters.get_slice(k).get_dtype()) for k in adapters.keys()} == {"BF16"}


@pytest.mark.parametrize("name", EXTENDED)
def test_extended_folders_hold_lineage_before_and_after_on_every_test_set(name):
    """An extension names its shipped parent, is scored on the 12 old test sets and the new one (>= 50 lines
    each), carries the parent's scores on the new task (eval-parent/) and its probe's routing per dataset."""
    from iclm.extension import read_lineage

    folder = ROOT / "checkpoints" / name
    lineage = read_lineage(folder)
    assert Path(lineage.parent).name == EXTENDED[name] and lineage.datasets == (NEW_TASK,)
    results = json.loads((folder / "eval/results.json").read_text())
    assert len(results["datasets"]) == TEST_SETS + 1 and min(e["n"] for e in results["datasets"]) >= 50
    before = json.loads((folder / "eval-parent/results.json").read_text())
    assert [(e["dataset"], e["n"]) for e in before["datasets"]] == [(NEW_TASK, 50)]
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    routed = [r["probe_routing_by_dataset"] for r in records if r.get("probe_routing_by_dataset")]
    assert routed and NEW_TASK in routed[-1] and len(routed[-1]) == 5  # 4 old i.i.d. sets and the new one
    assert (folder / "analysis" / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["iclm-k2", "iclm-k2-pvr"])
def test_engine_reproduces_the_routes_recorded_in_the_iclm_artifact(name):
    """The studio shows precomputed routes beside live ones; both must come from the same weights and cut
    (for the grown model too: its old examples on their old code, PVR's on the new one)."""
    import torch

    from analysis.collect import load_artifact
    from analysis.predict import default_max_length, prompt_ids
    from iclm.model import ICLMForCausalLM

    folder = ROOT / "checkpoints" / name
    model = ICLMForCausalLM.from_pretrained(folder)
    artifact = load_artifact(folder / "analysis")
    assert (
        default_max_length(model) == json.loads((folder / "analysis/manifest.json").read_text())["max_length"]
    )
    sample = artifact.examples.groupby("dataset").head(1)  # one example of each test set
    with torch.no_grad():
        for _, row in sample.iterrows():
            ids = torch.tensor([prompt_ids(model.tokenizer, row["prompt"], default_max_length(model))])
            assert model.route(ids, torch.ones_like(ids)).routes.item() == row["route"], row["dataset"]
