"""Activation recomputation for ICLM's adapter passes: layer by layer, aware of the adapter each layer ran.

An ICLM training step runs the one frozen base under several adapters (the invariant pass, then the routed
domain passes) and by default keeps every pass's activations for backward: about twice a single-LoRA step's
(bench/train_step.py, "saved for backward"). `recompute="invariant"` keeps only the invariant pass's layer
inputs and recomputes its layers during backward, so the step holds about one pass of activations, for one
more forward of that pass. `recompute="all"` does the same for every pass (plain activation checkpointing).
`recompute_share` < 1 recomputes only that share of the layers (spread evenly): a dial between the two costs.

Hugging Face's own activation checkpointing cannot be switched on as is: layers are recomputed during
backward, when the LoRA layers are set to whichever adapter ran last, so the invariant pass would silently be
recomputed (and its gradient computed) through a domain adapter. `adapter_aware_checkpoint` captures the
adapter state when the layer runs forward and restores it for the recomputation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers.modeling_layers import GradientCheckpointingLayer

from iclm import adapters as adapter_ops


def adapter_aware_checkpoint(lora_layers: list[nn.Module]) -> Callable[..., torch.Tensor]:
    """A `_gradient_checkpointing_func` for Hugging Face decoder layers that recomputes each layer with the
    adapter it ran with in forward (non-reentrant checkpoint: frozen inputs need no requires_grad)."""

    def checkpoint_layer(function: Callable[..., torch.Tensor], *args: torch.Tensor) -> torch.Tensor:
        state = adapter_ops.current_state(lora_layers)

        def replay(*inputs: torch.Tensor) -> torch.Tensor:
            with adapter_ops.restored(lora_layers, state):
                return function(*inputs)

        return checkpoint(replay, *args, use_reentrant=False)

    return checkpoint_layer


def install(base: nn.Module, lora_layers: list[nn.Module]) -> list[GradientCheckpointingLayer]:
    """Give every decoder layer of `base` the adapter-aware checkpoint, switched off until `recomputing`.
    Returns those layers; a backbone without Hugging Face checkpointable layers raises ValueError."""
    layers = [m for m in base.modules() if isinstance(m, GradientCheckpointingLayer)]
    if not layers:
        raise ValueError(
            f"recompute needs a backbone whose decoder layers support activation checkpointing; "
            f"{type(base).__name__} has none"
        )
    checkpoint_layer = adapter_aware_checkpoint(lora_layers)
    for layer in layers:
        layer._gradient_checkpointing_func = checkpoint_layer
        layer.gradient_checkpointing = False
    return layers


def spread(layers: list[GradientCheckpointingLayer], share: float) -> list[GradientCheckpointingLayer]:
    """The layers a pass recomputes for `share` in (0, 1]: floor(share x L) of them, spread evenly (layer i
    when floor((i + 1) x share) > floor(i x share)), so the kept activations are not bunched at one end."""
    return [layer for i, layer in enumerate(layers) if math.floor((i + 1) * share) > math.floor(i * share)]


@contextmanager
def recomputing(layers: list[GradientCheckpointingLayer], enabled: bool) -> Iterator[None]:
    """Checkpoint `layers` for the passes run inside (only while the model is in training mode, as Hugging
    Face layers do); afterwards they keep their activations again."""
    if not enabled:
        yield
        return
    for layer in layers:
        layer.gradient_checkpointing = True
    try:
        yield
    finally:
        for layer in layers:
            layer.gradient_checkpointing = False
