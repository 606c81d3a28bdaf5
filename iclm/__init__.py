"""ICLM engine: independent causal language modules on one frozen base model with LoRA adapters.

`import iclm` registers `ICLMConfig` / `ICLMForCausalLM` with transformers' AutoConfig and
AutoModelForCausalLM, so `AutoModelForCausalLM.from_pretrained(checkpoint)` works afterwards, and binds the
public names (`iclm.ICLMConfig`, `iclm.ICLMForCausalLM`, `iclm.load_backbone`, ...; each lives in the module
named beside it below). The one exception is `python -m iclm ...`: the CLI imports heavy parts only in the
subcommands that need them (`python -m iclm data` never pays for torch), so nothing is imported here then;
importing `iclm.model` always registers.
"""

from __future__ import annotations

import importlib
import sys


def register_auto_classes() -> None:
    """Register the ICLM config and model with transformers' Auto classes (idempotent)."""
    importlib.import_module("iclm.model")  # registers on import


if sys.argv[:1] != ["-m"]:  # argv[0] is "-m" only while `python -m iclm` is locating its __main__
    register_auto_classes()
    from iclm.backbone import BACKBONES, Backbone, load_backbone
    from iclm.checkpoint import CheckpointError
    from iclm.config import AdapterConfig, ICLMConfig, LossWeights, RouterConfig
    from iclm.mi import batch_mi
    from iclm.model import ICLMForCausalLM
    from iclm.outputs import ICLMOutput, LossTerms
    from iclm.router import RouterOutput

    __all__ = [
        "BACKBONES",
        "AdapterConfig",
        "Backbone",
        "CheckpointError",
        "ICLMConfig",
        "ICLMForCausalLM",
        "ICLMOutput",
        "LossTerms",
        "LossWeights",
        "RouterConfig",
        "RouterOutput",
        "batch_mi",
        "load_backbone",
        "register_auto_classes",
    ]
