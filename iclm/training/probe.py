"""Training-dynamics metrics of a model on a FIXED probe set (same examples at every logging step).

`probe_loss` is the model's answer-token cross-entropy on the probe set (token-weighted): with probe files
that are not trained on (`data.probe`), it is the held-out learning curve.

Pooling: the last hidden states of each module are averaged over the ANSWER tokens (labels != -100),
the tokens the modules are trained on and where the MI penalty acts. Per domain module k the probe set
is compared with the invariant module on all probe examples (its states as `force_route=k` gives them), not
only on those the router happens to send it.

Cost (it runs every `log_every` steps): the model's own pass with `loss_only` (LM heads at the answer
positions only), the router's base pass once per probe example for the whole run (the base is frozen:
`RouterEmbeddingCache`), and per domain module only that module's pass. On SmolLM2 with K = 2 that is about
a third of the full forwards it replaced (natural + one force_route pass per domain, all heads everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from iclm.metrics.clusters import nmi, purity
from iclm.metrics.ksg import ksg_mi_first_pcs
from iclm.metrics.routing import codebook_perplexity, routing_fractions
from iclm.metrics.similarity import linear_cka, paired_mean_abs_correlation
from iclm.mi import batch_mi
from iclm.training.router_cache import RouterEmbeddingCache

MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "labels", "prompt_mask", "domain_ids")


@dataclass
class ProbeSet:
    """Collated probe batches (CPU tensors), the true dataset index of every example (N,), the dataset
    name of every example (N,; empty: names unknown), and the router embeddings of its prompts once computed
    (the frozen base gives the same ones at every probe)."""

    batches: list[dict[str, torch.Tensor]]
    labels: np.ndarray
    router_cache: RouterEmbeddingCache = field(default_factory=RouterEmbeddingCache)
    names: tuple[str, ...] = ()


def model_inputs(batch: dict, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """The keys of a collated batch that `ICLMForCausalLM.forward` takes, moved to `device`."""
    out = {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch and batch[k] is not None}
    return {k: v.to(device) for k, v in out.items()} if device is not None else out


def _pool(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """hidden (B, T, H), labels (B, T) -> (pooled (B, H) mean over answer tokens, tokens (N_tok, H)).
    The state at position t predicts token t+1, so answer token t+1 is read at position t."""
    mask = (labels[:, 1:] != -100).to(hidden.dtype)  # (B, T-1)
    states = hidden[:, :-1].float()  # (B, T-1, H)
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1).clamp(min=1)[:, None]
    return pooled, states[mask.bool()]


def _collect(model, probe: ProbeSet) -> dict[str, list]:
    """The model's own pass over the probe set: routes, answer-token loss, pooled module states. loss_only:
    the LM heads run at the answer positions only (all T x 49k positions cost more than the modules)."""
    device = next(model.parameters()).device
    got: dict[str, list] = {"routes": [], "inv": [], "inv_tok": [], "dom": [], "dom_tok": [], "lm": []}
    for batch in probe.batches:
        inputs = model_inputs(batch, device)
        extra = {}
        if model.config.has_router and model.router.needs_base_pass:
            extra["router_embeddings"] = probe.router_cache.embeddings(
                model,
                inputs["input_ids"],
                inputs["attention_mask"],
                inputs.get("prompt_mask"),
                inputs["labels"],
            )
        out = model(**inputs, loss_only=True, **extra)
        got["routes"].append(out.routes.detach().cpu())
        if out.loss_terms is not None:  # (summed answer-token loss, answer tokens) of the model's readout
            tokens = int((inputs["labels"][:, 1:] != -100).sum())
            got["lm"].append((float(out.loss_terms.lm) * tokens, tokens))
        for name, hidden in (("inv", out.invariant_hidden), ("dom", out.domain_hidden)):
            if hidden is not None:
                pooled, tokens = _pool(hidden.detach(), inputs["labels"])
                got[name].append(pooled.cpu())
                got[name + "_tok"].append(tokens.cpu())
    return got


def _forced_domain(model, probe: ProbeSet, domain: int) -> dict[str, list]:
    """Pooled states of domain module `domain` on every probe example (what a forward with
    force_route=domain gives as domain_hidden): only that module runs; the invariant states of the model's
    own pass are the invariant's on every route."""
    device = next(model.parameters()).device
    got: dict[str, list] = {"dom": [], "dom_tok": []}
    for batch in probe.batches:
        inputs = model_inputs(batch, device)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        routes = torch.full((ids.shape[0],), domain, dtype=torch.long, device=ids.device)
        pooled, tokens = _pool(model.domain_states(ids, mask, routes), inputs["labels"])
        got["dom"].append(pooled.cpu())
        got["dom_tok"].append(tokens.cpu())
    return got


def _pairwise(inv: dict, dom: dict) -> dict[str, float]:
    x, y = torch.cat(inv["inv"]).numpy(), torch.cat(dom["dom"]).numpy()
    return {
        "mi_batch": float(batch_mi(torch.cat(inv["inv_tok"]), torch.cat(dom["dom_tok"]))),
        "mi_ksg": ksg_mi_first_pcs(x, y),
        "cka": linear_cka(x, y) if len(x) >= 2 else 0.0,  # one probe example: centred states are 0
        "pearson": paired_mean_abs_correlation(x, y),
    }


@torch.no_grad()
def probe_metrics(model, probe: ProbeSet) -> dict:
    """All probe-set metrics as one flat-ish dict (nested dicts keyed by module name `domain_k`)."""
    config = model.config
    was_training = model.training
    model.eval()
    try:
        natural = _collect(model, probe)
        routes = torch.cat(natural["routes"]).numpy()
        k = config.num_domains
        record: dict = {"probe_routing_fraction": _by_module(routing_fractions(routes, k))}
        if probe.names:  # how the router assigns each dataset (old vs new ones, in an extension run)
            record["probe_routing_by_dataset"] = routing_by_dataset(routes, probe.names, k)
        tokens = sum(n for _, n in natural["lm"])
        if tokens:  # the held-out learning curve when the probe set comes from held-out files
            record["probe_loss"] = sum(total for total, _ in natural["lm"]) / tokens
        if config.has_router:
            record["codebook_perplexity"] = codebook_perplexity(routes, k)
            record["router_purity"] = purity(routes, probe.labels)
            record["router_nmi"] = nmi(routes, probe.labels)
        if config.has_invariant:
            pairs = {f"domain_{d}": _pairwise(natural, _forced_domain(model, probe, d)) for d in range(k)}
            for name in ("mi_batch", "mi_ksg", "cka", "pearson"):
                record[name] = {module: values[name] for module, values in pairs.items()}
    finally:
        model.train(was_training)
    return record


def routing_by_dataset(routes: np.ndarray, names: tuple[str, ...], k: int) -> dict[str, dict[str, float]]:
    """{dataset: {domain_k: share of its probe examples routed to k}}."""
    found: dict[str, dict[str, float]] = {}
    names_array = np.asarray(names)
    for name in sorted(set(names)):
        found[name] = _by_module(routing_fractions(routes[names_array == name], k))
    return found


def _by_module(values: list[float]) -> dict[str, float]:
    return {f"domain_{k}": v for k, v in enumerate(values)}
