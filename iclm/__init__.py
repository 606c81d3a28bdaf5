"""ICLM engine: independent causal language modules on one frozen base model with LoRA adapters.

Public names are imported lazily (``iclm.ICLMConfig``, ``iclm.ICLMForCausalLM``, ``iclm.load_backbone``)
so that ``python -m iclm data`` does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ICLMConfig": "iclm.config",
    "RouterConfig": "iclm.config",
    "AdapterConfig": "iclm.config",
    "LossWeights": "iclm.config",
    "load_backbone": "iclm.backbone",
    "Backbone": "iclm.backbone",
    "batch_mi": "iclm.mi",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'iclm' has no attribute {name!r}")
