"""ICLM engine: independent causal language modules on one frozen base model with LoRA adapters.

`import iclm` registers `ICLMConfig` / `ICLMForCausalLM` with transformers' AutoConfig and
AutoModelForCausalLM, so `AutoModelForCausalLM.from_pretrained(checkpoint)` works afterwards. The one
exception is `python -m iclm ...`: the CLI imports heavy parts only in the subcommands that need them
(`python -m iclm data` never pays for torch); importing `iclm.model` always registers.
Public names are resolved lazily: `iclm.ICLMConfig`, `iclm.ICLMForCausalLM`, `iclm.load_backbone`, ...
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

_LAZY = {
    "ICLMConfig": "iclm.config",
    "RouterConfig": "iclm.config",
    "AdapterConfig": "iclm.config",
    "LossWeights": "iclm.config",
    "load_backbone": "iclm.backbone",
    "Backbone": "iclm.backbone",
    "BACKBONES": "iclm.backbone",
    "batch_mi": "iclm.mi",
    "ICLMForCausalLM": "iclm.model",
    "ICLMOutput": "iclm.outputs",
    "LossTerms": "iclm.outputs",
    "RouterOutput": "iclm.router",
    "CheckpointError": "iclm.checkpoint",
}


def register_auto_classes() -> None:
    """Register the ICLM config and model with transformers' Auto classes (idempotent)."""
    importlib.import_module("iclm.model")  # registers on import


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'iclm' has no attribute {name!r}")


if sys.argv[:1] != ["-m"]:  # argv[0] is "-m" only while `python -m iclm` is locating its __main__
    register_auto_classes()
