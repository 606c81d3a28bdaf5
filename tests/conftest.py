"""Shared tiny fixtures: a tiny random Llama backbone and a factory of tiny ICLMs (CPU, milliseconds)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.helpers.batches import make_batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_backbone():
    """A session-wide tiny backbone: use for its tokenizer or read-only base passes (never inject into it)."""
    from iclm.backbone import load_backbone

    return load_backbone("tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_backbone):
    return tiny_backbone.tokenizer


@pytest.fixture
def make_iclm() -> Callable[..., object]:
    """Factory: make_iclm(num_domains=2, variant="iclm", **config_fields) -> a fresh ICLMForCausalLM on a
    fresh tiny backbone (eval mode). `perturb=True` gives every trainable tensor small random values so the
    modules differ from each other and from the base (a fresh LoRA starts at B = 0)."""
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    def build(perturb: bool = False, seed: int = 0, **fields):
        fields.setdefault("backbone", "tiny")
        model = ICLMForCausalLM.from_config_and_backbone(ICLMConfig(**fields), load_backbone("tiny"))
        if perturb:
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for param in model.trainable_parameters():
                    param.add_(0.2 * torch.randn(param.shape, generator=generator))
        return model.eval()

    return build


@pytest.fixture
def tiny_batch(tiny_tokenizer) -> dict[str, torch.Tensor]:
    """Padded batch of 4 prompt+answer texts: input_ids, attention_mask, labels (answer), domain_ids."""
    return make_batch(
        tiny_tokenizer,
        [
            ("Is the cube on? ", "yes"),
            ("2 + 3 = ", "5"),
            ("Pick: A, B, C -> ", "B"),
            ("Blicket red? ", "off"),
        ],
    )
