"""Run the live model on user prompts: route, every module's prediction, router embeddings.

Thin glue over `analysis.module_predictions.predict_all_modules`; results are plain rows (one per prompt)
that the page shows and offers as CSV/JSONL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def run_prompts(
    model, tokenizer, examples: list, progress: Callable[[int, int], None] | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict]:
    """Predict every module for each example. Returns (rows, router states stacked (M, .), id -> predictions).

    rows: id, dataset, prompt, gold, tokens, route, then `pred_<readout>` for every readout
    (aggregated, invariant, domain_k, aggregated_domain_k).
    """
    from analysis.module_predictions import predict_all_modules
    from analysis.predict import oracle_domain

    rows, states, details = [], {"router_embeddings": [], "router_projected": []}, {}
    for index, example in enumerate(examples):
        domain = oracle_domain(model, example.domain or example.dataset)  # None unless an oracle router
        result = predict_all_modules(model, tokenizer, example.prompt, example.choices, domain_id=domain)
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
        states["router_embeddings"].append(result.router_embeddings)  # the pass that chose the route
        states["router_projected"].append(result.router_projected)
        if progress is not None:
            progress(index + 1, len(examples))
    stacked = {k: np.stack(v) if v else np.zeros((0, 0), np.float32) for k, v in states.items()}
    return pd.DataFrame(rows), stacked, details
