"""`run_training(config)`: one training run from a `TrainConfig`, resumable.

Run folder layout (`<run>` = `training.output_dir` or `--output-dir`):
  <run>/config.json, *.safetensors, tokenizer files   the FINAL model (engine save_pretrained)
  <run>/training_config.json                            the resolved TrainConfig + dataset names
  <run>/metrics.jsonl                                   training dynamics, one JSON object a line
  <run>/checkpoints/checkpoint-<step>/                  intermediate checkpoints (last `keep_last` kept)
  <run>/tensorboard/                                    TensorBoard event files (if tensorboard is installed)
Rerunning the same command after a kill resumes from the newest complete checkpoint in
`<run>/checkpoints/` (`iclm.training.checkpoints`; incomplete ones are skipped and logged); rerunning a
finished run trains nothing ("already finished") and rewrites the final model from its last checkpoint.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainingArguments, set_seed

from iclm.training import checkpoints as run_checkpoints
from iclm.training import data as run_data
from iclm.training.config import TrainConfig, iclm_config, save_train_config
from iclm.training.graceful import GracefulStop
from iclm.training.metrics_log import MetricsWriter
from iclm.training.trainer import ICLMTrainer

logger = logging.getLogger(__name__)


class RunFolderError(ValueError):
    """`training.output_dir` cannot hold a run (e.g. it is a regular file); the message names it."""


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: where, how far, resumed from which checkpoint, and whether a signal stopped
    it early (then its last checkpoint is the step it reached, and no final model was written)."""

    run_dir: Path
    global_step: int
    resumed_from: str | None
    stopped: bool = False


def build_model(config: TrainConfig, dataset_names: list[str]):
    """The untrained `ICLMForCausalLM` and its tokenizer for this config."""
    from iclm.backbone import load_backbone
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_config_and_backbone(iclm_config(config, dataset_names))
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        tokenizer = load_backbone(config.model.backbone).tokenizer
    return model, tokenizer


def _fresh_model(config: TrainConfig, data: run_data.RunData):
    return build_model(config, data.dataset_names)


@torch.no_grad()
def init_router(model, examples: list, collator, count: int, batch_size: int, seed: int) -> None:
    """k-means codebook initialisation on router embeddings of `count` training examples (a seeded
    sample across all datasets), before the first optimisation step. No-op unless the router's kind fits
    its codes (`needs_init`: vq, kmeans) and they are not fitted yet (a grown checkpoint keeps its own)."""
    if not model.config.has_router or not model.router.needs_init or bool(model.router.initialised):
        return
    sample = random.Random(seed).sample(examples, min(count, len(examples)))
    embeddings = []
    for start in range(0, len(sample), batch_size):
        batch = collator(sample[start : start + batch_size])
        out = model.route(batch["input_ids"], batch["attention_mask"], prompt_mask=batch.get("prompt_mask"))
        embeddings.append(out.embeddings.float())
    model.init_router(torch.cat(embeddings))
    logger.info("router initialised by k-means on %d embeddings", len(sample))


# TrainingSection.lr_schedule -> transformers' scheduler names (each with the linear warm-up).
_SCHEDULER_TYPES = {"linear": "linear", "constant": "constant_with_warmup", "cosine": "cosine"}


def training_arguments(config: TrainConfig, checkpoints: Path) -> TrainingArguments:
    t = config.training
    return TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accumulation,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=_SCHEDULER_TYPES[t.lr_schedule],
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.log_every,
        save_strategy="steps",
        save_steps=t.save_every,
        save_total_limit=t.keep_last,
        seed=t.seed,
        bf16=t.bf16,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        report_to="none",
        ddp_find_unused_parameters=True,  # sparse dispatch: unrouted domain adapters get no gradient
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
    )


def _tensorboard_callback(run_dir: Path):
    try:
        from transformers.integrations import TensorBoardCallback

        callback = TensorBoardCallback()
    except (ImportError, RuntimeError):
        logger.info("tensorboard not importable; metrics go to metrics.jsonl only")
        return None
    callback.logging_dir = str(run_dir / "tensorboard")
    return callback


def _run_folders(output_dir: str) -> tuple[Path, Path]:
    """(run folder, its checkpoints folder); a regular file in either place is refused, never renamed."""
    run_dir = Path(output_dir)
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.exists() and not folder.is_dir():
            raise RunFolderError(f"training.output_dir: {folder} is a file, not a run folder; choose another")
    return run_dir, run_dir / "checkpoints"


def _resume_point(checkpoints: Path, main: bool) -> Path | None:
    """The newest complete checkpoint (incomplete ones are logged and skipped); the main process first
    removes the temp folders of interrupted saves."""
    if main:
        run_checkpoints.remove_staging(checkpoints)
    return run_checkpoints.latest_complete(checkpoints)


def run_training(
    config: TrainConfig,
    output_dir: str | None = None,
    max_steps: int | None = None,
    *,
    trainer_cls: type | None = None,
    trainer_kwargs: dict | None = None,
    callbacks: list | None = None,
    model_builder=None,
) -> TrainResult:
    """Train (or resume) the run described by `config`; returns where it went and how far it got.
    Extension points: `trainer_cls` (an `ICLMTrainer` subclass) with extra `trainer_kwargs`, extra
    `callbacks`, and `model_builder(config, data) -> (model, tokenizer)` in place of a fresh model (a model
    whose router is already initialised keeps its codes: iclm/training/extension.py grows a trained one)."""
    from iclm.data.collate import ICLMCollator

    overrides = {k: v for k, v in (("output_dir", output_dir), ("max_steps", max_steps)) if v is not None}
    config = config.replace_training(**overrides) if overrides else config
    t = config.training
    run_dir, checkpoints = _run_folders(t.output_dir)
    set_seed(t.seed)
    data = run_data.load_run_data(config.data, t.seed)
    model, tokenizer = (model_builder or _fresh_model)(config, data)
    collator = ICLMCollator(tokenizer, data.dataset_ids, t.max_length)  # router init and probe: unpacked
    train_collator = ICLMCollator(
        tokenizer, data.dataset_ids, t.max_length, pack_shared_context=t.pack_shared_context
    )
    args = training_arguments(config, checkpoints)
    found = _resume_point(checkpoints, args.should_save)
    last = str(found) if found is not None else None
    if last is None:
        init_router(model, data.train, collator, t.router_init_examples, t.batch_size, t.seed)
    writer = MetricsWriter(run_dir / "metrics.jsonl", enabled=args.process_index == 0)
    writer.truncate_after(run_checkpoints.step_of(found) if found is not None else 0)
    probe_examples = run_data.probe_examples(config.data, data, t.seed)
    probe_ids = run_data.with_unseen(data.dataset_ids, probe_examples)  # probe files of untrained datasets
    probe_collator = (
        collator if probe_ids == data.dataset_ids else ICLMCollator(tokenizer, probe_ids, t.max_length)
    )
    probe = run_data.build_probe(probe_examples, probe_collator, probe_ids, t.batch_size)
    tensorboard = _tensorboard_callback(run_dir) if t.tensorboard and args.process_index == 0 else None
    stop = GracefulStop()  # SIGTERM / SIGINT: save this step, then return (rerun to resume)
    trainer = (trainer_cls or ICLMTrainer)(
        model=model,
        args=args,
        train_dataset=run_data.ExampleDataset(data.train),
        data_collator=train_collator,
        processing_class=None,  # the engine saves the tokenizer; also keeps Trainer from editing config
        metrics_writer=writer,
        probe=probe,
        cache_router_embeddings=t.cache_router_embeddings,
        probe_every=t.probe_every,
        callbacks=([tensorboard] if tensorboard else []) + [stop] + list(callbacks or []),
        **(trainer_kwargs or {}),
    )
    if last:
        logger.info("resuming from %s", last)
    trainer.train(resume_from_checkpoint=last)
    if found is not None and trainer.state.global_step == run_checkpoints.step_of(found):
        logger.info("%s already finished at step %d: nothing to train", run_dir, trainer.state.global_step)
    step = trainer.state.global_step
    if stop.requested is not None:
        logger.warning(
            "stopped at step %d (checkpoint-%d saved); rerun the same command to resume", step, step
        )
    elif trainer.is_world_process_zero():
        model.save_pretrained(run_dir)  # config, adapters/router/aggregation safetensors, tokenizer
        save_train_config(config, run_dir / "training_config.json", {"dataset_names": data.dataset_names})
        logger.info("final model written to %s", run_dir)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(run_dir, step, last, stopped=stop.requested is not None)
