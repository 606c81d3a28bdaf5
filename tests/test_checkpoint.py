import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from iclm.checkpoint import CheckpointError, MissingCheckpointFileError
from iclm.model import ICLMForCausalLM


@pytest.fixture
def saved(make_iclm, tmp_path):
    model = make_iclm(num_domains=3, perturb=True)
    model.save_pretrained(tmp_path)
    return model, tmp_path


@pytest.mark.parametrize("variant", ["iclm", "no_invariant", "baseline"])
def test_save_load_gives_identical_logits_and_routes(make_iclm, tiny_batch, tmp_path, variant):
    model = make_iclm(num_domains=3, perturb=True, variant=variant)
    model.save_pretrained(tmp_path)
    loaded = ICLMForCausalLM.from_pretrained(tmp_path)
    a, b = model(**tiny_batch), loaded(**tiny_batch)
    assert torch.equal(a.routes, b.routes)
    torch.testing.assert_close(a.logits, b.logits, atol=0, rtol=0)


def test_folder_holds_only_json_and_safetensors(saved):
    _, folder = saved
    names = sorted(p.name for p in folder.iterdir())
    assert {"config.json", "adapters.safetensors", "router.safetensors", "aggregation.safetensors"} <= set(
        names
    )
    assert "tokenizer.json" in names
    assert all(n.endswith((".json", ".safetensors", ".jinja")) for n in names), names
    assert json.loads((folder / "config.json").read_text())["backbone"] == "tiny"
    # base weights are not saved: only LoRA tensors are in the adapters file
    assert all("lora_" in key for key in load_file(folder / "adapters.safetensors"))


def test_auto_classes_load_after_import_iclm(saved):
    from transformers import AutoConfig, AutoModelForCausalLM

    import iclm  # noqa: F401

    _, folder = saved
    assert AutoConfig.from_pretrained(folder).num_domains == 3
    assert isinstance(AutoModelForCausalLM.from_pretrained(folder), ICLMForCausalLM)


@pytest.mark.parametrize("name", ["evil.bin", "model.pt", "state.pkl", "w.pth", "x.ckpt", "router.joblib"])
def test_pickle_files_are_refused(saved, name):
    _, folder = saved
    (folder / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        ICLMForCausalLM.from_pretrained(folder)


def test_missing_config_is_named(saved):
    _, folder = saved
    (folder / "config.json").unlink()
    with pytest.raises(MissingCheckpointFileError, match="config.json"):
        ICLMForCausalLM.from_pretrained(folder)


@pytest.mark.parametrize("name", ["adapters.safetensors", "router.safetensors", "aggregation.safetensors"])
def test_missing_weights_are_named(saved, name):
    _, folder = saved
    (folder / name).unlink()
    with pytest.raises(MissingCheckpointFileError, match=name):
        ICLMForCausalLM.from_pretrained(folder)


def test_wrong_shape_is_named(saved):
    _, folder = saved
    tensors = load_file(folder / "router.safetensors")
    tensors["codebook"] = torch.zeros(3, 5)
    save_file(tensors, folder / "router.safetensors")
    with pytest.raises(CheckpointError, match=r"router.safetensors: tensor 'codebook' has shape \(3, 5\)"):
        ICLMForCausalLM.from_pretrained(folder)


def test_wrong_number_of_domains_is_named(saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["num_domains"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="3 domain adapters but config.json says num_domains=2"):
        ICLMForCausalLM.from_pretrained(folder)


def test_invalid_config_is_named(saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["router"]["kind"] = "soft"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json.*router.kind='soft'"):
        ICLMForCausalLM.from_pretrained(folder)


def test_corrupt_safetensors_is_named(saved):
    _, folder = saved
    (folder / "adapters.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="adapters.safetensors"):
        ICLMForCausalLM.from_pretrained(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(MissingCheckpointFileError, match="does not exist"):
        ICLMForCausalLM.from_pretrained(tmp_path / "nope")


def test_other_files_are_kept(saved, make_iclm):
    model, folder = saved
    (folder / "metrics.jsonl").write_text('{"step": 1}\n')
    model.save_pretrained(folder)
    assert (folder / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_loaded_model_knows_its_folder(saved):
    """Files saved beside the model (training_config.json) are found from the loaded model."""
    _, folder = saved
    assert ICLMForCausalLM.from_pretrained(folder).name_or_path == str(folder)


def test_bfloat16_weights_load_into_the_float32_model(saved, tiny_batch, tmp_path):
    """Shipped checkpoints store adapters in bfloat16 (scripts/ship_checkpoint.py); they load and run."""
    model, folder = saved
    path = folder / "adapters.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(path).items()}, path)
    loaded = ICLMForCausalLM.from_pretrained(folder)
    lora = next(p for n, p in loaded.named_parameters() if "lora_A" in n)
    assert lora.dtype == torch.float32
    reference = model(**tiny_batch).logits
    torch.testing.assert_close(loaded(**tiny_batch).logits, reference, atol=5e-2, rtol=5e-2)
