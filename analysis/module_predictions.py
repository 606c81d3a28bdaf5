"""One prompt through every module of an ICLM, fast enough for the studio (`predict_all_modules`).

Cost: one router pass (the base, adapters off) + one pass per module (invariant, domain_0..K-1) over the
prompt (the model's public `module_states`); logits only at the positions that are read (the last prompt
token, and the choice tokens), every readout's from those states through `iclm.readout.readout_logits`.
Choices reuse each module's KV cache of the prompt: they cost a pass over their own few tokens, not the
prompt again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from analysis import predict
from iclm.data.collate import pad_rows
from iclm.data.tokens import longest_answer
from iclm.readout import MODEL, Readout, forced_model, label, modules_read, named, readout_logits


@dataclass(frozen=True)
class ModulePrediction:
    """One readout: `prediction` (the best choice, or the most likely next token), `top_tokens` ((token text,
    probability) of the next token, best first), `choice_logprobs` (total log-likelihood of each choice +
    EOS, or None without choices)."""

    module: str
    prediction: str
    top_tokens: tuple[tuple[str, float], ...]
    choice_logprobs: tuple[float, ...] | None


@dataclass(frozen=True)
class ModulePredictions:
    """route: the router's choice; distances (K,) to each code; modules: readout -> prediction, named as the
    studio shows them (`iclm.readout.label`), in order "aggregated" (readout "model": the routed model output;
    for no_invariant/baseline the routed domain module's), "invariant" (iclm), "domain_0".., and for iclm
    "aggregated_domain_k" (readout "model_domain_k": the aggregation with domain k forced).
    router_embeddings (H,) and router_projected (P,): the router's view of the prompt (float32), as stored
    in the analysis artifact, so the prompt can be placed on the cluster map without another base pass."""

    prompt_tokens: int
    route: int
    distances: tuple[float, ...]
    choices: tuple[str, ...] | None
    modules: dict[str, ModulePrediction]
    router_embeddings: np.ndarray
    router_projected: np.ndarray

    def top_tokens_frame(self) -> pd.DataFrame:
        """Tidy (module, rank, token, probability) table of the next-token top-k of every readout."""
        rows = [
            {"module": name, "rank": rank, "token": token, "probability": prob}
            for name, pred in self.modules.items()
            for rank, (token, prob) in enumerate(pred.top_tokens)
        ]
        return pd.DataFrame(rows)


def _module_states(model, name: str, ids: Tensor, choice_ids: Tensor | None, choice_mask: Tensor | None):
    """Hidden states (P, H) at the read positions: row 0 the last prompt token; with choices (C, L), also
    every choice position but the last, flattened (C * (L - 1) rows after row 0)."""
    from transformers import DynamicCache

    mask = torch.ones_like(ids)
    cache = DynamicCache() if choice_ids is not None else None
    hidden = model.module_states(name, ids, mask, cache)  # (1, T, H)
    last = hidden[:, -1]  # (1, H)
    if choice_ids is None or choice_ids.shape[1] < 2:
        return last
    count = choice_ids.shape[0]
    cache.batch_repeat_interleave(count)
    full_mask = torch.cat([mask.expand(count, -1), choice_mask], dim=1)  # (C, T + L - 1)
    inner = model.module_states(name, choice_ids[:, :-1], full_mask[:, :-1], cache)  # (C, L - 1, H)
    return torch.cat([last, inner.reshape(-1, inner.shape[-1])])


def _readouts(model) -> list[Readout]:
    """The readouts shown: model, each module alone (invariant, domain_k forced), and for a model with an
    invariant module the model's output with each domain forced."""
    config = model.config
    found = [MODEL, *(named(config, name) for name in model.module_names)]
    return found + ([forced_model(k) for k in range(config.num_domains)] if config.has_invariant else [])


def _readout_logits(model, states: dict[str, Tensor], route: int) -> dict[str, Tensor]:
    """Logits (P, V) of every readout (by its studio label) from the module states (P, H)."""
    found = {}
    for readout in _readouts(model):
        invariant, domain = modules_read(model.config, readout, route)
        found[label(readout.name)] = readout_logits(
            model, readout.field, states.get(invariant), states.get(domain)
        )
    return found


def _choice_logprobs(logits: Tensor, targets: Tensor) -> Tensor:
    """logits (1 + C*(L-1), V) at the read positions, targets (C, L) choice ids (-100 pad) -> (C,)."""
    count, length = targets.shape
    first = logits[:1].expand(count, -1)[:, None]  # (C, 1, V)
    rest = logits[1:].reshape(count, length - 1, -1)  # (C, L-1, V)
    logp = torch.log_softmax(torch.cat([first, rest], dim=1).float(), dim=-1)  # (C, L, V)
    picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return (picked * (targets != -100)).sum(-1)


@torch.no_grad()
def predict_all_modules(
    model,
    tokenizer,
    prompt: str,
    choices=None,
    *,
    top_k: int = 5,
    domain_id: int | None = None,
    max_length: int | None = None,
) -> ModulePredictions:
    """Route `prompt` and read every module's next-token top-k and (with `choices`) its best choice.
    `domain_id` is needed only by oracle routers. The prompt is cut from the left (BOS kept) to fit
    `max_length` (default `predict.default_max_length(model)`, the training max_length) with its longest
    choice + EOS (or one token), as in training and evaluation; inputs go to the model's device."""
    if not prompt:
        raise ValueError("prompt is empty")
    if choices is not None and not choices:
        raise ValueError("choices is empty; pass None for free generation")
    model.eval()
    device = predict.model_device(model)
    eos = tokenizer.eos_token_id
    rows = [list(tokenizer(c, add_special_tokens=False)["input_ids"]) + [eos] for c in choices or ()]
    reserve = len(longest_answer(rows, len)) if rows else 1  # the prompt fits its longest choice + EOS
    max_length = max_length or predict.default_max_length(model)
    ids = torch.tensor([predict.prompt_ids(tokenizer, prompt, max_length, reserve)], device=device)  # (1, T)
    domains = None if domain_id is None else torch.tensor([domain_id], device=device)
    router = model.route(ids, torch.ones_like(ids), domain_ids=domains)
    route = int(router.routes[0])
    choice_ids = choice_mask = targets = None
    if choices:
        choice_ids, choice_mask = (t.to(device) for t in pad_rows(rows, eos))  # (C, L)
        targets = pad_rows(rows, -100)[0].to(device)
    states = {name: _module_states(model, name, ids, choice_ids, choice_mask) for name in model.module_names}
    logits = _readout_logits(model, states, route)
    modules = {
        name: _prediction(name, value, tokenizer, choices, targets, top_k) for name, value in logits.items()
    }
    distances = tuple(float(d) for d in router.distances[0])
    return ModulePredictions(
        prompt_tokens=ids.shape[1],
        route=route,
        distances=distances,
        choices=tuple(choices) if choices else None,
        modules=modules,
        router_embeddings=router.embeddings[0].float().cpu().numpy(),
        router_projected=router.projected[0].float().cpu().numpy(),
    )


def _prediction(name, logits, tokenizer, choices, targets, top_k) -> ModulePrediction:
    probs = torch.softmax(logits[0].float(), dim=-1)  # (V,) next token after the prompt
    values, indices = probs.topk(min(top_k, probs.shape[0]))
    top = tuple((tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, indices, strict=True))
    if not choices:
        return ModulePrediction(name, top[0][0].strip(), top, None)
    scores = _choice_logprobs(logits, targets).tolist()
    best = max(range(len(scores)), key=scores.__getitem__)
    return ModulePrediction(name, choices[best], top, tuple(scores))
