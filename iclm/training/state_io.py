"""Pickle-free training state for intermediate checkpoints: safetensors for tensors, JSON for the rest.

transformers' Trainer writes `optimizer.pt`, `scheduler.pt` and `rng_state.pth` with `torch.save`;
`ICLMTrainer` replaces those with the files written here, so a checkpoint folder holds no pickle:
- `trainable_state.safetensors`: every trainable parameter and persistent buffer outside the frozen base
  (adapters, router, aggregation) — what resume loads back into the model;
- `optimizer.safetensors` + `optimizer.json`; `scheduler.json`; `rng_state_<rank>.safetensors` + `.json`.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

TRAINABLE = "trainable_state.safetensors"


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State-dict entries that are not frozen base weights (trainable params + persistent buffers).
    Judged per tensor, not per name: a tied weight (SmolLM2's `lm_head.weight` is `embed_tokens.weight`)
    appears in the state dict under a second name that `named_parameters()` never lists, and a name test
    saved it, 113 MB of frozen base in every checkpoint."""
    return {
        name: value.detach()
        for name, value in model.state_dict(keep_vars=True).items()
        if not isinstance(value, torch.nn.Parameter) or value.requires_grad
    }


def save_trainable_state(model: torch.nn.Module, folder: str | Path) -> None:
    _save_tensors(trainable_state(model), Path(folder) / TRAINABLE)


def load_trainable_state(model: torch.nn.Module, folder: str | Path) -> None:
    """Load `trainable_state.safetensors`; every saved tensor must match a model entry in shape and dtype
    and hold finite values (a NaN weight would otherwise resume into a NaN model)."""
    from iclm.checkpoint import check_tensor, read_tensors, refuse_outside_links

    folder = Path(folder)
    path = folder / TRAINABLE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {folder} is not an ICLM training checkpoint")
    refuse_outside_links(folder)
    state = read_tensors(path)
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ValueError(f"{path}: entries {unexpected[:5]} do not exist in the model (wrong config?)")
    for key, value in state.items():
        check_tensor(path, key, value, expected[key])
    model.load_state_dict(state, strict=False)


def save_optimizer(optimizer: torch.optim.Optimizer, folder: str | Path) -> None:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    _save_tensors(tensors, Path(folder) / "optimizer.safetensors")
    _write_json(Path(folder) / "optimizer.json", {"param_groups": state["param_groups"], "scalars": scalars})


def load_optimizer(optimizer: torch.optim.Optimizer, folder: str | Path) -> bool:
    """Restore the optimizer; False when the folder has no pickle-free optimizer state."""
    folder = Path(folder)
    if not (folder / "optimizer.json").is_file():
        return False
    from iclm.checkpoint import check_tensor, read_tensors

    meta = json.loads((folder / "optimizer.json").read_text(encoding="utf-8"))
    tensors = read_tensors(folder / "optimizer.safetensors")
    for key, value in tensors.items():
        check_tensor(folder / "optimizer.safetensors", key, value)
    per_param: dict[int, dict[str, Any]] = {}
    entries = list(tensors.items()) + list(meta["scalars"].items())
    for key, value in entries:
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    return True


def save_scheduler(scheduler: Any, folder: str | Path) -> None:
    _write_json(Path(folder) / "scheduler.json", scheduler.state_dict())


def load_scheduler(scheduler: Any, folder: str | Path) -> bool:
    path = Path(folder) / "scheduler.json"
    if not path.is_file():
        return False
    scheduler.load_state_dict(json.loads(path.read_text(encoding="utf-8")))
    return True


def save_rng(folder: str | Path, rank: int) -> None:
    """Python, numpy, torch CPU (and CUDA) generator states of this process."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"cpu": torch.random.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64))}
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.random.get_rng_state_all())})
    _save_tensors(tensors, Path(folder) / f"rng_state_{rank}.safetensors")
    meta = {"python": [version, list(internal), gauss], "numpy": [kind, pos, has_gauss, cached]}
    _write_json(Path(folder) / f"rng_state_{rank}.json", meta)


def load_rng(folder: str | Path, rank: int) -> bool:
    folder = Path(folder)
    if not (folder / f"rng_state_{rank}.json").is_file():
        return False
    meta = json.loads((folder / f"rng_state_{rank}.json").read_text(encoding="utf-8"))
    tensors = load_file(str(folder / f"rng_state_{rank}.safetensors"))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.random.set_rng_state(tensors["cpu"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors)) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.random.set_rng_state_all(cuda)
    return True
