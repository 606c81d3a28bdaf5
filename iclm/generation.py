"""Greedy / sampled generation with `ICLMForCausalLM.generate` (transformers' GenerationMixin): what each
step is fed. The routes computed from the prompt are reused at every step (only the prompt pass routes), and
the intervention goes to every step, so a dropped module stays dropped."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def generation_inputs(
    input_ids: Tensor,
    past_key_values: Any,
    attention_mask: Tensor | None,
    routes: Tensor | None,
    use_cache: bool | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """One step's forward inputs: only the uncached tokens; the routes of the prompt pass (given routes leave
    an intervention's route part nothing to change); domain ids and prompt mask only until routes exist."""
    if past_key_values is not None:
        input_ids = input_ids[:, past_key_values.get_seq_length() :]
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "routes": routes}
    inputs["past_key_values"] = past_key_values
    inputs["use_cache"] = use_cache
    for key in ("domain_ids", "prompt_mask"):
        if extra.get(key) is not None and routes is None:
            inputs[key] = extra[key]
    for key in ("intervention", "force_route", "drop_module"):
        if extra.get(key) is not None:
            inputs[key] = extra[key]
    return inputs


def keep_routes(outputs, model_kwargs: dict) -> dict:
    """After a step: the next step reuses this step's routes; only the prompt pass reads the prompt mask."""
    model_kwargs["routes"] = outputs.routes
    model_kwargs.pop("prompt_mask", None)
    return model_kwargs
