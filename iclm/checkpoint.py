"""Checkpoint folders: JSON + safetensors only; the base model is named (config.backbone), never copied.

Files written: config.json, adapters.safetensors (every LoRA tensor), router.safetensors,
aggregation.safetensors (variant "iclm"), the tokenizer's JSON files. Other files in the folder
(metrics.jsonl, training_config.json, eval/, analysis/) are left alone. Every file is written atomically.
Loading refuses pickle-format files, symlinks that leave the folder, a config.json out of bounds (checked
before any adapter is built) and tensors of the wrong shape or dtype or with NaN/inf values.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

from iclm.checkpoint_format import (
    ADAPTERS_FILE,
    AGGREGATION_FILE,
    CONFIG_FILE,
    ROUTER_FILE,
    CheckpointError,
    MissingCheckpointFileError,
    check_model_type,
)
from iclm.config import ICLMConfig
from iclm.data.tokens import DEFAULT_MAX_LENGTH
from iclm.file_modes import share_file
from iclm.json_files import JsonFileError, read_json

MAX_CONFIG_BYTES = 4 * 2**20  # config.json / training_config.json are a few KB; refuse megabytes unread

if TYPE_CHECKING:
    from iclm.backbone import Backbone
    from iclm.model import ICLMForCausalLM

PICKLE_SUFFIXES = (".bin", ".pt", ".pkl", ".pth", ".ckpt", ".joblib", ".pickle")
# dtypes a floating-point tensor may be stored in (shipped checkpoints use bfloat16); other dtypes are refused
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        share_file(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _state(module: torch.nn.Module | None, only_lora: bool = False) -> dict[str, torch.Tensor]:
    if module is None:
        return {}
    state = module.state_dict()
    if only_lora:
        state = {k: v for k, v in state.items() if "lora_" in k}
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_checkpoint(model: ICLMForCausalLM, folder: str | os.PathLike) -> None:
    """Write the trainable state of `model` to folder (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config_json = model.config.to_json_string(use_diff=True)
    _atomic_write(folder / CONFIG_FILE, lambda p: Path(p).write_text(config_json))
    parts = {ADAPTERS_FILE: _state(model.base, only_lora=True), ROUTER_FILE: _state(model.router)}
    if model.aggregation is not None:
        parts[AGGREGATION_FILE] = _state(model.aggregation)
    for name, tensors in parts.items():
        _atomic_write(folder / name, lambda p, t=tensors: save_file(t, p, metadata={"format": "pt"}))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        model.tokenizer.save_pretrained(tmp)
        for item in Path(tmp).iterdir():
            if item.is_file():
                os.replace(item, folder / item.name)


# A run folder's final model sits beside the Trainer's intermediate states: the loader never reads them, and
# with DeepSpeed or FSDP they hold the Trainer's own optimizer.pt / scheduler.pt (docs/training.md).
RUN_STATES_FOLDER = "checkpoints"


def _walk(folder: Path):
    """(path, is_dir) of everything under `folder` the checks look at: links are not followed, and a run
    folder's `checkpoints/` (intermediate training states) is left out."""
    for parent, dirs, files in os.walk(folder, followlinks=False):
        if Path(parent) == folder and RUN_STATES_FOLDER in dirs:
            dirs.remove(RUN_STATES_FOLDER)
        for name in sorted(dirs):
            yield Path(parent) / name, True
        for name in sorted(files):
            yield Path(parent) / name, False


def refuse_pickles(folder: Path) -> None:
    """Raise CheckpointError if any pickle-format file is in the folder (they can run code when loaded)."""
    found = sorted(p for p, is_dir in _walk(folder) if not is_dir and p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise CheckpointError(
            f"{found[0]} is a pickle-format file; checkpoints must be JSON + safetensors only "
            f"(found {len(found)}: {[str(p.relative_to(folder)) for p in found[:5]]}). Remove them to load."
        )


def refuse_outside_links(folder: Path) -> None:
    """Raise CheckpointError if a symlink inside folder points outside it (a checkpoint is one folder:
    a link out could make loading read any file)."""
    root = folder.resolve()
    for path, _ in _walk(folder):
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            raise CheckpointError(
                f"{path} is a symlink to {path.resolve()}, outside the checkpoint folder {folder}; "
                "copy the file in instead"
            )


def check_tensor(path: Path, key: str, value: torch.Tensor, expected: torch.Tensor | None = None) -> None:
    """Raise CheckpointError unless `value` (tensor `key` of file `path`) has a usable dtype and, if
    floating point, only finite values; with `expected`, its shape and dtype kind must match that."""
    if expected is not None and tuple(value.shape) != tuple(expected.shape):
        raise CheckpointError(
            f"{path}: tensor {key!r} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}"
        )
    want_float = expected.is_floating_point() if expected is not None else value.is_floating_point()
    if want_float and value.dtype not in FLOAT_DTYPES:
        allowed = [str(d) for d in FLOAT_DTYPES]
        raise CheckpointError(f"{path}: tensor {key!r} has dtype {value.dtype}, expected one of {allowed}")
    if not want_float and expected is not None and value.dtype != expected.dtype:
        raise CheckpointError(f"{path}: tensor {key!r} has dtype {value.dtype}, expected {expected.dtype}")
    if want_float and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise CheckpointError(f"{path}: tensor {key!r} has {bad} non-finite value(s) (NaN/inf); refused")


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; a missing or unreadable file raises CheckpointError naming it."""
    if not path.is_file():
        raise MissingCheckpointFileError(f"{path} is missing; expected the {path.stem} weights (safetensors)")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err


def read_config(folder: Path) -> ICLMConfig:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise MissingCheckpointFileError(f"{path} is missing; a checkpoint folder needs config.json")
    try:
        data = read_json(path, "checkpoint config", max_bytes=MAX_CONFIG_BYTES)
    except JsonFileError as err:
        raise CheckpointError(str(err)) from err
    check_model_type(path, data)
    try:
        return ICLMConfig.from_dict(data)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: {err}") from err


def _load_into(module: torch.nn.Module, path: Path, only_lora: bool = False) -> None:
    """Load a safetensors file into module, checking every key, shape, dtype and value against the model."""
    tensors = read_tensors(path)
    expected = _state(module, only_lora=only_lora)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match config.json: missing tensors {missing[:5]} ({len(missing)}), "
            f"unexpected tensors {unexpected[:5]} ({len(unexpected)})"
        )
    for key, value in tensors.items():
        check_tensor(path, key, value, expected[key])
    module.load_state_dict(tensors, strict=False)


def _check_num_domains(path: Path, config: ICLMConfig) -> None:
    if not path.is_file():
        return
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            names = {part for key in handle.keys() for part in key.split(".") if part.startswith("domain_")}
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err
    if names and len(names) != config.num_domains:
        raise CheckpointError(
            f"{path} holds {len(names)} domain adapters but config.json says num_domains={config.num_domains}"
        )


def _build(cls: type[ICLMForCausalLM], config: ICLMConfig, backbone: Backbone | None, path: Path):
    from iclm.backbone import BackboneError

    try:
        return cls(config, backbone)
    except BackboneError as err:  # the base model config.json names cannot be loaded (safely)
        raise CheckpointError(f"{path}: backbone: {err}") from err


def load_checkpoint(
    cls: type[ICLMForCausalLM], folder: str | os.PathLike, backbone: Backbone | None = None
) -> ICLMForCausalLM:
    """Rebuild an ICLM from its folder; a missing or mismatched file raises CheckpointError naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingCheckpointFileError(f"checkpoint folder {folder} does not exist")
    if not (folder / CONFIG_FILE).is_file():  # before any walk: `from_pretrained("/")` must not walk /
        raise MissingCheckpointFileError(f"{folder / CONFIG_FILE} is missing; {folder} is not a checkpoint")
    refuse_outside_links(folder)
    refuse_pickles(folder)
    config = read_config(folder)
    _check_num_domains(folder / ADAPTERS_FILE, config)
    model = _build(cls, config, backbone, folder / CONFIG_FILE)
    _load_into(model.base, folder / ADAPTERS_FILE, only_lora=True)
    _load_into(model.router, folder / ROUTER_FILE)
    if model.aggregation is not None:
        _load_into(model.aggregation, folder / AGGREGATION_FILE)
    # As Hugging Face does: lets readers find files saved beside the model (e.g. training_config.json,
    # whose max_length the analysis uses to cut prompts exactly as training did).
    model.name_or_path = str(folder)
    return model.eval()


def training_max_length(folder: str | os.PathLike | None) -> int | None:
    """`training.max_length` of the run's training_config.json beside a checkpoint (None if the file is
    absent or names none): evaluation and analysis cut prompts like training did unless told otherwise.
    A file that is there but unreadable, not an object or with a bad max_length is a JsonFileError naming
    it: guessing the default instead would cut prompts unlike training without a word."""
    if folder is None:
        return None
    path = Path(folder) / "training_config.json"
    if not path.exists():
        return None
    config = read_json(path, "training config", MAX_CONFIG_BYTES)
    training = config.get("training", {}) if isinstance(config, dict) else None
    if not isinstance(training, dict):
        raise JsonFileError(f"{path}: expected an object with a 'training' object (the run's config)")
    value = training.get("max_length")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise JsonFileError(f"{path}: field 'training.max_length' is {value!r}; expected an int >= 2")
    return value


def max_length_for(folder: str | os.PathLike | None) -> int:
    """The prompt budget (prompt + answer tokens) for a checkpoint whose caller names none: its training
    run's `max_length`, so prompts are cut as in training, else `iclm.data.tokens.DEFAULT_MAX_LENGTH`."""
    return training_max_length(folder) or DEFAULT_MAX_LENGTH
