"""LoRA adapters on one shared frozen base (peft), switched without touching requires_grad.

peft's `set_adapter` / `enable_adapters` switch `requires_grad` off for inactive adapters, which would stop
the invariant adapter training once a domain adapter runs in the same step. We therefore set each LoRA
layer's active adapter and disabled flag directly; every adapter keeps requires_grad=True throughout.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from transformers import DynamicCache

from iclm.config import AdapterConfig


def inject_adapters(
    base: nn.Module, names: list[str], config: AdapterConfig, seed: int = 0
) -> list[nn.Module]:
    """Add one LoRA adapter per name to base (in place); returns the LoRA layers. Base stays frozen."""
    lora = LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with warnings.catch_warnings():  # peft warns that several adapters share the model: that is the point
            warnings.simplefilter("ignore", UserWarning)
            for name in names:
                inject_adapter_in_model(lora, base, adapter_name=name)
    for param_name, param in base.named_parameters():
        param.requires_grad_("lora_" in param_name)
    layers = [m for m in base.modules() if isinstance(m, BaseTunerLayer)]
    if not layers:
        raise ValueError(
            f"adapters.target_modules={list(config.target_modules)} matched no layer of the backbone"
        )
    return layers


def activate(layers: list[nn.Module], name: str | None) -> None:
    """Make adapter `name` the only active one on every LoRA layer; None disables all adapters."""
    for layer in layers:
        layer._disable_adapters = name is None
        if name is not None:
            layer._active_adapter = [name]


AdapterState = list[tuple[bool, str | list[str]]]


def current_state(layers: list[nn.Module]) -> AdapterState:
    """What every LoRA layer runs now (disabled flag, active adapter names), for `restored`."""
    return [(layer._disable_adapters, _copy(layer._active_adapter)) for layer in layers]


@contextmanager
def restored(layers: list[nn.Module], state: AdapterState):
    """Run with the LoRA layers set to `state` (from `current_state`), then put back what was there."""
    previous = current_state(layers)
    _apply(layers, state)
    try:
        yield
    finally:
        _apply(layers, previous)


def _apply(layers: list[nn.Module], state: AdapterState) -> None:
    for layer, (disabled, active) in zip(layers, state, strict=True):
        layer._disable_adapters, layer._active_adapter = disabled, _copy(active)


def _copy(active: str | list[str]) -> str | list[str]:
    """peft keeps one name (str) or several (list); a list is copied so later switches cannot alias it."""
    return active if isinstance(active, str) else list(active)


@contextmanager
def adapters_disabled(layers: list[nn.Module]):
    """Run the plain base model (the router's view)."""
    previous = current_state(layers)
    activate(layers, None)
    try:
        yield
    finally:
        _apply(layers, previous)


class ICLMCache:
    """KV caches for generation: one for the invariant pass, one per domain group (routes are fixed from the
    prompt, so every group holds the same examples at every step)."""

    def __init__(self) -> None:
        self.invariant = DynamicCache()
        self.domains: dict[int, DynamicCache] = {}

    def domain(self, k: int) -> DynamicCache:
        if k not in self.domains:
            self.domains[k] = DynamicCache()
        return self.domains[k]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens already cached (the same for every cache)."""
        caches = [self.invariant, *self.domains.values()]
        return max(cache.get_seq_length(layer_idx) for cache in caches)
