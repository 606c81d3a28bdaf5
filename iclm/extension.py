"""Continual learning with independent mechanisms: add a domain module for a new task and decide what stays.

`add_domain(model, embeddings)` grows a trained ICLM by one domain: a fresh LoRA adapter `domain_K` (LoRA's
B = 0, so the new module starts as the base model) and one router code, placed at the mean projected router
embedding of the new task's prompts (where k-means would put the centre of a cluster of its own). K grows by
one in the config, so the extended model saves and loads as any checkpoint (the format is unchanged).

`freeze_for_extension(model, plan, new_domain)` then sets what trains on the new task:
- the old domain adapters never train (their tensors stay bit-identical);
- the router's projector and its old codes never train either (a gradient mask on the codebook rows), so
  an old example keeps its distances to the old codes; only the new code moves, by the VQ loss;
- the invariant module is `frozen`, `trained`, or `anchored`: trained with a penalty pulling it to its
  old weights, `l2` (sum of squared changes) or `ewc` (each change weighted by the diagonal Fisher
  information of the old data, Kirkpatrick et al. 2017);
- the aggregation trains only with `train_aggregation` (it reads every module: training it moves the
  old tasks' outputs even with every module frozen).

A checkpoint made this way records its lineage (`lineage.json`: the parent, what was added, what was frozen,
the parent's own lineage), read back by `read_lineage`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from iclm.json_files import JsonFileError, read_json_object
from iclm.validation import check_choice, check_flag, check_number

if TYPE_CHECKING:
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

InvariantMode = Literal["frozen", "trained", "anchored"]
AnchorKind = Literal["l2", "ewc"]
LINEAGE_FILE = "lineage.json"


@dataclass(frozen=True)
class ExtensionPlan:
    """What trains when a domain is added (see the module docstring). `anchor_weight` scales the anchor
    penalty (used with invariant="anchored"); `replay` old examples are mixed into the new task's data."""

    invariant: InvariantMode = "frozen"
    anchor: AnchorKind = "l2"
    anchor_weight: float = 1.0
    train_aggregation: bool = False
    replay: int = 0

    def __post_init__(self) -> None:
        check_choice("extension.invariant", self.invariant, InvariantMode)
        check_choice("extension.anchor", self.anchor, AnchorKind)
        check_number("extension.anchor_weight", self.anchor_weight, low=0.0)
        check_flag("extension.train_aggregation", self.train_aggregation)
        check_number("extension.replay", self.replay, low=0, integer=True)


def check_extensible(config: ICLMConfig) -> None:
    """ValueError unless the model has a router with codes to extend (a baseline has one adapter and no
    router: fine-tune it on the new task instead; an oracle's routes are dataset ids, not codes)."""
    from iclm.routers import router_kind

    if not config.has_router:
        raise ValueError(
            f"variant={config.variant!r} has no router to extend; fine-tune it on the new task instead "
            "(python -m iclm train with the new data)"
        )
    if router_kind(config.router.kind).needs_domain_ids:
        raise ValueError(
            f"router.kind={config.router.kind!r} routes by dataset id: add_domain extends routers with "
            "codes (vq, kmeans)"
        )


def check_sequential(config: ICLMConfig) -> None:
    """ValueError for a model that cannot be fine-tuned on a new task as it is: an oracle router routes by
    the training datasets' ids, and a new task's dataset has none."""
    from iclm.routers import router_kind

    if config.has_router and router_kind(config.router.kind).needs_domain_ids:
        raise ValueError(
            f"router.kind={config.router.kind!r} routes by training dataset id: a new task's dataset has "
            "none, so it cannot be fine-tuned on one"
        )


@torch.no_grad()
def add_domain(model: ICLMForCausalLM, embeddings: Tensor, seed: int | None = None) -> int:
    """Add domain adapter `domain_K` and router code K (at the mean of `embeddings`' projections: the new
    task's router embeddings (N, H), N >= 1); returns K, the new domain's index. In place."""
    from iclm import adapters as adapter_ops

    check_extensible(model.config)
    if embeddings.dim() != 2 or embeddings.shape[0] < 1:
        raise ValueError(
            f"add_domain needs router embeddings (N, H) of the new task, got {tuple(embeddings.shape)}"
        )
    new = model.config.num_domains
    name = f"domain_{new}"
    if name in model.config.module_names:
        raise ValueError(f"the model already has a module named {name!r}")
    model._lora_layers = adapter_ops.inject_adapters(
        model.base, [name], model.config.adapters, seed=new if seed is None else seed
    )
    router = model.router
    code = router.project(embeddings.to(router.projector.weight.device)).float().mean(dim=0)
    codebook = torch.cat([router.codebook.data, code.to(router.codebook.dtype).unsqueeze(0)])
    router.codebook = torch.nn.Parameter(codebook, requires_grad=router.codebook.requires_grad)
    router.num_domains = new + 1
    model.config.num_domains = new + 1
    return new


def _codebook_mask(rows: int, trainable_row: int) -> Tensor:
    mask = torch.zeros(rows, 1)
    mask[trainable_row] = 1.0
    return mask


def freeze_for_extension(model: ICLMForCausalLM, plan: ExtensionPlan, new_domain: int) -> list[str]:
    """Set requires_grad for training the added domain under `plan`; returns the trainable parameter names.
    The codebook keeps requires_grad (the new row trains) behind a hook that zeroes its old rows' gradient."""
    new_name = f"domain_{new_domain}"
    trainable_modules = {new_name} | ({"invariant"} if plan.invariant != "frozen" else set())
    for param_name, param in model.named_parameters():
        lora_of = _lora_adapter_name(param_name)
        if lora_of is not None:
            param.requires_grad_(lora_of in trainable_modules)
        elif param_name.startswith("aggregation."):
            param.requires_grad_(plan.train_aggregation)
        elif param_name == "router.codebook":
            param.requires_grad_(model.router.learns)
        else:
            param.requires_grad_(False)
    codebook = model.router.codebook
    if codebook.requires_grad:
        mask = _codebook_mask(codebook.shape[0], new_domain).to(codebook.device, codebook.dtype)
        codebook.register_hook(lambda grad: grad * mask)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def _lora_adapter_name(param_name: str) -> str | None:
    """'...q_proj.lora_A.domain_2.weight' -> 'domain_2'; None for a non-LoRA parameter."""
    parts = param_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.startswith("lora_"):
            return parts[i + 1]
    return None


def invariant_parameters(model: ICLMForCausalLM) -> dict[str, Tensor]:
    """{name: parameter} of the invariant module's LoRA tensors."""
    return {n: p for n, p in model.named_parameters() if _lora_adapter_name(n) == "invariant"}


class AnchorPenalty:
    """weight * sum_i w_i (theta_i - theta*_i)^2 over the invariant module's tensors, theta* their values
    when the extension started; w = 1 (l2) or the diagonal Fisher information of the old data (ewc)."""

    def __init__(self, model: ICLMForCausalLM, weight: float, fisher: dict[str, Tensor] | None = None):
        self.params = invariant_parameters(model)
        if not self.params:
            raise ValueError(f"variant={model.config.variant!r} has no invariant module to anchor")
        self.reference = {n: p.detach().clone() for n, p in self.params.items()}
        self.fisher = fisher
        self.weight = weight

    def __call__(self) -> Tensor:
        total = next(iter(self.params.values())).new_zeros((), dtype=torch.float32)
        for name, param in self.params.items():
            change = (param.float() - self.reference[name].float()).pow(2)
            if self.fisher is not None:
                change = change * self.fisher[name].to(change.device)
            total = total + change.sum()
        return self.weight * total


def fisher_diagonal(model: ICLMForCausalLM, batches: Iterable[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Mean squared gradient of the LM loss per invariant tensor over old-data batches (the empirical
    diagonal Fisher). The model's training mode and gradients are restored."""
    params = invariant_parameters(model)
    was_training, grad_flags = model.training, {n: p.requires_grad for n, p in params.items()}
    sums = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    count = 0
    model.eval()
    for param in params.values():
        param.requires_grad_(True)
    try:
        for batch in batches:
            model.zero_grad(set_to_none=True)
            inputs = {
                k: batch[k] for k in ("input_ids", "attention_mask", "labels", "prompt_mask") if k in batch
            }
            out = model(**inputs, loss_only=True)
            out.loss_terms.lm.backward()
            for name, param in params.items():
                if param.grad is not None:
                    sums[name] += param.grad.detach().float().pow(2)
            count += 1
    finally:
        model.zero_grad(set_to_none=True)
        for name, param in params.items():
            param.requires_grad_(grad_flags[name])
        model.train(was_training)
    if count == 0:
        raise ValueError("fisher_diagonal needs at least one batch of old-task data")
    return {n: s / count for n, s in sums.items()}


@dataclass(frozen=True)
class Lineage:
    """Where an extended checkpoint came from. `parent`: the checkpoint it was extended from;
    `added_domain`: the new module's and code's index (None for a sequential fine-tuning, which adds
    nothing); `datasets`: the new task's datasets; `frozen`: what did not train; `plan`: the
    ExtensionPlan as written ({"sequential": true, "replay": N} for a sequential fine-tuning); `steps`:
    optimizer steps on the new task; `ancestors`: the parent's own lineage records, oldest first."""

    parent: str
    added_domain: int | None
    datasets: tuple[str, ...]
    frozen: tuple[str, ...]
    plan: dict[str, Any]
    steps: int
    ancestors: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["datasets"], record["frozen"] = list(self.datasets), list(self.frozen)
        record["ancestors"] = list(self.ancestors)
        return record


def frozen_modules(config: ICLMConfig, plan: ExtensionPlan, new_domain: int) -> tuple[str, ...]:
    """What does not train when `new_domain` is added under `plan` (what `freeze_for_extension` leaves
    frozen, by name): the old domain adapters, the router's projector and old codes (all codes for a
    router that does not learn), the invariant module unless it trains, the aggregation unless it trains."""
    from iclm.routers import router_kind

    frozen = [f"domain_{k}" for k in range(new_domain)]
    if config.has_invariant and plan.invariant == "frozen":
        frozen.insert(0, "invariant")
    frozen.append("router.projector")
    frozen.append(
        f"router.codes[0:{new_domain}]" if router_kind(config.router.kind).learns else "router.codes"
    )
    if config.has_invariant and not plan.train_aggregation:
        frozen.append("aggregation")
    return tuple(frozen)


def write_lineage(folder: str | os.PathLike, lineage: Lineage) -> Path:
    """Write `lineage.json` into the checkpoint folder (atomically)."""
    path = Path(folder) / LINEAGE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(lineage.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_lineage(folder: str | os.PathLike) -> Lineage | None:
    """The lineage of a checkpoint folder; None for a checkpoint trained from scratch (no lineage.json).
    A lineage.json that is unreadable or lacks a field is a JsonFileError naming it."""
    path = Path(folder) / LINEAGE_FILE
    if not path.exists():
        return None
    raw = read_json_object(path, "lineage")
    try:
        return Lineage(
            parent=str(raw["parent"]),
            added_domain=None if raw["added_domain"] is None else int(raw["added_domain"]),
            datasets=tuple(str(d) for d in raw["datasets"]),
            frozen=tuple(str(m) for m in raw["frozen"]),
            plan=dict(raw["plan"]),
            steps=int(raw["steps"]),
            ancestors=tuple(dict(a) for a in raw.get("ancestors", [])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise JsonFileError(f"{path}: not a lineage record ({type(error).__name__}: {error})") from error
