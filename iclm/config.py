"""ICLM configuration: frozen typed sub-configs composed into one `ICLMConfig` (a transformers config).

Sub-configs are stored as plain dicts in ``config.json`` and rebuilt (and validated) on load. Every
invalid value raises ``ValueError`` naming the field and the value; unknown keys are rejected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from transformers import PretrainedConfig

from iclm.aggregation import AGGREGATIONS
from iclm.checkpoint_format import MODEL_TYPE, variant_has_invariant, variant_has_router
from iclm.routers import router_kind
from iclm.validation import check_choice, check_number, check_registered

Variant = Literal["iclm", "no_invariant", "baseline"]
Execution = Literal["sparse", "dense"]
Recompute = Literal["none", "invariant", "all"]

# Keys that transformers itself writes into / passes through config.json; accepted and handed to the base.
_HF_KEYS = frozenset(
    {
        "model_type",
        "transformers_version",
        "architectures",
        "dtype",
        "torch_dtype",
        "name_or_path",
        "_name_or_path",
        "output_hidden_states",
        "output_attentions",
        "return_dict",
        "attn_implementation",
        "experts_implementation",
        "is_encoder_decoder",
        "chunk_size_feed_forward",
        "id2label",
        "label2id",
        "num_labels",
        "problem_type",
        "tie_word_embeddings",
        "use_cache",
        "auto_map",
        "_commit_hash",
        # transformers.Trainer writes the tokenizer's special ids into model.config (and so config.json)
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "sep_token_id",
        "decoder_start_token_id",
    }
)


# Documented upper bounds, checked before anything is allocated (a config.json naming K = 10**9 would
# otherwise build a billion adapters): K, LoRA rank, router projection size.
MAX_NUM_DOMAINS = 64
MAX_LORA_RANK = 1024
MAX_PROJECTION_DIM = 8192


def _from_dict(cls: type, name: str, value: Any) -> Any:
    """Build a sub-config from an instance, a dict (from JSON) or None (defaults); reject unknown keys."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{name}={value!r} is invalid; expected a {cls.__name__} or a dict")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; valid keys are {sorted(known)}")
    return cls(**value)


@dataclass(frozen=True)
class RouterConfig:
    """How inputs are assigned to domain modules.

    kind: a name in `iclm.routers.ROUTER_KINDS`: "vq" (trainable projector + VQ codebook), "kmeans"
    (centroids fitted once by init_router), "oracle" (route = the example's dataset id). projection_dim:
    size of the projected embedding the codebook lives in. beta: VQ-VAE commitment weight.
    """

    kind: str = "vq"
    projection_dim: int = 64
    beta: float = 0.25

    def __post_init__(self) -> None:
        router_kind(self.kind)  # ValueError listing the registered kinds
        check_number(
            "router.projection_dim", self.projection_dim, low=1, high=MAX_PROJECTION_DIM, integer=True
        )
        check_number("router.beta", self.beta, low=0.0)


@dataclass(frozen=True)
class AdapterConfig:
    """LoRA settings shared by the invariant and every domain adapter."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        check_number("adapters.r", self.r, low=1, high=MAX_LORA_RANK, integer=True)
        check_number("adapters.alpha", self.alpha, low=0, strict_low=True)
        check_number("adapters.dropout", self.dropout, low=0.0, high=1.0)
        if self.dropout == 1.0:
            raise ValueError(f"adapters.dropout={self.dropout!r} is invalid; expected 0 <= dropout < 1")
        modules = self.target_modules
        if isinstance(modules, str) or not isinstance(modules, list | tuple) or not modules:
            raise ValueError(
                f"adapters.target_modules={modules!r} is invalid; expected a non-empty list of names"
            )
        if not all(isinstance(m, str) and m for m in modules):
            raise ValueError(f"adapters.target_modules={modules!r} is invalid; every entry must be a name")
        object.__setattr__(self, "target_modules", tuple(modules))


@dataclass(frozen=True)
class LossWeights:
    """Weights of the five loss terms: total = sum(weight * term)."""

    lm: float = 1.0
    invariant: float = 0.1
    domain: float = 0.1
    routing: float = 0.1
    mi: float = 0.01

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_number(f"loss_weights.{f.name}", getattr(self, f.name), low=0.0)


_SUBCONFIGS: dict[str, type] = {
    "router": RouterConfig,
    "adapters": AdapterConfig,
    "loss_weights": LossWeights,
}


class ICLMConfig(PretrainedConfig):
    """Configuration of an `ICLMForCausalLM`; see docs/api.md for the meaning of every field.

    num_domains: K, 1 <= K <= MAX_NUM_DOMAINS (64); adapters.r <= MAX_LORA_RANK, router.projection_dim <=
    MAX_PROJECTION_DIM; every number must be finite (checked on load, before any adapter is built).
    variant: "iclm" (invariant + K domain adapters, aggregation, MI), "no_invariant" (K domain adapters +
    router, logits from the base LM head), "baseline" (one adapter "domain_0", no router).
    recompute: which passes recompute their activations during backward in training ("none", "invariant",
    "all"; iclm/recompute.py): less memory for more time; outputs and gradients are the same.
    recompute_share: the share of each recomputed pass's decoder layers that recompute (0 < share <= 1).
    """

    model_type = MODEL_TYPE

    num_domains: int = 2
    variant: str = "iclm"
    router: Any = None
    adapters: Any = None
    loss_weights: Any = None
    aggregation: str = "projected"
    execution: str = "sparse"
    recompute: str = "none"
    recompute_share: float = 1.0
    backbone: str = "tiny"
    dataset_names: list = field(default_factory=list)

    def __post_init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _HF_KEYS)
        if unknown:
            raise ValueError(f"ICLMConfig got unknown keys {unknown}")
        for name, cls in _SUBCONFIGS.items():
            object.__setattr__(self, name, _from_dict(cls, name, getattr(self, name)))
        self._validate_top_level()
        super().__post_init__(**kwargs)

    def _validate_top_level(self) -> None:
        check_number("num_domains", self.num_domains, low=1, high=MAX_NUM_DOMAINS, integer=True)
        check_choice("variant", self.variant, Variant)
        check_registered("aggregation", self.aggregation, AGGREGATIONS)
        check_choice("execution", self.execution, Execution)
        check_choice("recompute", self.recompute, Recompute)
        check_number("recompute_share", self.recompute_share, low=0.0, high=1.0, strict_low=True)
        if self.recompute == "invariant" and not self.has_invariant:
            raise ValueError(
                f"recompute='invariant' is invalid with variant={self.variant!r}: only variant='iclm' has an "
                "invariant pass; use 'all' or 'none'"
            )
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ValueError(
                f"backbone={self.backbone!r} is invalid; expected a backbone name, folder or hub id"
            )
        names = self.dataset_names
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"dataset_names={names!r} is invalid; expected a list of strings")
        self.dataset_names = list(names)
        if not self.has_router:  # a single-LoRA model: K follows from the variant
            self.num_domains = 1

    @property
    def has_invariant(self) -> bool:
        """The always-on invariant module, and with it the aggregation and the MI term (variant "iclm")."""
        return variant_has_invariant(self.variant)

    @property
    def has_router(self) -> bool:
        """Examples are routed among K domain modules (every variant but the single-LoRA "baseline")."""
        return variant_has_router(self.variant)

    @property
    def module_names(self) -> list[str]:
        """Adapter names in order: ["invariant", "domain_0", ...] (no "invariant" unless variant="iclm")."""
        domains = [f"domain_{k}" for k in range(self.num_domains)]
        return (["invariant"] if self.has_invariant else []) + domains

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        for name in _SUBCONFIGS:
            value = getattr(self, name)
            output[name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            if name == "adapters":
                output[name]["target_modules"] = list(output[name]["target_modules"])
        return output


# ICLMConfig's own fields (not transformers' PretrainedConfig ones), in declaration order: the keys a
# training YAML's `model` section may name (iclm.training.config reads that section straight into ICLMConfig).
ICLM_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(ICLMConfig) if f.name in vars(ICLMConfig).get("__annotations__", {})
)
SUBCONFIG_FIELDS: tuple[str, ...] = tuple(_SUBCONFIGS)
