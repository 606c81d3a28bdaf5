"""Run the live model on user prompts: route, every module's prediction, router embeddings.

Thin glue over `analysis.module_predictions.predict_all_modules` and `ICLMForCausalLM.route`; results are
plain rows (one per prompt) that the page shows and offers as CSV/JSONL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch


@torch.no_grad()
def router_states(model, tokenizer, prompt: str) -> dict[str, np.ndarray]:
    """Router `embeddings` (H,) and `projected` (P,) of one prompt, as stored in the artifact."""
    from analysis.predict import default_max_length, model_device, prompt_ids

    # cut as predict_all_modules cuts it, so the placed point is the embedding behind the route shown
    ids = prompt_ids(tokenizer, prompt, default_max_length(model))
    ids = torch.tensor([ids], dtype=torch.long, device=model_device(model))
    out = model.route(ids, torch.ones_like(ids))
    return {
        "router_embeddings": out.embeddings[0].float().cpu().numpy(),
        "router_projected": out.projected[0].float().cpu().numpy(),
    }


def run_prompts(
    model, tokenizer, examples: list, progress: Callable[[int, int], None] | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict]:
    """Predict every module for each example. Returns (rows, router states stacked (M, .), id -> predictions).

    rows: id, dataset, prompt, gold, tokens, route, then `pred_<readout>` for every readout
    (aggregated, invariant, domain_k, aggregated_domain_k).
    """
    from analysis.module_predictions import predict_all_modules

    rows, states, details = [], {"router_embeddings": [], "router_projected": []}, {}
    for index, example in enumerate(examples):
        result = predict_all_modules(model, tokenizer, example.prompt, example.choices)
        details[example.id] = result
        row = {
            "id": example.id,
            "dataset": example.dataset,
            "prompt": example.prompt,
            "gold": example.answer,
            "tokens": result.prompt_tokens,
            "route": result.route,
        }
        row |= {f"pred_{name}": pred.prediction for name, pred in result.modules.items()}
        rows.append(row)
        for key, value in router_states(model, tokenizer, example.prompt).items():
            states[key].append(value)
        if progress is not None:
            progress(index + 1, len(examples))
    stacked = {k: np.stack(v) if v else np.zeros((0, 0), np.float32) for k, v in states.items()}
    return pd.DataFrame(rows), stacked, details
