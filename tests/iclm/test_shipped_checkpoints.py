"""The checkpoints shipped in checkpoints/: complete, pickle-free, small, and consistent with the engine."""

import json

import pytest

from tests.helpers.paths import ROOT

SHIPPED = ["iclm-k2", "no-invariant-k2", "baseline"]


def test_shipped_folders_are_complete_small_and_pickle_free():
    total = 0
    for name in SHIPPED:
        folder = ROOT / "checkpoints" / name
        for part in ("config.json", "metrics.jsonl", "training_config.json", "eval/results.json"):
            assert (folder / part).is_file(), f"{folder / part} missing"
        for part in ("manifest.json", "examples.parquet", "states.safetensors"):
            assert (folder / "analysis" / part).is_file(), f"{folder}/analysis/{part} missing"
        files = [p for p in folder.rglob("*") if p.is_file()]
        allowed = (".json", ".jsonl", ".safetensors", ".parquet", ".md", ".jinja")
        assert all(p.name.endswith(allowed) for p in files), [p.name for p in files]
        total += sum(p.stat().st_size for p in files)
    assert total < 60 * 2**20


@pytest.mark.slow
def test_engine_reproduces_the_routes_recorded_in_the_iclm_artifact():
    """The studio shows precomputed routes beside live ones; both must come from the same weights and cut."""
    import torch

    from analysis.collect import load_artifact
    from analysis.predict import default_max_length, prompt_ids
    from iclm.model import ICLMForCausalLM

    folder = ROOT / "checkpoints" / "iclm-k2"
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
