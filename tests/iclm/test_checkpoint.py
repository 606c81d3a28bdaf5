import json
import re
from pathlib import Path

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


@pytest.mark.parametrize("name", ["adapters.safetensors", "router.safetensors", "aggregation.safetensors"])
def test_nan_weight_is_refused_naming_file_and_tensor(saved, name):
    _, folder = saved
    tensors = load_file(folder / name)
    key = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    poisoned = tensors[key].clone()
    poisoned.view(-1)[0] = float("nan")
    tensors[key] = poisoned
    save_file(tensors, folder / name)
    expected = re.escape(f"{name}: tensor '{key}' has 1 non-finite")
    with pytest.raises(CheckpointError, match=expected) as error:
        ICLMForCausalLM.from_pretrained(folder)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("dtype", [torch.int32, torch.float64, torch.int8])
def test_wrong_dtype_is_refused_naming_file_and_tensor(saved, dtype):
    _, folder = saved
    tensors = load_file(folder / "adapters.safetensors")
    key = sorted(tensors)[0]
    tensors[key] = tensors[key].to(dtype)
    save_file(tensors, folder / "adapters.safetensors")
    with pytest.raises(CheckpointError, match=rf"adapters.safetensors: tensor '{re.escape(key)}' has dtype"):
        ICLMForCausalLM.from_pretrained(folder)


def test_symlink_out_of_the_folder_is_refused(saved, tmp_path_factory):
    _, folder = saved
    outside = tmp_path_factory.mktemp("elsewhere") / "router.safetensors"
    (folder / "router.safetensors").rename(outside)
    (folder / "router.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="router.safetensors is a symlink to .*outside the checkpoint"):
        ICLMForCausalLM.from_pretrained(folder)


def test_symlink_inside_the_folder_is_accepted(saved):
    _, folder = saved
    (folder / "weights").mkdir()
    (folder / "router.safetensors").rename(folder / "weights" / "router.safetensors")
    (folder / "router.safetensors").symlink_to(Path("weights") / "router.safetensors")
    assert ICLMForCausalLM.from_pretrained(folder).config.num_domains == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_domains", 10**9), ("num_domains", 65), ("adapters.r", 10**7), ("router.projection_dim", 10**8)],
)
def test_config_out_of_bounds_is_refused_before_building(saved, field, value):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    if "." in field:
        section, key = field.split(".")
        config[section][key] = value
    else:
        config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=rf"config.json: {re.escape(field)}={value} is invalid"):
        ICLMForCausalLM.from_pretrained(folder)


def test_backbone_folder_with_pickle_weights_is_refused(saved, tmp_path_factory, tiny_backbone):
    """config.json's backbone may name any folder: a torch.save'd pytorch_model.bin there must not load."""
    _, folder = saved
    base = tmp_path_factory.mktemp("base")
    tiny_backbone.model.config.save_pretrained(base)
    tiny_backbone.tokenizer.save_pretrained(base)
    torch.save(tiny_backbone.model.state_dict(), base / "pytorch_model.bin")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"backbone": str(base)}))
    expected = r"config\.json: backbone: .*pytorch_model\.bin is a pickle-format file"
    with pytest.raises(CheckpointError, match=expected) as error:
        ICLMForCausalLM.from_pretrained(folder)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("root", ["/", "/usr"])
def test_a_folder_without_config_is_refused_before_it_is_walked(root):
    """`from_pretrained("/")` walked the file system (PermissionError on /proc) and /usr took 6.7 s."""
    with pytest.raises(MissingCheckpointFileError, match="config.json is missing"):
        ICLMForCausalLM.from_pretrained(root)


def test_a_run_folder_loads_beside_the_trainers_own_pickles(saved):
    """With DeepSpeed or FSDP the Trainer writes optimizer.pt under <run>/checkpoints/ (docs/training.md):
    the final model at the run folder's top still loads; a pickle beside that model is still refused."""
    model, folder = saved
    states = folder / "checkpoints" / "checkpoint-2"
    states.mkdir(parents=True)
    (states / "optimizer.pt").write_bytes(b"\x80\x04K\x01.")
    loaded = ICLMForCausalLM.from_pretrained(folder)
    assert loaded.config.num_domains == model.config.num_domains
    (folder / "extra").mkdir()
    (folder / "extra" / "optimizer.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="optimizer.pt"):
        ICLMForCausalLM.from_pretrained(folder)


def test_saved_files_get_the_modes_of_a_plain_open(saved):
    """mkstemp's 0600 came through the atomic rename: a studio served by another account could not read."""
    from iclm.file_modes import current_umask

    _, folder = saved
    expected = 0o666 & ~current_umask()
    for path in folder.iterdir():
        if path.is_file():
            assert path.stat().st_mode & 0o777 == expected, path.name
