"""Token attribution per module (captum): which prompt tokens drive a module's answer token.

The attributed quantity f is a readout's log-probability of the target answer token at the next-token
position after `position` (default: the last prompt token). Readouts (`iclm.readout`, named as the studio
shows them): "aggregated" (readout "model": the model output with the router's route), "invariant" (the
invariant module alone; iclm), "domain_k" (domain module k alone, forced). Module states come from the model's
public `module_states` and become logits through `iclm.readout.readout_logits`, as in `forward`. The target is
the first token of a given answer string, a given token id, or (None) each readout's own most likely token.

Gradients are taken w.r.t. the input EMBEDDINGS: the engine's forward takes token ids only, so a forward
hook on the base's `embed_tokens` swaps its output for the (interpolated / perturbed) embeddings captum
passes. Routes are computed once from the unperturbed prompt and held FIXED during attribution (the router
reads the same embedding layer; re-routing at IG's interpolation points would make f discontinuous).
Only the read position's hidden state goes through the LM head (no (T, V) logits).

The gradient methods ("input_x_gradient", "saliency") run each module ONCE for all readouts: the readouts
share module passes (aggregated = invariant + routed domain), so one forward per module with gradients and
one backward per readout replace captum's forward-per-readout (plus a no-grad forward to find the target);
the scores equal captum's InputXGradient / Saliency (tested against them). Integrated gradients and
feature ablation go through captum.

Methods: "input_x_gradient", "saliency" (|gradient| summed over the embedding), "integrated_gradients"
(baseline: the pad token's embedding at every position by default, or "zeros"; Gauss-Legendre steps;
`progress(done, total)` fires per internal batch) and "feature_ablation" (word-level: each
whitespace-separated word is replaced by the baseline embedding at once; every token of a word carries
the word's score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from analysis import predict
from iclm.readout import MODEL, Readout, from_label, label, modules_read, named, read_route, readout_logits

Method = Literal["input_x_gradient", "saliency", "integrated_gradients", "feature_ablation"]
METHODS: tuple[str, ...] = ("input_x_gradient", "saliency", "integrated_gradients", "feature_ablation")
GRADIENT_METHODS: tuple[str, ...] = ("input_x_gradient", "saliency")
Baseline = Literal["zeros", "pad"]


@dataclass(frozen=True)
class ModuleTarget:
    """The attributed answer token of one readout: f(x) = `logprob`; for integrated gradients also
    f(baseline) and `delta` = sum of attributions - (f(x) - f(baseline)) (completeness error)."""

    module: str
    route: int | None
    token_id: int
    token: str
    logprob: float
    baseline_logprob: float | None = None
    delta: float | None = None


@dataclass(frozen=True)
class AttributionResult:
    """frame: tidy (token_index, token, word, module, method, score) table, one row per token and module;
    targets: readout name -> ModuleTarget; tokens: the prompt's token texts; position: the read token."""

    method: str
    tokens: tuple[str, ...]
    position: int
    route: int
    targets: dict[str, ModuleTarget]
    frame: pd.DataFrame


def word_groups(tokenizer, ids: Sequence[int]) -> list[int]:
    """Word index of each token: a word starts at a token that begins with whitespace (whitespace-only
    tokens join the next word); special tokens are words of their own."""
    special = set(tokenizer.all_special_ids)
    groups, word, prev_text = [], -1, None
    for token_id in ids:
        text = tokenizer.decode([int(token_id)])
        starts = (
            prev_text is None
            or token_id in special
            or prev_text == "<special>"
            or (text[:1].isspace() and not prev_text.isspace())
            or (prev_text[-1:].isspace() and not prev_text.isspace())
        )
        word += int(starts)
        groups.append(word)
        prev_text = "<special>" if token_id in special else (text or " ")
    return groups


@contextmanager
def _embeddings_replaced(model, holder: dict):
    """While active, the base's embedding layer returns holder["embeds"] (B, T, H) instead of its output."""
    layer = model.get_input_embeddings()
    handle = layer.register_forward_hook(lambda module, args, output: holder["embeds"])
    try:
        yield
    finally:
        handle.remove()


def _readout(model, module: str) -> Readout:
    """The readout a studio name stands for ("aggregated" -> "model")."""
    return named(model.config, from_label(module))


def _readout_logits(model, module: str, ids: Tensor, route: int, position: int) -> Tensor:
    """Logits (B, V) of one readout at `position` for ids (B, T); routes fixed (`route` for aggregated)."""
    mask = torch.ones_like(ids)
    states = {
        name: model.module_states(name, ids, mask)[:, position]  # (B, H)
        for name in _module_passes(model, [module], route)
    }
    return _logits_from_states(model, module, states, route)


def _logits_from_states(model, module: str, states: dict[str, Tensor], route: int) -> Tensor:
    """Logits (B, V) of one readout from the module states (B, H) at the read position."""
    readout = _readout(model, module)
    invariant, domain = modules_read(model.config, readout, route)
    return readout_logits(model, readout.field, states.get(invariant), states.get(domain))


def _modules(model, modules: Sequence[str] | None) -> list[str]:
    valid = [label(MODEL.name), *model.module_names]
    chosen = list(modules) if modules is not None else valid
    bad = [m for m in chosen if m not in valid]
    if bad or not chosen:
        raise ValueError(f"modules={chosen} is invalid; choose from {valid}")
    return chosen


def _target_id(tokenizer, target: str | int | None) -> int | None:
    if target is None or isinstance(target, int):
        return target
    ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"target={target!r} is invalid: it has no tokens")
    return int(ids[0])


def _scores(
    method: str, func, embeds: Tensor, base: Tensor, words: Tensor, n_steps: int, batch: int
) -> Tensor:
    """Attribution scores (T,) of func: embeds (1, T, H) -> (1,) for one method."""
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients, Saliency

    embeds = embeds.clone().requires_grad_(method != "feature_ablation")
    if method == "input_x_gradient":
        return InputXGradient(func).attribute(embeds)[0].sum(-1)
    if method == "saliency":
        return Saliency(func).attribute(embeds, abs=True)[0].sum(-1)
    if method == "integrated_gradients":
        ig = IntegratedGradients(func)
        attr = ig.attribute(
            embeds, baselines=base, n_steps=n_steps, internal_batch_size=batch, method="gausslegendre"
        )
        return attr[0].sum(-1)
    mask = words[None, :, None]  # (1, T, 1): one feature per word, broadcast over the embedding
    return FeatureAblation(func).attribute(embeds, baselines=base, feature_mask=mask)[0, :, 0]


def _attribute_module(model, module: str, ids: Tensor, setup: dict, target_id: int | None, tick):
    """-> (scores (T,), ModuleTarget) of one readout."""
    holder: dict = {}
    route, position = setup["route"], setup["position"]

    def logprobs(embeds: Tensor) -> Tensor:  # (B, T, H) -> (B, V) log-probabilities at `position`
        holder["embeds"] = embeds
        with _embeddings_replaced(model, holder):
            logits = _readout_logits(model, module, ids.expand(embeds.shape[0], -1), route, position)
        return torch.log_softmax(logits.float(), dim=-1)

    with torch.no_grad():
        first = logprobs(setup["embeds"])[0]  # (V,)
    token = int(first.argmax()) if target_id is None else target_id

    def func(embeds: Tensor) -> Tensor:  # (B, T, H) -> (B,) log p(token)
        tick(embeds.shape[0])
        return logprobs(embeds)[:, token]

    scores = _scores(
        setup["method"],
        func,
        setup["embeds"],
        setup["base"],
        setup["words"],
        setup["n_steps"],
        setup["batch"],
    ).detach()
    logprob, base_logprob, delta = float(first[token]), None, None
    if setup["method"] == "integrated_gradients":
        with torch.no_grad():
            base_logprob = float(logprobs(setup["base"])[0, token])
        delta = float(scores.sum()) - (logprob - base_logprob)
    text = setup["tokenizer"].decode([token])
    return scores, ModuleTarget(
        module, _readout_route(model, module, route), token, text, logprob, base_logprob, delta
    )


def _module_passes(model, readouts: Sequence[str], route: int) -> list[str]:
    """The module passes that `readouts` read, each once, in a fixed order (invariant before domain)."""
    needed: list[str] = []
    for module in readouts:
        wanted = modules_read(model.config, _readout(model, module), route)
        needed += [name for name in wanted if name is not None and name not in needed]
    return needed


def _gradient_attributions(model, ids: Tensor, chosen: Sequence[str], setup: dict, target_id, tick):
    """Gradient methods for every readout from one forward pass per module -> {readout: (scores (T,),
    ModuleTarget)}. f and the target token are taken from the same (gradient-carrying) forward."""
    route, position = setup["route"], setup["position"]
    embeds = setup["embeds"].clone().requires_grad_(True)  # (1, T, H)
    mask = torch.ones_like(ids)
    with torch.enable_grad(), _embeddings_replaced(model, {"embeds": embeds}):
        states = {
            name: model.module_states(name, ids, mask)[:, position]  # (1, H)
            for name in _module_passes(model, chosen, route)
        }
        results = {}
        for readout in chosen:
            logits = _logits_from_states(model, readout, states, route)  # (1, V)
            logprobs = torch.log_softmax(logits.float(), dim=-1)[0]  # (V,)
            token = int(logprobs.argmax()) if target_id is None else target_id
            (grad,) = torch.autograd.grad(logprobs[token], embeds, retain_graph=True)  # (1, T, H)
            tick(1)
            scores = (
                (grad * embeds).sum(-1)[0] if setup["method"] == "input_x_gradient" else grad.abs().sum(-1)[0]
            )
            text = setup["tokenizer"].decode([token])
            target = ModuleTarget(
                readout, _readout_route(model, readout, route), token, text, float(logprobs[token].detach())
            )
            results[readout] = (scores.detach(), target)
    return results


def _readout_route(model, module: str, route: int) -> int | None:
    """The domain module a readout reads (None: the invariant module alone)."""
    readout = _readout(model, module)
    return None if readout.field == "invariant_logits" else read_route(model.config, readout, route)


def _evaluations(method: str, n_steps: int, n_words: int) -> int:
    """Forward evaluations one readout costs (the unit of the progress callback)."""
    return {"integrated_gradients": n_steps, "feature_ablation": n_words + 1}.get(method, 1)


def attribute(
    model,
    tokenizer,
    prompt: str,
    *,
    method: Method = "input_x_gradient",
    modules: Sequence[str] | None = None,
    target: str | int | None = None,
    position: int | None = None,
    n_steps: int = 32,
    internal_batch_size: int = 8,
    baseline: Baseline = "pad",
    domain_id: int | None = None,
    max_length: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AttributionResult:
    """Attribute each readout's answer-token log-probability to the prompt tokens (see module docstring).

    `position`: index of the token whose next-token distribution is read (default: the last prompt token);
    tokens after it get exactly zero attribution. `progress(done, total)` counts forward evaluations over
    all readouts. `domain_id` is needed only by oracle routers. The "pad" baseline keeps IG's path away
    from the zero vector, where the models' RMSNorm is discontinuous (a "zeros" baseline then needs many
    more steps for the attributions to sum to f(x) - f(baseline)). The prompt is cut from the left (BOS
    kept) to fit `max_length` (default: the training max_length, `predict.default_max_length`) with one
    answer token, as the router saw prompts in training; inputs go to the model's device.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; choose one of {list(METHODS)}")
    if baseline not in ("zeros", "pad"):
        raise ValueError(f"baseline={baseline!r} is invalid; choose 'zeros' or 'pad'")
    if n_steps < 1 or internal_batch_size < 1:
        raise ValueError(f"n_steps={n_steps}, internal_batch_size={internal_batch_size}: both must be >= 1")
    if not prompt:
        raise ValueError("prompt is empty")
    chosen = _modules(model, modules)
    model.eval()
    device = predict.model_device(model)
    max_length = max_length or predict.default_max_length(model)
    ids = torch.tensor([predict.prompt_ids(tokenizer, prompt, max_length)], device=device)  # (1, T)
    length = ids.shape[1]
    position = length - 1 if position is None else position
    if not 0 <= position < length:
        raise ValueError(f"position={position} is invalid; the prompt has {length} tokens")
    with torch.no_grad():
        domains = None if domain_id is None else torch.tensor([domain_id], device=device)
        route = int(model.route(ids, torch.ones_like(ids), domain_ids=domains).routes[0])
        embeds = model.get_input_embeddings()(ids).detach()  # (1, T, H)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    base = torch.zeros_like(embeds)
    if baseline == "pad":
        with torch.no_grad():
            base = model.get_input_embeddings()(torch.full_like(ids, pad)).detach()
    words = torch.tensor(word_groups(tokenizer, ids[0].tolist()), device=device)
    setup = {"route": route, "position": position, "embeds": embeds, "base": base, "words": words}
    setup |= {"method": method, "n_steps": n_steps, "batch": internal_batch_size, "tokenizer": tokenizer}
    total = _evaluations(method, n_steps, int(words.max()) + 1) * len(chosen)
    done = [0]

    def tick(count: int) -> None:
        done[0] = min(done[0] + count, total)
        if progress is not None:
            progress(done[0], total)

    token_texts = tuple(tokenizer.decode([int(i)]) for i in ids[0])
    frames, targets = [], {}
    target_id = _target_id(tokenizer, target)
    if method in GRADIENT_METHODS:
        computed = _gradient_attributions(model, ids, chosen, setup, target_id, tick)
    else:
        computed = {
            module: _attribute_module(model, module, ids, setup, target_id, tick) for module in chosen
        }
    for module in chosen:
        scores, targets[module] = computed[module]
        frames.append(_frame(token_texts, words, module, method, scores))
    frame = pd.concat(frames, ignore_index=True)
    return AttributionResult(method, token_texts, position, route, targets, frame)


def _frame(tokens: tuple[str, ...], words: Tensor, module: str, method: str, scores: Tensor) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "token_index": range(len(tokens)),
            "token": list(tokens),
            "word": words.tolist(),
            "module": module,
            "method": method,
            "score": scores.detach().float().cpu().numpy(),
        }
    )
