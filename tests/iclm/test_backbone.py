import re
import time
from pathlib import Path

import pytest
import torch

from iclm.backbone import BACKBONES, BackboneError, load_backbone


def test_tiny_is_deterministic_and_frozen():
    a, b = load_backbone("tiny"), load_backbone("tiny")
    for (name, pa), (_, pb) in zip(a.model.named_parameters(), b.model.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name
        assert not pa.requires_grad
    assert a.spec == "tiny" and a.model.config.hidden_size == 64 and a.model.config.num_hidden_layers == 2


@pytest.mark.parametrize("text", ["The capital of France is", "2 + 37 = 39!", "Blicket: {on, off}?\n\tÉté ✓"])
def test_tiny_tokenizer_round_trips_any_text(tiny_tokenizer, text):
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids and max(ids) < len(tiny_tokenizer)
    assert tiny_tokenizer.decode(ids) == text


def test_tiny_tokenizer_has_special_tokens(tiny_tokenizer):
    ids = {tiny_tokenizer.pad_token_id, tiny_tokenizer.bos_token_id, tiny_tokenizer.eos_token_id}
    assert None not in ids and len(ids) == 3


def test_tiny_model_runs(tiny_backbone):
    ids = tiny_backbone.tokenizer("hello", return_tensors="pt")["input_ids"]
    logits = tiny_backbone.model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tiny_backbone.tokenizer))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="smollm2-135m.*tiny|tiny.*smollm2-135m"):
        load_backbone("./no/such/model")


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="could not be loaded"):
        load_backbone(str(tmp_path))


def test_registry_names():
    assert {"tiny", "smollm2-135m"} <= set(BACKBONES)


@pytest.mark.slow
def test_smollm2_loads_offline_and_knows_paris():
    load_backbone("smollm2-135m")  # converts once if the cache is empty
    start = time.perf_counter()
    backbone = load_backbone("smollm2-135m")
    assert time.perf_counter() - start < 5.0  # from the safetensors cache (about 0.4 s measured)
    tok = backbone.tokenizer
    enc = tok("The capital of France is", return_tensors="pt")
    out = backbone.model.generate(**enc, max_new_tokens=6, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1] :])


def _hf_folder(folder, tiny_backbone, safetensors: bool):
    tiny_backbone.tokenizer.save_pretrained(folder)
    if safetensors:
        tiny_backbone.model.save_pretrained(folder)
    else:
        tiny_backbone.model.config.save_pretrained(folder)
        torch.save(tiny_backbone.model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_a_safetensors_folder_loads(tmp_path, tiny_backbone):
    backbone = load_backbone(str(_hf_folder(tmp_path, tiny_backbone, safetensors=True)))
    ids = torch.tensor([[5, 6, 7]])
    torch.testing.assert_close(backbone.model(ids).logits, tiny_backbone.model(ids).logits)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "extra/weights.pt", "training_args.pth", "x.pkl"])
def test_pickle_files_in_a_backbone_folder_are_refused(tmp_path, tiny_backbone, name):
    folder = _hf_folder(tmp_path, tiny_backbone, safetensors=name != "pytorch_model.bin")
    if name != "pytorch_model.bin":
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(BackboneError, match=re.escape(f"{Path(name).name} is a pickle-format file")) as error:
        load_backbone(str(folder))
    assert "\n" not in str(error.value)
