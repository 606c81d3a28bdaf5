"""Training-dynamics metrics of a model on a FIXED probe set (same examples at every logging step).

`probe_loss` is the model's answer-token cross-entropy on the probe set (token-weighted): with probe files
that are not trained on (`data.probe`), it is the held-out learning curve.

Pooling: the last hidden states of each module are averaged over the ANSWER tokens (labels != -100),
the tokens the modules are trained on and where the MI penalty acts. Per domain module k the probe set
is run with `force_route=k`, so every domain module is compared with the invariant module on all
probe examples, not only on those the router happens to send it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from iclm.metrics.clusters import nmi, purity
from iclm.metrics.ksg import ksg_mi_first_pcs
from iclm.metrics.routing import codebook_perplexity, routing_fractions
from iclm.metrics.similarity import linear_cka, paired_mean_abs_correlation
from iclm.mi import batch_mi

MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "labels", "prompt_mask", "domain_ids")


@dataclass
class ProbeSet:
    """Collated probe batches (CPU tensors) and the true dataset index of every example (N,)."""

    batches: list[dict[str, torch.Tensor]]
    labels: np.ndarray


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


def _collect(model, probe: ProbeSet, force_route: int | None) -> dict[str, list]:
    device = next(model.parameters()).device
    got: dict[str, list] = {"routes": [], "inv": [], "inv_tok": [], "dom": [], "dom_tok": [], "lm": []}
    for batch in probe.batches:
        inputs = model_inputs(batch, device)
        out = model(**inputs, force_route=force_route)
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
        natural = _collect(model, probe, force_route=None)
        routes = torch.cat(natural["routes"]).numpy()
        k = config.num_domains
        record: dict = {"probe_routing_fraction": _by_module(routing_fractions(routes, k))}
        tokens = sum(n for _, n in natural["lm"])
        if tokens:  # the held-out learning curve when the probe set comes from held-out files
            record["probe_loss"] = sum(total for total, _ in natural["lm"]) / tokens
        if config.has_router:
            record["codebook_perplexity"] = codebook_perplexity(routes, k)
            record["router_purity"] = purity(routes, probe.labels)
            record["router_nmi"] = nmi(routes, probe.labels)
        if config.has_invariant:
            pairs = {f"domain_{d}": _pairwise(natural, _collect(model, probe, d)) for d in range(k)}
            for name in ("mi_batch", "mi_ksg", "cka", "pearson"):
                record[name] = {module: values[name] for module, values in pairs.items()}
    finally:
        model.train(was_training)
    return record


def _by_module(values: list[float]) -> dict[str, float]:
    return {f"domain_{k}": v for k, v in enumerate(values)}
