"""Token attribution per module (captum): which prompt tokens drive a readout's answer.

The attributed quantity f is a readout's log-probability of the target answer after the prompt: the whole
answer, tokenised in context and summed over its tokens, or a contrast log p(a) - log p(b)
(`analysis.attribution_targets`, which says how answers are tokenised). Readouts (`iclm.readout`, named
as the studio shows them): "aggregated" (readout "model": the model output with the router's route),
"invariant" (the invariant module alone; iclm), "domain_k" (domain module k alone, forced). Module states
come from the model's public `module_states` and become logits through `iclm.readout.readout_logits`, as
in `forward`. Without a target, each readout explains its own most likely next token.

Gradients are taken w.r.t. the PROMPT's input embeddings: the engine's forward takes token ids only, so a
forward hook on the base's `embed_tokens` swaps its output for the (interpolated / perturbed) prompt
embeddings captum passes, followed by the answer tokens' own embeddings (teacher forcing; held fixed).
Routes are computed once from the unperturbed prompt and held FIXED during attribution (the router reads
the same embedding layer; re-routing at IG's interpolation points would make f discontinuous). Only the
answer positions' hidden states go through the LM head (no (T, V) logits).

The gradient methods ("input_x_gradient", "saliency") run each module ONCE per scored answer for all
readouts: the readouts share module passes (aggregated = invariant + routed domain), so one forward per
module with gradients and one backward per readout replace captum's forward-per-readout; the scores equal
captum's InputXGradient / Saliency (tested against them). Integrated gradients and feature ablation go
through captum.

Methods: "input_x_gradient", "saliency" (|gradient| summed over the embedding), "integrated_gradients"
(Gauss-Legendre steps; `progress(done, total)` fires per internal batch, and again between its forward and
backward with `done` unchanged (a job hands the lane over there too); its completeness error is judged
against the explained value f(x) - f(baseline): above `COMPLETENESS_TOLERANCE` a `CompletenessWarning`
says how to fix it) and "feature_ablation" (word-level: each whitespace-separated word is replaced by its
baseline at once; every token of a word carries the word's score).

Baselines (`BASELINES`): "scaled" (default: each prompt embedding dimmed to `SCALED` = 10% of itself),
"pad" (the pad token's embedding at every position) or "zeros". On integrated gradients' path the FIRST
token stays itself and so gets 0: it is the models' attention sink, whose massive activations make the
integrand spike when it is interpolated. Measured on iclm-k2 (bench/ig_completeness.py, docs/studio.md):
"The capital of France is" -> " Paris" at 32 steps misses completeness by 120-330% with the first token
interpolated and by 0.0-0.5% with it kept; on an ACRE prompt (136 tokens) at 32 steps the pad baseline
still misses by 4-40%, the scaled one by 1-2% (the path from a dimmed prompt is smooth: RMSNorm sees
the same directions all along). A zero baseline crosses RMSNorm's kink at 0 (scale invariance: f is flat
along the path until the very start) and needs many more steps.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from analysis import predict
from analysis.attribution_result import AttributionResult, CompletenessWarning, ModuleTarget
from analysis.attribution_targets import Continuation, Target, continuations, describe, longest
from analysis.attribution_words import word_groups
from iclm.readout import MODEL, Readout, from_label, label, modules_read, named, read_route, readout_logits

Method = Literal["input_x_gradient", "saliency", "integrated_gradients", "feature_ablation"]
METHODS: tuple[str, ...] = ("input_x_gradient", "saliency", "integrated_gradients", "feature_ablation")
GRADIENT_METHODS: tuple[str, ...] = ("input_x_gradient", "saliency")
Baseline = Literal["scaled", "pad", "zeros"]
BASELINES: tuple[str, ...] = ("scaled", "pad", "zeros")
SCALED = 0.1  # the "scaled" baseline: each prompt embedding at 10% of itself
#: Integrated gradients' default steps: the smallest of 16/32/64 that keeps the completeness error under 5%
#: of the explained value on iclm-k2, the 32-step model (worst readout 0.2%, 0.4%, 2.5% on a 5-, 136- and
#: 189-token prompt; 32 steps: up to 16.6%) and the shipped step-300 one (0.3%, 0.2%, 3.5%; 32 steps: up
#: to 13.9%), measured by bench/ig_completeness.py; docs/studio.md gives the table.
DEFAULT_IG_STEPS = 64


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


def _module_passes(model, readouts: Sequence[str], route: int) -> list[str]:
    """The module passes that `readouts` read, each once, in a fixed order (invariant before domain)."""
    needed: list[str] = []
    for module in readouts:
        wanted = modules_read(model.config, _readout(model, module), route)
        needed += [name for name in wanted if name is not None and name not in needed]
    return needed


def _states(model, names: Sequence[str], embeds: Tensor, setup: dict, prefix: tuple[int, ...]):
    """{module: states (B, A, H)} at the read positions of the answers that feed in `prefix` after the
    prompt: prompt embeds (B, T, H) up to `position`, then the prefix tokens' fixed embeddings."""
    position, batch = setup["position"], embeds.shape[0]
    ids = setup["ids"][:, : position + 1]  # (1, P)
    parts = [embeds[:, : position + 1]]
    if prefix:
        answer = torch.tensor([prefix], device=ids.device)  # (1, A - 1)
        ids = torch.cat([ids, answer], dim=1)
        parts.append(setup["answer_embeds"][prefix].expand(batch, -1, -1))
    ids = ids.expand(batch, -1)  # (B, L)
    holder = {"embeds": torch.cat(parts, dim=1)}  # (B, L, H)
    mask = torch.ones_like(ids)
    with _embeddings_replaced(model, holder):
        return {name: model.module_states(name, ids, mask)[:, position:] for name in names}  # (B, A, H)


def _answer_logprob(model, module: str, states: dict[str, Tensor], route: int, ids: tuple[int, ...]):
    """Summed log-probability (B,) of answer `ids` from the module states (B, A, H) at its positions."""
    readout = _readout(model, module)
    invariant, domain = modules_read(model.config, readout, route)
    logits = readout_logits(model, readout.field, states.get(invariant), states.get(domain))  # (B, A, V)
    logprobs = torch.log_softmax(logits[:, : len(ids)].float(), dim=-1)
    index = torch.tensor(ids, device=logprobs.device).expand(logprobs.shape[0], -1)[..., None]  # (B, A, 1)
    return logprobs.gather(-1, index)[..., 0].sum(-1)


def _top_token(model, module: str, states: dict[str, Tensor], route: int) -> int:
    readout = _readout(model, module)
    invariant, domain = modules_read(model.config, readout, route)
    logits = readout_logits(model, readout.field, states.get(invariant), states.get(domain))  # (B, A, V)
    return int(logits[0, 0].argmax())


def _f(model, module: str, embeds: Tensor, setup: dict, found: list[Continuation], cache=None) -> Tensor:
    """f (B,) of one readout: sum over the continuations of sign x log p(answer)."""
    route = setup["route"]
    names = _module_passes(model, [module], route)
    total = 0.0
    for cont in found:
        states = (
            cache(cont.prefix) if cache is not None else _states(model, names, embeds, setup, cont.prefix)
        )
        total = total + cont.sign * _answer_logprob(model, module, states, route, cont.ids)
    return total


def _readout_target(model, module: str, setup: dict, found: list[Continuation], value: float) -> ModuleTarget:
    decode = setup["tokenizer"].decode
    contrast = [c for c in found if c.sign < 0]
    route = _readout_route(model, module, setup["route"])
    return ModuleTarget(
        module, route, found[0].ids, decode(list(found[0].ids)), value,
        contrast[0].ids if contrast else None, decode(list(contrast[0].ids)) if contrast else None,
    )  # fmt: skip


def _own_targets(model, module: str, embeds: Tensor, setup: dict, found, cache=None) -> list[Continuation]:
    """The continuations of one readout: the target's, or (None) the readout's own top token (read from the
    shared, gradient-carrying states when `cache` is given, else from a no-grad pass)."""
    if found is not None:
        return found
    if cache is not None:
        return [Continuation((_top_token(model, module, cache(()), setup["route"]),))]
    with torch.no_grad():
        names = _module_passes(model, [module], setup["route"])
        states = _states(model, names, embeds, setup, ())
        return [Continuation((_top_token(model, module, states, setup["route"]),))]


def _scores(method: str, func, embeds: Tensor, setup: dict) -> Tensor:
    """Attribution scores (T,) of func: embeds (1, T, H) -> (1,) for one captum method."""
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients, Saliency

    embeds = embeds.clone().requires_grad_(method != "feature_ablation")
    if method == "input_x_gradient":
        return InputXGradient(func).attribute(embeds)[0].sum(-1)
    if method == "saliency":
        return Saliency(func).attribute(embeds, abs=True)[0].sum(-1)
    if method == "integrated_gradients":
        ig = IntegratedGradients(func)
        attr = ig.attribute(
            embeds, baselines=setup["path_base"], n_steps=setup["n_steps"],
            internal_batch_size=setup["batch"], method="gausslegendre",
        )  # fmt: skip
        return attr[0].sum(-1)
    words = setup["words"][None, :, None]  # (1, T, 1): one feature per word, broadcast over the embedding
    return FeatureAblation(func).attribute(embeds, baselines=setup["base"], feature_mask=words)[0, :, 0]


def _attribute_module(model, module: str, setup: dict, found, tick):
    """-> (scores (T,), ModuleTarget) of one readout through captum."""
    own = _own_targets(model, module, setup["embeds"], setup, found)

    def func(embeds: Tensor) -> Tensor:  # (B, T, H) -> (B,) f
        tick(embeds.shape[0])
        value = _f(model, module, embeds, setup, own)
        tick(0)  # the backward that follows is ~2/3 of an IG step: a waiting request may go first
        return value

    m = setup["method"]
    scores = _scores(m, func, setup["embeds"], setup)
    with torch.no_grad():
        value = float(_f(model, module, setup["embeds"], setup, own)[0])
    target = _readout_target(model, module, setup, own, value)
    if m == "integrated_gradients":
        with torch.no_grad():
            base_value = float(_f(model, module, setup["path_base"], setup, own)[0])
        delta = float(scores.detach().sum()) - (value - base_value)
        target = dataclasses.replace(target, baseline_logprob=base_value, delta=delta)
    return scores.detach(), target


def _gradient_attributions(model, chosen: Sequence[str], setup: dict, found, tick):
    """Gradient methods for every readout from one forward pass per module and scored answer -> {readout:
    (scores (T,), ModuleTarget)}."""
    route = setup["route"]
    embeds = setup["embeds"].clone().requires_grad_(True)  # (1, T, H)
    names = _module_passes(model, chosen, route)
    memo: dict[tuple[int, ...], dict[str, Tensor]] = {}

    def cache(prefix: tuple[int, ...]) -> dict[str, Tensor]:
        if prefix not in memo:
            memo[prefix] = _states(model, names, embeds, setup, prefix)
        return memo[prefix]

    results = {}
    with torch.enable_grad():
        for readout in chosen:
            own = _own_targets(model, readout, embeds, setup, found, cache)
            value = _f(model, readout, embeds, setup, own, cache)[0]
            tick(0)  # between this readout's forward and its backward: a waiting request may go first
            (grad,) = torch.autograd.grad(value, embeds, retain_graph=True)  # (1, T, H)
            tick(1)
            scores = (
                (grad * embeds).sum(-1)[0] if setup["method"] == "input_x_gradient" else grad.abs().sum(-1)[0]
            )
            target = _readout_target(model, readout, setup, own, float(value.detach()))
            results[readout] = (scores.detach(), target)
    return results


def _readout_route(model, module: str, route: int) -> int | None:
    """The domain module a readout reads (None: the invariant module alone)."""
    readout = _readout(model, module)
    return None if readout.field == "invariant_logits" else read_route(model.config, readout, route)


def _modules(model, modules: Sequence[str] | None) -> list[str]:
    valid = [label(MODEL.name), *model.module_names]
    chosen = list(modules) if modules is not None else valid
    bad = [m for m in chosen if m not in valid]
    if bad or not chosen:
        raise ValueError(f"modules={chosen} is invalid; choose from {valid}")
    return chosen


def _evaluations(method: str, n_steps: int, n_words: int) -> int:
    """Forward evaluations one readout costs (the unit of the progress callback)."""
    return {"integrated_gradients": n_steps, "feature_ablation": n_words + 1}.get(method, 1)


def _check(method: str, baseline: str, n_steps: int, internal_batch_size: int, prompt: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; choose one of {list(METHODS)}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline={baseline!r} is invalid; choose one of {list(BASELINES)}")
    if n_steps < 1 or internal_batch_size < 1:
        raise ValueError(f"n_steps={n_steps}, internal_batch_size={internal_batch_size}: both must be >= 1")
    if not prompt:
        raise ValueError("prompt is empty")


def _setup(model, tokenizer, ids: Tensor, position: int, baseline: str, found, domain_id) -> dict:
    """Routes, prompt and baseline embeddings, words and the answer prefixes' embeddings of one run."""
    device = ids.device
    embed = model.get_input_embeddings()
    with torch.no_grad():
        domains = None if domain_id is None else torch.tensor([domain_id], device=device)
        route = int(model.route(ids, torch.ones_like(ids), domain_ids=domains).routes[0])
        embeds = embed(ids).detach()  # (1, T, H)
        base = SCALED * embeds if baseline == "scaled" else torch.zeros_like(embeds)
        if baseline == "pad":
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            base = embed(torch.full_like(ids, pad)).detach()
        path_base = base.clone()
        path_base[:, 0] = embeds[:, 0]  # IG's path keeps the first token (the attention sink) itself
        prefixes = {c.prefix for c in found or ()} - {()}
        answer_embeds = {p: embed(torch.tensor([p], device=device)).detach() for p in prefixes}  # (1, A-1, H)
    words = torch.tensor(word_groups(tokenizer, ids[0].tolist()), device=device)
    return {
        "route": route, "position": position, "ids": ids, "embeds": embeds, "base": base,
        "path_base": path_base, "words": words,
        "answer_embeds": answer_embeds, "tokenizer": tokenizer,
    }  # fmt: skip


def attribute(
    model,
    tokenizer,
    prompt: str,
    *,
    method: Method = "input_x_gradient",
    modules: Sequence[str] | None = None,
    target: Target = None,
    position: int | None = None,
    n_steps: int = DEFAULT_IG_STEPS,
    internal_batch_size: int = 8,
    baseline: Baseline = "scaled",
    domain_id: int | None = None,
    max_length: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AttributionResult:
    """Attribute each readout's answer log-probability (or contrast) to the prompt tokens (module docstring).

    `target`: an answer string (its whole log-probability, tokenised as it follows the prompt), a token id,
    an `analysis.attribution_targets.Contrast`, or None (each readout's own top token). `position`: the
    token after which the answer is read (default: the last prompt token); tokens after it get exactly zero
    attribution. `progress(done, total)` counts forward evaluations over all readouts. `domain_id` is
    needed only by oracle routers. `baseline`: see the module docstring ("scaled" converges fastest on the
    shipped models). The prompt is cut from the left (BOS kept) to fit `max_length`
    (default: `predict.default_max_length`) with the longest target answer; inputs go to the model's
    device. Integrated gradients warns (`CompletenessWarning`, with `AttributionResult.advice`) when a
    readout's completeness error exceeds 5% of its explained value.
    """
    _check(method, baseline, n_steps, internal_batch_size, prompt)
    chosen = _modules(model, modules)
    found = continuations(tokenizer, prompt, target)
    model.eval()
    max_length = max_length or predict.default_max_length(model)
    ids = predict.prompt_ids(tokenizer, prompt, max_length, reserve=longest(found))
    ids = torch.tensor([ids], device=predict.model_device(model))  # (1, T)
    length = ids.shape[1]
    position = length - 1 if position is None else position
    if not 0 <= position < length:
        raise ValueError(f"position={position} is invalid; the prompt has {length} tokens")
    setup = _setup(model, tokenizer, ids, position, baseline, found, domain_id)
    setup |= {"method": method, "n_steps": n_steps, "batch": internal_batch_size}
    total = _evaluations(method, n_steps, int(setup["words"].max()) + 1) * len(chosen)
    done = [0]

    def tick(count: int) -> None:
        done[0] = min(done[0] + count, total)
        if progress is not None:
            progress(done[0], total)

    if method in GRADIENT_METHODS:
        computed = _gradient_attributions(model, chosen, setup, found, tick)
    else:
        computed = {module: _attribute_module(model, module, setup, found, tick) for module in chosen}
    token_texts = tuple(tokenizer.decode([int(i)]) for i in ids[0])
    frames, targets = [], {}
    for module in chosen:
        scores, targets[module] = computed[module]
        frames.append(_frame(token_texts, setup["words"], module, method, scores))
    steps = n_steps if method == "integrated_gradients" else None
    used = baseline if method in ("integrated_gradients", "feature_ablation") else None
    result = AttributionResult(
        method, token_texts, position, setup["route"], targets, pd.concat(frames, ignore_index=True),
        describe(target), steps, used,
    )  # fmt: skip
    if (advice := result.advice()) is not None:
        warnings.warn(advice, CompletenessWarning, stacklevel=2)
    return result


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
