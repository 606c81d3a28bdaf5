"""Content hashes that say whether two runs saw the same model and the same examples (torch-free).

One home for the rules the analysis artifact's manifest (`analysis.collect`, `analysis.inputs`) and the
evaluation journal (`iclm.evaluation.journal`) both use, so "the same model" means the same thing to both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json


def examples_hash(examples: list) -> str:
    """sha256 of the Examples' JSON (every field, in order): for in-memory data."""
    text = json.dumps([dataclasses.asdict(e) for e in examples], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def model_hash(model) -> str:
    """sha256 of an in-memory model: its config JSON and trainable tensors (LoRA adapters, router,
    aggregation; the frozen base is named by the config's backbone)."""
    digest = hashlib.sha256(model.config.to_json_string().encode())
    for name, param in sorted(model.state_dict().items()):
        if "lora_" in name or not name.startswith("base."):
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()
