"""scripts/ship_checkpoint.py: a finished run or one saved step of it becomes a shipped bf16 folder."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from iclm.model import ICLMForCausalLM
from iclm.training.config import config_from_dict
from iclm.training.metrics_log import read_metrics
from iclm.training.run import run_training
from tests.helpers.paths import ROOT
from tests.helpers.toy_training import toy_config


def _script():
    spec = importlib.util.spec_from_file_location("ship_checkpoint", ROOT / "scripts/ship_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def constant_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ship")
    raw = toy_config(tmp, max_steps=8, log_every=2, save_every=4, keep_last=4, lr_schedule="constant")
    (tmp / "run.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return run_training(config_from_dict(raw)).run_dir, tmp / "run.yaml"


def test_a_saved_step_ships_as_that_steps_model_with_its_metrics(constant_run, tmp_path):
    run, config_path = constant_run
    files = _script().ship(run, tmp_path / "shipped", step=4, config_path=config_path)
    shipped = tmp_path / "shipped"
    assert set(files) >= {"config.json", "adapters.safetensors", "router.safetensors", "metrics.jsonl"}
    assert not list(shipped.glob("optimizer*")) and not list(shipped.glob("trainable_state*"))
    saved = load_file(run / "checkpoints/checkpoint-4/adapters.safetensors")
    for name, tensor in load_file(shipped / "adapters.safetensors").items():
        assert tensor.dtype == torch.bfloat16
        assert torch.equal(tensor, saved[name].to(torch.bfloat16))
    assert [r["step"] for r in read_metrics(shipped / "metrics.jsonl")] == [2, 4]
    config = json.loads((shipped / "training_config.json").read_text())
    assert config["training"]["max_steps"] == 4 and config["dataset_names"] == ["alpha", "beta"]
    assert ICLMForCausalLM.from_pretrained(shipped).config.num_domains == 2


def test_the_final_model_ships_whole(constant_run, tmp_path):
    run, _ = constant_run
    _script().ship(run, tmp_path / "final")
    assert [r["step"] for r in read_metrics(tmp_path / "final/metrics.jsonl")][-1] == 8
    assert json.loads((tmp_path / "final/training_config.json").read_text())["training"]["max_steps"] == 8


def test_a_step_without_a_complete_checkpoint_is_refused(constant_run, tmp_path):
    run, config_path = constant_run
    with pytest.raises(FileNotFoundError, match=r"checkpoint-6 cannot be shipped: it does not exist"):
        _script().ship(run, tmp_path / "x", step=6, config_path=config_path)
    assert not (tmp_path / "x").exists()


def _state_script():
    spec = importlib.util.spec_from_file_location("experiment_state", ROOT / "scripts/experiment_state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_saved_experiment_state_resumes_on_a_fresh_run_folder(tmp_path):
    """save -> (fresh clone: empty run folder) -> restore -> train resumes at the saved step and ends in the
    weights of the uninterrupted run."""
    import shutil

    state_io = _state_script()
    raw = toy_config(tmp_path, max_steps=8, log_every=2, save_every=4, keep_last=4, lr_schedule="constant")
    first = run_training(config_from_dict(raw), max_steps=4).run_dir
    assert "saved checkpoint-4" in state_io.save(first, tmp_path / "state")
    shutil.rmtree(first)  # a fresh machine: runs/ is not in git
    assert "restored checkpoint-4" in state_io.restore(tmp_path / "state", first)
    assert "nothing to restore" in state_io.restore(tmp_path / "state", first)
    resumed = run_training(config_from_dict(raw))
    assert resumed.resumed_from.endswith("checkpoint-4") and resumed.global_step == 8
    straight_raw = toy_config(tmp_path / "b", **raw["training"])
    straight_raw["training"]["output_dir"] = str(tmp_path / "b/run")
    straight = run_training(config_from_dict(straight_raw))
    assert [r["step"] for r in read_metrics(resumed.run_dir / "metrics.jsonl")] == [2, 4, 6, 8]
    ours, theirs = (load_file(r.run_dir / "adapters.safetensors") for r in (resumed, straight))
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name], tensor)
