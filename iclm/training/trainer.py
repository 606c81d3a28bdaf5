"""`ICLMTrainer`: a transformers `Trainer` for `ICLMForCausalLM` with dynamics logging and safe steps.

What it adds to the stock Trainer:
- `compute_loss` calls the model (which combines the loss terms with the configured `LossWeights`)
  and accumulates every loss term and the routes for logging;
- a non-finite loss or gradient skips the whole optimizer step (gradients dropped, weights unchanged; the
  learning rate schedule still advances) and is recorded in `metrics.jsonl` as
  `{"event": "skipped_nonfinite", "cause": "loss" | "gradient"}`; a record logged at a skipped step says
  `"skipped": true` with `grad_norm` null (and `loss` null when no step since the previous record counted);
- a run resumed from its final checkpoint trains nothing ("already finished");
- every `logging_steps` steps one record goes to `metrics.jsonl` (atomic line writes, rank 0 only) and
  to TensorBoard: loss terms, learning rate, grad norm, routing fractions and the probe-set metrics of
  `iclm.training.probe` (codebook perplexity, router purity/NMI, MI, CKA, Pearson);
- checkpoints without pickle (`iclm.training.state_io`): the model through the engine's
  `save_pretrained` plus `trainable_state.safetensors`, optimizer/scheduler/RNG as safetensors + JSON.
  (DeepSpeed/FSDP fall back to the stock files, which use `torch.save`, inside `<run>/checkpoints/`.)
  Each checkpoint folder, the Trainer's own files included, is written atomically
  (`iclm.training.checkpoints`: temp folder, fsync, manifest, rename).
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import Trainer

from iclm.training import checkpoints, state_io
from iclm.training.metrics_log import MetricsWriter
from iclm.training.probe import ProbeSet, model_inputs, probe_metrics
from iclm.training.router_cache import RouterEmbeddingCache
from iclm.training.sampler import GroupSampler, LengthGroupedGroupSampler, find_groups, group_lengths

logger = logging.getLogger(__name__)

LOSS_TERMS = ("lm", "invariant_lm", "domain_lm", "routing", "mi")


class ICLMTrainer(Trainer):
    """Trainer for ICLM models. Extra arguments: `metrics_writer` (rank-0 `MetricsWriter`) and
    `probe` (a fixed `ProbeSet`; None disables the probe metrics)."""

    def __init__(
        self,
        *args: Any,
        metrics_writer: MetricsWriter,
        probe: ProbeSet | None = None,
        cache_router_embeddings: bool = True,
        probe_every: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.probe_every = probe_every
        self.router_cache = RouterEmbeddingCache() if cache_router_embeddings else None
        self.metrics_writer = metrics_writer
        self.probe = probe
        self.model_accepts_loss_kwargs = False  # the model averages its own loss; divide by GA steps
        self._reset_accumulators()
        self._reset_step_accumulators()
        self._poisoned_step = -1
        self._last_dynamics_step = -1
        self._last_merged_step = -1
        self._staging: str | None = None

    def _get_train_sampler(self, train_dataset=None):
        """With `group_by_length`, batches hold examples of similar length: a batch is padded to its longest
        prompt, so mixing 130-token ACRE-symbolic with 400-token RAVEN-text prompts wastes most of a step.
        The stock sampler can only read lengths from dict items; ours are `Example`s, so we pass them.
        With a packing collator, examples sharing a context (ACRE's 4 queries) stay together and batches
        hold whole groups (`iclm.training.sampler`), so the collator can pack them into one row."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        by_length = self.args.train_sampling_strategy == "group_by_length"
        if getattr(self.data_collator, "pack_shared_context", False) and hasattr(dataset, "examples"):
            groups = find_groups(dataset.examples)
            if any(len(g) > 1 for g in groups):  # else nothing to pack: the samplers below, as before
                batch = self.args.train_batch_size  # one DataLoader batch = one packed forward
                if by_length:
                    return LengthGroupedGroupSampler(groups, group_lengths(dataset.examples, groups), batch)
                return GroupSampler(groups, batch)
        if not by_length or not hasattr(dataset, "examples"):
            return super()._get_train_sampler(train_dataset)
        lengths = [len(e.prompt) + len(e.answer) for e in dataset.examples]  # characters: a length proxy
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return _LengthGroupedSampler(lengths, batch)

    def _reset_accumulators(self) -> None:
        """Sums since the previous metrics record, over the optimizer steps that were applied."""
        self._term_sums: dict[str, float] = defaultdict(float)
        self._term_count = 0
        self._route_counts: dict[int, int] = defaultdict(int)

    def _reset_step_accumulators(self) -> None:
        """Sums of the current optimizer step's micro-batches (merged once the step is applied)."""
        self._step_sums: dict[str, float] = defaultdict(float)
        self._step_count = 0
        self._step_routes: dict[int, int] = defaultdict(int)

    def _merge_step(self, skipped: bool) -> None:
        if not skipped:
            for name, value in self._step_sums.items():
                self._term_sums[name] += value
            self._term_count += self._step_count
            for route, count in self._step_routes.items():
                self._route_counts[route] += count
        self._reset_step_accumulators()

    # ---- loss -------------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Weighted ICLM loss of one batch (the model applies `config.loss_weights`). Training calls skip
        the full-vocabulary logits (`loss_only`) and reuse cached router embeddings of learned routers."""
        batch = model_inputs(inputs)
        packed = inputs.get("packed")  # a PackedBatch from ICLMCollator(pack_shared_context=True), or None
        extra: dict[str, Any] = {"loss_only": "labels" in batch}
        if packed is not None:
            extra["packed"] = packed
        unwrapped = self.accelerator.unwrap_model(model)
        if self._uses_router_cache(unwrapped) and "labels" in batch:
            if packed is not None:
                extra["router_embeddings"] = self.router_cache.packed_embeddings(unwrapped, packed)
            else:
                extra["router_embeddings"] = self.router_cache.embeddings(
                    unwrapped,
                    batch["input_ids"],
                    batch["attention_mask"],
                    batch.get("prompt_mask"),
                    batch["labels"],
                )
        outputs = model(**batch, **extra)
        if model.training:
            self._accumulate(outputs)
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def _uses_router_cache(self, model) -> bool:
        """Routers that read the frozen base (vq, kmeans) get their embeddings cached; an oracle has none."""
        return self.router_cache is not None and model.config.has_router and model.router.needs_base_pass

    def _accumulate(self, outputs) -> None:
        terms = outputs.loss_terms
        values = {name: float(getattr(terms, name).detach()) for name in LOSS_TERMS}
        values["loss"] = float(outputs.loss.detach())
        if not all(math.isfinite(v) for v in values.values()):
            self._last_nonfinite_terms = values
            return
        for name, value in values.items():
            self._step_sums[name] += value
        self._step_count += 1
        for route in outputs.routes.detach().cpu().tolist():
            self._step_routes[int(route)] += 1

    # ---- safe step --------------------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        """Forward + backward of one micro-batch; a non-finite loss or gradient on any rank skips the
        whole step."""
        if self._poisoned_step == self.state.global_step:  # an earlier micro-batch of this step failed
            return torch.tensor(float("nan"), device=self.args.device)
        model.train()
        inputs = self._prepare_inputs(inputs)
        self._last_nonfinite_terms = None
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        loss = loss / self.current_gradient_accumulation_steps
        if not self._finite_everywhere(torch.isfinite(loss.detach()).all(), loss.device):
            self._skip_step(loss, cause="loss")
            return loss.detach()
        self.accelerator.backward(loss)
        if not self._finite_everywhere(_gradients_finite(model, loss.device), loss.device):
            self._skip_step(loss, cause="gradient")
        return loss.detach()

    def _finite_everywhere(self, finite: torch.Tensor, device: torch.device) -> bool:
        """True when `finite` (a bool tensor of this rank) holds on every rank."""
        bad = (~finite).float().reshape(()).to(device)
        if dist.is_available() and dist.is_initialized() and self.args.world_size > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        return bad.item() == 0.0

    def _skip_step(self, loss: torch.Tensor, cause: str) -> None:
        self.model.zero_grad(set_to_none=True)  # AdamW leaves parameters without gradients untouched
        self._poisoned_step = self.state.global_step
        step = self.state.global_step + 1
        value = float(loss.detach())
        logger.warning("non-finite %s (loss %s) at step %d: optimizer step skipped", cause, value, step)
        record = {"step": step, "event": "skipped_nonfinite", "cause": cause, "loss": value}
        terms = getattr(self, "_last_nonfinite_terms", None)
        self.metrics_writer.write(record | ({"loss_terms": terms} if terms else {}))

    def _run_epoch(self, *args, **kwargs):
        """A run resumed from its final checkpoint trains nothing (the stock loop would run one more step
        at learning rate 0, log it and rotate the final checkpoint out)."""
        if self.state.global_step >= self.state.max_steps:
            self.control.should_training_stop = True
            return None
        return super()._run_epoch(*args, **kwargs)

    # ---- dynamics logging --------------------------------------------------------------------------
    def _maybe_log_save_evaluate(self, tr_loss, grad_norm, *args, **kwargs):
        step = self.state.global_step
        if step != self._last_merged_step:  # once per optimizer step (this is also called at epoch end)
            self._last_merged_step = step
            self._merge_step(skipped=self._step_was_skipped())
        if self.control.should_log and step != self._last_dynamics_step:
            self._log_dynamics(grad_norm, kwargs.get("learning_rate"))
        super()._maybe_log_save_evaluate(tr_loss, grad_norm, *args, **kwargs)

    def _log_dynamics(self, grad_norm, learning_rate) -> None:
        self._last_dynamics_step = self.state.global_step
        record = self.dynamics_record(grad_norm, learning_rate)
        self._reset_accumulators()
        self.metrics_writer.write(record)
        flat = _flatten({k: v for k, v in record.items() if k not in ("step", "epoch")})
        tb = [cb for cb in self.callback_handler.callbacks if type(cb).__name__ == "TensorBoardCallback"]
        for callback in tb if self.is_world_process_zero() else []:
            if getattr(callback, "tb_writer", None) is not None:
                for name, value in flat.items():
                    callback.tb_writer.add_scalar(f"iclm/{name}", value, self.state.global_step)

    def _probe_due(self) -> bool:
        """The probe runs at every record, or with `probe_every` at its multiples and at the last step (it
        costs far more than a record: on SmolLM2 a 32-example probe is minutes, ten steps a few)."""
        step = self.state.global_step
        return self.probe_every is None or step % self.probe_every == 0 or step == self.state.max_steps

    def _step_was_skipped(self) -> bool:
        """Whether the optimizer step that produced the current global_step was skipped."""
        return self._poisoned_step == self.state.global_step - 1

    def dynamics_record(self, grad_norm=None, learning_rate=None) -> dict[str, Any]:
        """One metrics.jsonl record for the current step (averages over the applied steps since the
        previous record). At a skipped step: `skipped: true`, `grad_norm` null; loss and routing fractions
        are null when no applied step since the previous record contributed (never drawn as zero)."""
        count = self._term_count
        record: dict[str, Any] = {"step": self.state.global_step, "epoch": self.state.epoch}
        record["loss"] = self._term_sums["loss"] / count if count else None
        record["loss_terms"] = {name: self._term_sums[name] / count if count else None for name in LOSS_TERMS}
        lr = learning_rate if learning_rate is not None else self._get_learning_rate()
        record["learning_rate"] = float(lr)
        skipped = self._step_was_skipped()
        if skipped:
            record["skipped"] = True
        if grad_norm is not None:
            record["grad_norm"] = None if skipped else float(grad_norm)
        total = sum(self._route_counts.values())
        k = self.model.config.num_domains
        fractions = {f"domain_{d}": self._route_counts[d] / total if total else None for d in range(k)}
        record["routing_fraction"] = fractions
        if self.probe is not None and self.is_world_process_zero() and self._probe_due():
            record.update(probe_metrics(self.accelerator.unwrap_model(self.model), self.probe))
        return record

    # ---- pickle-free, atomic checkpoints ----------------------------------------------------------
    def _get_output_dir(self, trial) -> str:
        return self._staging or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """The stock checkpoint (model, optimizer, scheduler, RNG, trainer_state.json) written by every
        process into a temp folder, then committed by the main process (fsync, manifest, rename)."""
        run_dir = Path(super()._get_output_dir(trial))
        name = f"checkpoint-{self.state.global_step}"
        staging = checkpoints.staging_folder(run_dir, self.state.global_step)
        if self.args.should_save:
            checkpoints.remove_staging(run_dir)
        self.accelerator.wait_for_everyone()
        self._staging = str(staging)
        try:
            super()._save_checkpoint(model, trial)  # writes <staging>/checkpoint-<step>/
        finally:
            self._staging = None
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            checkpoints.commit(staging / name, run_dir / name)
            checkpoints.rotate(run_dir, self.args.save_total_limit)
        self.accelerator.wait_for_everyone()

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        model.save_pretrained(output_dir)
        state_io.save_trainable_state(model, output_dir)
        with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as handle:
            handle.write(self.args.to_json_string())

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        state_io.load_trainable_state(
            self.accelerator.unwrap_model(model or self.model), resume_from_checkpoint
        )

    def _stock_state_files(self) -> bool:
        return self.is_deepspeed_enabled or self.is_fsdp_enabled

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        if self._stock_state_files():
            return super()._save_optimizer_and_scheduler(output_dir)
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            state_io.save_optimizer(self.optimizer, output_dir)
            state_io.save_scheduler(self.lr_scheduler, output_dir)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        if checkpoint is None or self._stock_state_files():
            return super()._load_optimizer_and_scheduler(checkpoint)
        if state_io.load_optimizer(self.optimizer, checkpoint):
            state_io.load_scheduler(self.lr_scheduler, checkpoint)
        else:
            super()._load_optimizer_and_scheduler(checkpoint)

    def _save_rng_state(self, output_dir: str) -> None:
        os.makedirs(output_dir, exist_ok=True)
        state_io.save_rng(output_dir, self.args.process_index)

    def _load_rng_state(self, checkpoint: str | None) -> None:
        if checkpoint is not None and not state_io.load_rng(checkpoint, self.args.process_index):
            super()._load_rng_state(checkpoint)


class _LengthGroupedSampler(torch.utils.data.Sampler):
    """transformers' length grouping with megabatches of 50 batches (the stock sampler shrinks them to one
    batch on datasets under 200 batches, which groups nothing): shuffle, sort each megabatch by length,
    cut into batches. Randomness comes from torch's global RNG, which the Trainer seeds and checkpoints."""

    def __init__(self, lengths: list[int], batch_size: int) -> None:
        self.lengths, self.batch_size = lengths, batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        from transformers.trainer_pt_utils import get_length_grouped_indices

        mult = max(1, min(50, len(self.lengths) // self.batch_size))
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, mega_batch_mult=mult))


def _gradients_finite(model: torch.nn.Module, device: torch.device) -> torch.Tensor:
    """A bool tensor: every gradient of the model is finite (NaN/inf gradients can come from a finite
    loss, e.g. through a sqrt at 0; applying them would turn every weight into NaN)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.tensor(True, device=device)
    return torch.stack([torch.isfinite(g).all() for g in grads]).all()


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"a": {"b": 1}} -> {"a/b": 1.0}; only numbers are kept (for TensorBoard scalars)."""
    flat: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat
