"""What a checkpoint folder is, for every reader: its file names, its errors and the model-type check.

The engine's loader (`iclm.checkpoint`) and the studio's folder scan (`studio.checkpoints`) both read
checkpoint folders; they share this module so a bad folder raises one `CheckpointError` with one wording,
whichever reader found it. No torch and no transformers in this module.
"""

from __future__ import annotations

import os
from typing import Any

CONFIG_FILE = "config.json"
ADAPTERS_FILE = "adapters.safetensors"
ROUTER_FILE = "router.safetensors"
AGGREGATION_FILE = "aggregation.safetensors"
MODEL_TYPE = "iclm"  # config.json's model_type (`ICLMConfig.model_type`)


class CheckpointError(ValueError):
    """A checkpoint folder is incomplete, mismatched or unsafe; the message names the file."""


class MissingCheckpointFileError(CheckpointError, FileNotFoundError):
    """A required checkpoint file is absent."""


def check_model_type(path: str | os.PathLike, data: Any) -> dict[str, Any]:
    """`data` (a parsed config.json at `path`) if it is an ICLM config; else CheckpointError naming the file
    and the model_type found (a list or another model's config is refused before anything reads it)."""
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path}: holds a JSON {type(data).__name__}, expected an object (an ICLM config)"
        )
    if data.get("model_type") != MODEL_TYPE:
        raise CheckpointError(f"{path}: model_type is {data.get('model_type')!r}, expected {MODEL_TYPE!r}")
    return data


def variant_has_invariant(variant: str) -> bool:
    """`ICLMConfig.has_invariant` for a variant name read from a config.json without building one (here,
    not in iclm.config, so that the studio's folder scan needs no transformers: 3.7 s on a first page)."""
    return variant == "iclm"


def variant_has_router(variant: str) -> bool:
    """`ICLMConfig.has_router` for a variant name read from a config.json without building one."""
    return variant != "baseline"


def weight_files(has_invariant: bool) -> tuple[str, ...]:
    """The safetensors files a checkpoint needs: the adapters and the router, plus the aggregation when the
    model has an invariant module (`ICLMConfig.has_invariant`, or `variant_has_invariant`)."""
    return (ADAPTERS_FILE, ROUTER_FILE) + ((AGGREGATION_FILE,) if has_invariant else ())
