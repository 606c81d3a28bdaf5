"""ICLMForCausalLM: one frozen base, LoRA adapters `invariant` and `domain_0..K-1`, a router, an aggregation.

forward = routes (`iclm.forward_routes`: base with adapters off -> prompt-mean embedding -> router; an
`Intervention` may force or shift the routes) -> _run_modules (invariant on the whole batch; each example's
routed domain adapter, one pass per non-empty route group) -> `iclm.readout.output_logits` (the aggregation)
-> `iclm.losses.loss_terms`. A `packed` batch (iclm/packing.py: examples sharing a context in one row) takes
the same steps on its rows with a 4D mask and position ids (`iclm.packed_passes`). The body is public for
code that reads module states without a full forward (evaluation, analysis): `module_states` (one adapter's
last hidden states, or the base's), `domain_states` (the routed domain passes) and `aggregate`. Save/load
lives in iclm/checkpoint.py, what each generation step is fed in iclm/generation.py.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import GenerationMixin, PreTrainedModel

from iclm import adapters as adapter_ops
from iclm import recompute as recompute_ops
from iclm.aggregation import build_aggregation
from iclm.backbone import Backbone, load_backbone
from iclm.config import ICLMConfig
from iclm.forward_routes import forward_routes
from iclm.generation import generation_inputs, keep_routes
from iclm.interventions import Intervention, from_keywords
from iclm.losses import loss_terms
from iclm.outputs import ICLMOutput
from iclm.packed_passes import packed_router_embeddings, run_packed_modules
from iclm.packing import PackedBatch, check_packed
from iclm.readout import output_logits
from iclm.router import CodebookUsage, Router, RouterOutput, codebook_usage, pool_prompt


class ICLMForCausalLM(PreTrainedModel, GenerationMixin):
    """Independent causal language modules on a shared frozen Hugging Face causal LM."""

    config_class = ICLMConfig
    base_model_prefix = "base"
    main_input_name = "input_ids"

    def __init__(self, config: ICLMConfig, backbone: Backbone | None = None) -> None:
        """Builds base + adapters + router + aggregation. A given backbone's model is modified in place."""
        super().__init__(config)
        backbone = backbone if backbone is not None else load_backbone(config.backbone)
        self.tokenizer = backbone.tokenizer
        self.base = backbone.model
        self.base.requires_grad_(False)
        self._lora_layers = adapter_ops.inject_adapters(self.base, self.module_names, config.adapters)
        self._checkpoint_layers = []  # the decoder layers that recompute in backward (config.recompute)
        if config.recompute != "none":
            layers = recompute_ops.install(self.base, self._lora_layers)
            self._checkpoint_layers = recompute_ops.spread(layers, config.recompute_share)
        text_config = self.base.config.get_text_config()
        hidden = text_config.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.router = Router(hidden, config.num_domains, config.router)
            self.aggregation = None
            if config.has_invariant:
                lm_weight = self.base.get_output_embeddings().weight.detach()
                self.aggregation = build_aggregation(config.aggregation, hidden, lm_weight)
        if not config.has_router:
            self.router.requires_grad_(False)
        self.router.to(self.base.dtype)
        self._set_generation_tokens()

    @classmethod
    def from_config_and_backbone(
        cls, config: ICLMConfig, backbone: Backbone | None = None
    ) -> ICLMForCausalLM:
        """A fresh ICLM (adapters at their LoRA initialisation: the model starts as the base model)."""
        return cls(config, backbone)

    def _set_generation_tokens(self) -> None:
        tok = self.tokenizer
        self.generation_config.pad_token_id = tok.pad_token_id
        self.generation_config.eos_token_id = tok.eos_token_id
        self.generation_config.bos_token_id = tok.bos_token_id

    @property
    def module_names(self) -> list[str]:
        """["invariant", "domain_0", ...] for iclm; ["domain_0", ...] for no_invariant and baseline."""
        return self.config.module_names

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Adapters, router (vq) and aggregation parameters; base weights are frozen."""
        return [p for p in self.parameters() if p.requires_grad]

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.base.get_input_embeddings()

    # ---------------------------------------------------------------- routing
    @torch.no_grad()
    def router_embeddings(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, prompt_mask: Tensor | None = None
    ) -> Tensor:
        """Mean of the frozen base's last hidden states over prompt tokens: (B, T) -> (B, H). Cacheable."""
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        prompt_mask = (
            attention_mask.bool() if prompt_mask is None else prompt_mask.bool() & attention_mask.bool()
        )
        with adapter_ops.adapters_disabled(self._lora_layers):
            hidden = self._decode(None, input_ids, attention_mask, None)[0]  # (B, T, H)
        return pool_prompt(hidden, prompt_mask)

    def packed_router_embeddings(self, packed: PackedBatch) -> Tensor:
        """Router embeddings (S, H) of a packed batch's examples (`iclm.packed_passes`): one base pass over
        the rows, each example pooling its row's context + its own query, as `router_embeddings` would."""
        return packed_router_embeddings(self, packed)

    def route(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        prompt_mask: Tensor | None = None,
        domain_ids: Tensor | None = None,
        embeddings: Tensor | None = None,
    ) -> RouterOutput:
        """Routes (B,) for a batch; pass `embeddings` (B, H) to skip the base pass (cached embeddings)."""
        if embeddings is None:
            embeddings = self.router_embeddings(input_ids, attention_mask, prompt_mask)
        if not self.config.has_router:
            batch = embeddings.shape[0]
            zeros = embeddings.new_zeros(())
            routes = torch.zeros(batch, dtype=torch.long, device=embeddings.device)
            projected = self.router.project(embeddings)
            return RouterOutput(routes, embeddings, projected, embeddings.new_zeros(batch, 1), zeros)
        return self.router(embeddings, domain_ids)

    @torch.no_grad()
    def init_router(self, embeddings: Tensor) -> None:
        """k-means initialisation of the VQ codebook / fit of the k-means router on embeddings (N, H)."""
        self.router.init(embeddings)

    def codebook_usage(self, routes: Tensor) -> CodebookUsage:
        """Counts, fractions, perplexity and dead codes of routes (N,)."""
        return codebook_usage(routes, self.config.num_domains)

    def add_domain(self, embeddings: Tensor, seed: int | None = None) -> int:
        """Grow by one domain for a new task whose router embeddings (N, H) are given: a fresh adapter
        `domain_K` and router code K; returns K (continual learning: `iclm.extension`)."""
        from iclm.extension import add_domain

        return add_domain(self, embeddings, seed=seed)

    # ---------------------------------------------------------------- modules
    def module_states(
        self,
        name: str | None,
        input_ids: Tensor,
        attention_mask: Tensor,
        cache: Any = None,
        position_ids: Tensor | None = None,
    ) -> Tensor:
        """Last hidden states (B, T, H) of module `name` ("invariant", "domain_k"; None: the frozen base with
        every adapter off, the router's view) on input_ids (B, T). With a KV cache (a transformers Cache,
        extended in place) input_ids are the new tokens and attention_mask (B, past + T) covers past and new;
        positions follow the 2D mask unless position_ids (B, T) are given (a packed batch's 4D mask)."""
        if name is None:
            with adapter_ops.adapters_disabled(self._lora_layers):
                return self._decode(None, input_ids, attention_mask, cache, position_ids)[0]
        return self._decode(name, input_ids, attention_mask, cache, position_ids)[0]

    def aggregate(self, invariant: Tensor, domain: Tensor) -> Tensor:
        """The aggregation's logits (..., V) of invariant and domain states (..., H) (variant "iclm"); a
        readout with a dropped module passes zeros for it (`iclm.readout.readout_logits`)."""
        if self.aggregation is None:
            raise ValueError(
                f"aggregate needs variant='iclm' (got {self.config.variant!r}): "
                "without an invariant module the output is the domain module's logits"
            )
        return self.aggregation(invariant, domain, self.base.get_output_embeddings())

    def _decode(
        self,
        name: str | None,
        input_ids: Tensor,
        attention_mask: Tensor,
        cache: Any,
        position_ids: Tensor | None = None,
    ) -> tuple[Tensor, Any]:
        """Run the base decoder with adapter `name` active: -> last hidden states (B, T, H), cache. Positions
        follow the 2D attention_mask unless given (a packed batch's 4D mask comes with its position ids)."""
        if name is not None:
            adapter_ops.activate(self._lora_layers, name)
        if position_ids is None:
            past = 0 if cache is None else cache.get_seq_length()
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)[:, past:]  # (B, T)
        with recompute_ops.recomputing(self._checkpoint_layers, self._recomputes(name, cache)):
            out = self.base.base_model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=cache is not None,
            )
        return out.last_hidden_state, cache

    def _recomputes(self, name: str | None, cache: Any) -> bool:
        """Whether the pass through adapter `name` recomputes its activations in backward (config.recompute):
        only in training with gradients on and no KV cache (the router's no-grad pass never does)."""
        if not self._checkpoint_layers or name is None or cache is not None:
            return False
        if not (self.training and torch.is_grad_enabled()):
            return False
        return self.config.recompute == "all" or name == "invariant"

    def domain_states(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        routes: Tensor,
        cache: adapter_ops.ICLMCache | None = None,
        position_ids: Tensor | None = None,
    ) -> Tensor:
        """Each example's routed domain module's last hidden states (B, T, H) for routes (B,): sparse = one
        pass per non-empty route group; dense = every adapter on every example, combined with the one-hot
        routing weights. cache: an ICLMCache (one cache per domain); position_ids as `module_states`."""
        batch, length = input_ids.shape
        if self.config.execution == "dense":
            weights = F.one_hot(routes, self.config.num_domains).to(self.base.dtype)  # (B, K)
            hidden = None
            for k in range(self.config.num_domains):
                sub_cache = None if cache is None else cache.domain(k)
                h_k = self._decode(f"domain_{k}", input_ids, attention_mask, sub_cache, position_ids)[0]
                term = weights[:, k, None, None] * h_k
                hidden = term if hidden is None else hidden + term
            return hidden
        # One pass per route group. peft's mixed-batch LoRA (one pass, `adapter_names` per row) was tried and
        # measured worse for training (one bench/train_step.py worker run at 8 x 256, K = 4: 23.8 s, 7.5 GiB
        # against 22.7 s, 6.7 GiB): it copies each adapter's rows out of the input separately for q, k and v,
        # and keeps every copy for backward.
        hidden = None
        for k in torch.unique(routes).tolist():
            idx = torch.nonzero(routes == k).flatten()  # examples routed to k
            sub_cache = None if cache is None else cache.domain(k)
            positions = None if position_ids is None else position_ids[idx]
            h_k = self._decode(f"domain_{k}", input_ids[idx], attention_mask[idx], sub_cache, positions)[0]
            if hidden is None:
                hidden = h_k.new_zeros(batch, length, h_k.shape[-1])
            hidden = hidden.index_copy(0, idx, h_k)  # scatter back, (B, T, H)
        return hidden

    def _run_modules(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        routes: Tensor,
        intervention: Intervention,
        cache: Any,
    ) -> tuple[Tensor | None, Tensor | None]:
        """-> (invariant states or None, domain states or None), each (B, T, H); a dropped module is not
        run."""
        invariant = None
        if self.config.has_invariant and intervention.keeps("invariant"):
            sub_cache = None if cache is None else cache.invariant
            invariant = self.module_states("invariant", input_ids, attention_mask, sub_cache)
        domain = None
        if intervention.keeps("domain"):
            domain = self.domain_states(input_ids, attention_mask, routes, cache)
        return invariant, domain

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        prompt_mask: Tensor | None = None,
        domain_ids: Tensor | None = None,
        force_route: int | None = None,
        drop_module: str | None = None,
        routes: Tensor | None = None,
        past_key_values: adapter_ops.ICLMCache | None = None,
        use_cache: bool | None = None,
        router_embeddings: Tensor | None = None,
        loss_only: bool = False,
        packed: PackedBatch | None = None,
        intervention: Intervention | None = None,
        **kwargs: Any,
    ) -> ICLMOutput:
        """See docs/api.md. input_ids, attention_mask, labels, prompt_mask: (B, T); domain_ids, routes: (B,).

        With a cache, input_ids holds only the new tokens and attention_mask covers past + new tokens.
        `router_embeddings` (B, H): cached `router_embeddings()` of these inputs (the router base is frozen),
        so the router's base pass is skipped. `loss_only=True` (training, needs labels): no (B, T, V) logits
        in the output (the loss computes its own at the answer positions) and no base pass for an oracle
        router given domain_ids.

        `packed` (iclm/packing.py, from `ICLMCollator(pack_shared_context=True)`): S examples in R rows that
        share their context; input_ids / attention_mask / labels are then the packed rows (R, T) (the loss
        reads packed.labels), domain_ids, routes and router_embeddings are per example (S,) / (S, H), and the
        outputs' logits and hidden states are in the packed layout (R, T, .). No KV cache, no prompt_mask.

        `intervention` (iclm/interventions.py): a forced or shifted route, a dropped module; `force_route=k`
        and `drop_module=` are short ways to give one. Given `routes` are final (the intervention's route part
        changes only the routes the model chooses).
        """
        if loss_only and labels is None:
            raise ValueError("loss_only=True needs labels")
        intervention = from_keywords(intervention, force_route, drop_module)
        intervention.check(self.config)
        if packed is not None:
            packed = check_packed(packed, input_ids, prompt_mask, past_key_values, use_cache)
            labels = None if labels is None else packed.labels
        if use_cache and past_key_values is None:
            past_key_values = adapter_ops.ICLMCache()
        if attention_mask is None:  # covers cached + new tokens
            past = 0 if past_key_values is None else past_key_values.get_seq_length()
            attention_mask = input_ids.new_ones(input_ids.shape[0], past + input_ids.shape[1])
        routes, router_out = forward_routes(
            self, input_ids, attention_mask, labels, prompt_mask, domain_ids, routes, intervention,
            router_embeddings, loss_only, packed,
        )  # fmt: skip
        if packed is None:
            cache = past_key_values
            invariant, domain = self._run_modules(input_ids, attention_mask, routes, intervention, cache)
        else:
            invariant, domain = run_packed_modules(self, packed, routes, intervention)
        logits = dict.fromkeys(("logits", "invariant_logits", "domain_logits"))
        if not loss_only:
            logits = output_logits(self, invariant, domain)
        out = ICLMOutput(
            **logits,
            routes=routes,
            router_embeddings=None if router_out is None else router_out.embeddings,
            router_projected=None if router_out is None else router_out.projected,
            router_distances=None if router_out is None else router_out.distances,
            invariant_hidden=invariant,
            domain_hidden=domain,
            past_key_values=past_key_values,
        )
        if labels is not None:
            routing = router_out.loss if router_out is not None else torch.zeros((), device=input_ids.device)
            full = None if loss_only else logits
            out.loss_terms = loss_terms(self, invariant, domain, labels, routing, full)
            out.loss = out.loss_terms.total(self.config.loss_weights)
        return out

    # ---------------------------------------------------------------- generation
    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # forward builds its own ICLMCache (one cache per module pass)

    def prepare_inputs_for_generation(
        self,
        input_ids: Tensor,
        past_key_values: adapter_ops.ICLMCache | None = None,
        attention_mask: Tensor | None = None,
        routes: Tensor | None = None,
        use_cache: bool | None = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Feed only the uncached tokens, the prompt's routes and the intervention (`iclm.generation`)."""
        return generation_inputs(input_ids, past_key_values, attention_mask, routes, use_cache, kwargs)

    def _update_model_kwargs_for_generation(self, outputs: ICLMOutput, model_kwargs: dict, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        return keep_routes(outputs, model_kwargs)

    # ---------------------------------------------------------------- save / load
    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        """Write config.json, adapter/router/aggregation safetensors, tokenizer JSON (checkpoint.py)."""
        from iclm.checkpoint import save_checkpoint

        save_checkpoint(self, save_directory)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str, *args: Any, **kwargs: Any
    ) -> ICLMForCausalLM:
        """Rebuild the base from config.json's backbone spec and load the trainable state (safetensors only).

        Keyword `backbone=Backbone` reuses an already loaded base (it is modified in place).
        """
        from iclm.checkpoint import load_checkpoint

        return load_checkpoint(cls, pretrained_model_name_or_path, backbone=kwargs.get("backbone"))


def _register_auto_classes() -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    AutoConfig.register(ICLMConfig.model_type, ICLMConfig, exist_ok=True)
    AutoModelForCausalLM.register(ICLMConfig, ICLMForCausalLM, exist_ok=True)


_register_auto_classes()
