"""ICLMForCausalLM: one frozen base, LoRA adapters `invariant` and `domain_0..K-1`, a router, an aggregation.

forward = route (base with adapters off -> prompt-mean embedding -> router; an `Intervention` may force or
shift the routes) -> _run_modules (invariant on the whole batch; each example's routed domain adapter, one
pass per non-empty route group) -> `iclm.readout.output_logits` (the aggregation) -> _losses. A `packed` batch
(iclm/packing.py: examples sharing a context in one row) takes the same steps on its rows with a 4D mask and
position ids. The body is public for code that reads module states without a full forward (evaluation,
analysis): `module_states` (one adapter's last hidden states, or the base's), `domain_states` (the routed
domain passes) and `aggregate`. Save/load lives in iclm/checkpoint.py, generation helpers at the end.
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
from iclm.interventions import Intervention, from_keywords
from iclm.mi import answer_token_mi
from iclm.outputs import ICLMOutput, LossTerms
from iclm.packing import PackedBatch, check_packed, split_by_routes
from iclm.readout import output_logits
from iclm.router import CodebookUsage, Router, RouterOutput, codebook_usage, default_prompt_mask, pool_prompt


def next_token_targets(labels: Tensor) -> tuple[Tensor, Tensor]:
    """The positions the loss reads and their targets: (B, T) bool, true at t when labels[t + 1] is a real
    label, and those labels (N,) in the same row-major order."""
    following = labels[:, 1:] != -100  # (B, T-1)
    positions = torch.zeros_like(labels, dtype=torch.bool)
    positions[:, :-1] = following
    return positions, labels[:, 1:][following]


def targets_lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of logits (N, V) at the read positions against targets (N,); 0 when N == 0."""
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)


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

    @torch.no_grad()
    def packed_router_embeddings(self, packed: PackedBatch) -> Tensor:
        """Router embeddings (S, H) of a packed batch's examples: the frozen base runs once over the rows and
        each example pools its row's context + its own query (its prompt), as `router_embeddings` would."""
        packed = packed.to(self.device)
        with adapter_ops.adapters_disabled(self._lora_layers):
            mask = self._packed_mask(packed)
            hidden = self._decode(None, packed.input_ids, mask, None, packed.position_ids)[0]  # (R, T, H)
        rows, mask = packed.pool_mask()  # (S,), (S, T)
        return pool_prompt(hidden[rows], mask)  # (S, T, H) -> (S, H)

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

    def _packed_mask(self, packed: PackedBatch) -> Tensor:
        """The 4D mask (R, 1, T, T) of a packed batch in the form the base's attention takes (bool for sdpa,
        additive for eager); other implementations (flash attention) cannot take a 4D mask."""
        kind = self.base.config._attn_implementation
        if kind not in ("sdpa", "eager"):
            raise ValueError(
                f"packed batches need the base's attention to be 'sdpa' or 'eager' (got {kind!r}); "
                "set training.pack_shared_context: false or load the backbone with sdpa attention"
            )
        return packed.attention_mask(None if kind == "sdpa" else self.base.dtype)

    def _run_packed_modules(
        self, packed: PackedBatch, routes: Tensor, intervention: Intervention
    ) -> tuple[Tensor | None, Tensor | None]:
        """_run_modules on packed rows: the invariant pass over every row; the domain passes (sparse or dense,
        as domain_states) over the rows re-packed so that each row's examples share a route (split_by_routes),
        their states put back in the packed layout, so every segment reads its own route's states."""
        invariant = domain = None
        if self.config.has_invariant and intervention.keeps("invariant"):
            mask = self._packed_mask(packed)
            invariant = self.module_states("invariant", packed.input_ids, mask, None, packed.position_ids)
        if intervention.keeps("domain"):
            split = split_by_routes(packed, routes)
            sub = split.batch
            hidden = self.domain_states(
                sub.input_ids, self._packed_mask(sub), split.row_routes, None, sub.position_ids
            )
            domain = split.restore(hidden, tuple(packed.input_ids.shape))
        return invariant, domain

    def _losses(
        self,
        invariant: Tensor | None,
        domain: Tensor | None,
        labels: Tensor,
        routing_loss: Tensor,
        full_logits: dict[str, Tensor | None] | None,
    ) -> LossTerms:
        """Every loss term from the last hidden states (B, T, H), read only at the N positions whose next
        token is labelled (the answer). Without `full_logits` (training: loss_only) the LM heads run at those
        positions only: projecting all B x T positions onto the vocabulary (49k for SmolLM2) cost about a
        second per head per training step on 2 CPU cores, for logits the loss never reads."""
        positions, targets = next_token_targets(labels)

        def pick(tensor: Tensor | None) -> Tensor | None:  # (B, T, .) -> (N, .)
            return None if tensor is None else tensor[positions]

        if full_logits is None:
            found = output_logits(self, pick(invariant), pick(domain))
        else:
            found = {field: pick(value) for field, value in full_logits.items()}
        logits, invariant_logits, domain_logits = (
            found[f] for f in ("logits", "invariant_logits", "domain_logits")
        )
        zero = logits.new_zeros((), dtype=torch.float32)
        iclm = self.config.has_invariant
        return LossTerms(
            lm=targets_lm_loss(logits, targets),
            invariant_lm=zero if invariant_logits is None else targets_lm_loss(invariant_logits, targets),
            domain_lm=targets_lm_loss(domain_logits, targets) if iclm and domain_logits is not None else zero,
            routing=routing_loss.to(zero.dtype),
            mi=answer_token_mi(invariant, domain, labels)
            if invariant is not None and domain is not None
            else zero,
        )

    # ---------------------------------------------------------------- forward
    def _resolve_routes(
        self, input_ids, attention_mask, labels, prompt_mask, domain_ids, force_route, routes,
        router_embeddings=None, loss_only=False, packed=None,
    ) -> tuple[Tensor, RouterOutput | None]:  # fmt: skip
        batch = input_ids.shape[0] if packed is None else packed.num_examples
        if routes is not None:
            if packed is not None and routes.shape != (batch,):
                raise ValueError(f"routes of a packed batch are per example: expected ({batch},), got "
                                 f"{tuple(routes.shape)}")  # fmt: skip
            return routes.to(input_ids.device).long(), None
        if loss_only and not self.router.needs_base_pass and domain_ids is not None:
            # routes from the domain ids alone (the oracle): the base pass would only feed analysis outputs
            return self.router.routes_without_base(domain_ids.to(input_ids.device), batch), None
        if force_route is not None:  # checked by Intervention.check
            return torch.full((batch,), force_route, dtype=torch.long, device=input_ids.device), None
        if packed is not None and router_embeddings is None:
            router_embeddings = self.packed_router_embeddings(packed)
        if prompt_mask is None:
            prompt_mask = default_prompt_mask(attention_mask, labels)
        router_out = self.route(
            input_ids, attention_mask, prompt_mask, domain_ids, embeddings=router_embeddings
        )
        return router_out.routes, router_out

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
        chosen = routes is None  # the model chooses the routes, so the intervention's route part applies
        if not self.config.has_router and routes is None:
            batch = input_ids.shape[0] if packed is None else packed.num_examples
            routes = torch.zeros(batch, dtype=torch.long, device=input_ids.device)
        routes, router_out = self._resolve_routes(
            input_ids, attention_mask, labels, prompt_mask, domain_ids, intervention.force_route, routes,
            router_embeddings, loss_only, packed,
        )  # fmt: skip
        if chosen:
            routes = intervention.routes(routes, self.config.num_domains)
        if packed is None:
            cache = past_key_values
            invariant, domain = self._run_modules(input_ids, attention_mask, routes, intervention, cache)
        else:
            invariant, domain = self._run_packed_modules(packed, routes, intervention)
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
            out.loss_terms = self._losses(invariant, domain, labels, routing, full)
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
        """Feed only the uncached tokens; the routes computed from the prompt are reused at every step. The
        intervention goes to every step (a dropped module stays dropped; given routes leave its route part
        nothing to change)."""
        if past_key_values is not None:
            input_ids = input_ids[:, past_key_values.get_seq_length() :]
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "routes": routes}
        inputs["past_key_values"] = past_key_values
        inputs["use_cache"] = use_cache
        for key in ("domain_ids", "prompt_mask"):
            if kwargs.get(key) is not None and routes is None:
                inputs[key] = kwargs[key]
        for key in ("intervention", "force_route", "drop_module"):
            if kwargs.get(key) is not None:
                inputs[key] = kwargs[key]
        return inputs

    def _update_model_kwargs_for_generation(self, outputs: ICLMOutput, model_kwargs: dict, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        model_kwargs["routes"] = outputs.routes
        model_kwargs.pop("prompt_mask", None)  # only the prompt pass routes
        return model_kwargs

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
