"""Numeric precision of live model runs (custom prompts, attribution, interventions).

bf16 autocast runs matmuls in bfloat16 (the studio also stores Linear weights in bf16 for it, see
`store_linear_weights_in_bf16`). On CPUs with native bf16 instructions
(AVX512-BF16 or AMX) and on CUDA GPUs with bf16 support it is several times faster than fp32: a 250-token
SmolLM2 forward on 2 EPYC cores takes 0.33 s in fp32 and 0.11 s under bf16 autocast. Scores then carry
bf16 rounding (about 3 significant digits), so fp32 stays available for exact comparisons with the
fp32 analysis artifact.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (Linux; False elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in _CPU_BF16_FLAGS)


def native_bf16(device: str | torch.device) -> bool:
    """Whether bf16 autocast is fast (hardware bf16 math) on `device`."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return kind == "cpu" and cpu_has_native_bf16()


def default_precision(device: str | torch.device) -> Precision:
    """bf16 where the hardware does bf16 natively, else fp32 (emulated bf16 is slower than fp32)."""
    return "bf16" if native_bf16(device) else "fp32"


def autocast(device: str | torch.device, precision: Precision):
    """Context manager for one live run: bf16 autocast on `device`, or nothing for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid; choose one of {list(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def store_linear_weights_in_bf16(model: torch.nn.Module) -> torch.nn.Module:
    """Keep every Linear layer's weights in bf16, in place, for a model that only runs under bf16 autocast.

    Why: autocast caches its weight casts only for weights that require grad. The ICLM's base weights are
    frozen, so every call re-cast each of them from fp32 (dtype-copy kernels were about a third of a studio
    attribution's samples under py-spy; `bench/live_model.py` shows no clear end-to-end gain on 2 CPU cores,
    the ranges overlap). Autocast would cast these weights to bf16 anyway, so results are unchanged.
    Embeddings, norms and a Linear that shares its weight with the input embeddings (tied LM head) stay
    fp32, like the residual stream.
    The model must then run under `autocast(device, "bf16")`.
    """
    embeddings = model.get_input_embeddings()
    tied = embeddings.weight if embeddings is not None else None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.weight is not tied:
            module.to(torch.bfloat16)
    return model
