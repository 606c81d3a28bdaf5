"""Train an added domain on a new task: `run_extension(parent, new data, out, plan, ...)`; or fine-tune a
checkpoint on it as it is, the sequential baseline: `run_sequential(parent, new data, out, ...)`.

The run is an ordinary training run (`run_training`: checkpoints, resume after any kill, metrics.jsonl,
the probe) whose model is the parent checkpoint grown by one domain (`iclm.extension.add_domain`) with the
plan's freezing, trained by `ExtensionTrainer` (the ICLM loss plus the invariant module's anchor penalty,
logged as `anchor` in metrics.jsonl). The finished folder is a checkpoint like any other plus
`lineage.json`; `replay.jsonl` holds the replayed old examples (the exact buffer, so a run can be redone).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from iclm.extension import (
    LINEAGE_FILE,
    AnchorPenalty,
    ExtensionPlan,
    Lineage,
    add_domain,
    fisher_diagonal,
    freeze_for_extension,
    frozen_modules,
    read_lineage,
    write_lineage,
)
from iclm.training.config import MODEL_KEYS, TrainConfig, config_from_dict
from iclm.training.trainer import ICLMTrainer

logger = logging.getLogger(__name__)

REPLAY_FILE = "replay.jsonl"
# old-task examples whose squared gradients estimate the diagonal Fisher information (anchor: ewc)
FISHER_EXAMPLES = 64


class ExtensionTrainer(ICLMTrainer):
    """ICLMTrainer whose training loss adds `anchor()` (None: no penalty); the penalty's value at the
    logged step goes into metrics.jsonl as `anchor`."""

    def __init__(self, *args: Any, anchor: AnchorPenalty | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anchor = anchor
        self._last_anchor: float | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
        if self.anchor is not None and model.training:
            penalty = self.anchor()
            self._last_anchor = float(penalty.detach())
            loss = loss + penalty.to(loss.dtype)
        return (loss, outputs) if return_outputs else loss

    def dynamics_record(self, grad_norm=None, learning_rate=None) -> dict[str, Any]:
        record = super().dynamics_record(grad_norm, learning_rate)
        if self.anchor is not None:
            record["anchor"] = self._last_anchor
        return record


@dataclass(frozen=True)
class ExtensionData:
    """The new task's training files, old-task files for replay and the EWC Fisher (may be empty), and
    probe files (old and new test files: the probe then logs how the router assigns both over training)."""

    new: tuple[str, ...]
    old: tuple[str, ...] = ()
    probe: tuple[str, ...] = ()


def parent_model_section(parent: Path) -> dict[str, Any]:
    """The parent checkpoint's model fields as a training YAML's `model` section."""
    from iclm.checkpoint import read_config

    config = read_config(parent).to_dict()
    return {name: config[name] for name in MODEL_KEYS if name in config}


def extension_config(
    parent: Path,
    data: ExtensionData,
    out: Path,
    training: dict[str, Any],
    replay_file: Path | None,
    grow: bool = True,
) -> TrainConfig:
    """The run's TrainConfig: the parent's model section with K + 1 domains (K for a sequential
    fine-tuning, `grow` False), the new task's files (+ the replay file) and `training`
    (TrainingSection fields; output_dir = out)."""
    section = {"train": list(data.new) + ([str(replay_file)] if replay_file else [])}
    if data.probe:
        section["probe"] = list(data.probe)
    model = parent_model_section(parent)
    if grow:  # as the grown model has it (training_config.json then matches config.json)
        model["num_domains"] += 1
    raw = {"model": model, "data": section, "training": training | {"output_dir": str(out)}}
    return config_from_dict(raw, f"extension of {parent}")


def write_replay(old_files: tuple[str, ...], count: int, seed: int, path: Path) -> Path | None:
    """A seeded sample of `count` old examples as JSONL ({prompt, answer, choices, domain}: the domain
    keeps each example's dataset, so the probe and oracle maps still name it). None when count is 0."""
    if count == 0:
        return None
    from iclm.data.evals_format import write_jsonl
    from iclm.training.data import domain_of, load_files

    if not old_files:
        raise ValueError(f"replay={count} needs old-task files to sample from (--old)")
    pool = load_files(list(old_files))
    chosen = random.Random(seed).sample(pool, min(count, len(pool)))
    records = []
    for e in chosen:
        records.append({"prompt": e.prompt, "answer": e.answer, "domain": domain_of(e)})
        if e.choices is not None:
            records[-1]["choices"] = list(e.choices)
    return write_jsonl(path, records)


class _GrowParent:
    """model_builder for run_training: the parent grown by one domain, frozen as planned (with `grow`
    False: the parent as it is, everything that trained before trainable: a sequential fine-tuning).
    Remembers the new domain, the trainable names and the anchor (built at the parent's weights, before
    any resume)."""

    def __init__(
        self, parent: Path, plan: ExtensionPlan, data: ExtensionData, init_examples: int, grow: bool = True
    ) -> None:
        self.parent, self.plan, self.data, self.init_examples = parent, plan, data, init_examples
        self.grow = grow
        self.new_domain: int | None = None
        self.trainable: list[str] = []
        self.anchor: AnchorPenalty | None = None
        self.new_datasets: list[str] = []

    def __call__(self, config: TrainConfig, run) -> tuple[Any, Any]:
        from iclm.data.collate import ICLMCollator
        from iclm.model import ICLMForCausalLM
        from iclm.training.data import domain_of, load_files

        model = ICLMForCausalLM.from_pretrained(str(self.parent))
        tokenizer = model.tokenizer
        new_examples = load_files(list(self.data.new))
        if not self.grow:  # loaded checkpoints train what a fresh model trains (tested)
            self.new_datasets = sorted({domain_of(e) for e in new_examples})
            names = list(model.config.dataset_names)
            model.config.dataset_names = names + [n for n in self.new_datasets if n not in names]
            self.trainable = [n for n, p in model.named_parameters() if p.requires_grad]
            logger.info("fine-tuning %s on %s: every module trains", self.parent, self.new_datasets)
            return model, tokenizer
        old_examples = load_files(list(self.data.old)) if self.data.old else []
        # the domain ids only feed an oracle router, which cannot be extended: any consistent map does
        names = sorted({domain_of(e) for e in new_examples + old_examples})
        collator = ICLMCollator(tokenizer, {n: i for i, n in enumerate(names)}, config.training.max_length)
        sample = random.Random(config.training.seed).sample(
            new_examples, min(self.init_examples, len(new_examples))
        )
        embeddings = _router_embeddings(model, collator, sample, config.training.batch_size)
        self.new_domain = add_domain(model, embeddings, seed=config.training.seed)
        self.new_datasets = sorted({domain_of(e) for e in new_examples})
        names = list(model.config.dataset_names)
        model.config.dataset_names = names + [n for n in self.new_datasets if n not in names]
        self.trainable = freeze_for_extension(model, self.plan, self.new_domain)
        if self.plan.invariant == "anchored":
            fisher = None
            if self.plan.anchor == "ewc":
                if not old_examples:
                    raise ValueError("anchor=ewc needs old-task files (--old) for the Fisher information")
                count = min(FISHER_EXAMPLES, len(old_examples))
                picked = random.Random(config.training.seed).sample(old_examples, count)
                size = config.training.batch_size
                batches = [collator(picked[i : i + size]) for i in range(0, len(picked), size)]
                fisher = fisher_diagonal(model, batches)
            self.anchor = AnchorPenalty(model, self.plan.anchor_weight, fisher)
        logger.info(
            "extending %s: added domain_%d for %s; trainable: %d tensors",
            self.parent,
            self.new_domain,
            self.new_datasets,
            len(self.trainable),
        )
        return model, tokenizer


@torch.no_grad()
def _router_embeddings(model, collator, examples: list, batch_size: int) -> torch.Tensor:
    found = []
    for start in range(0, len(examples), batch_size):
        batch = collator(examples[start : start + batch_size])
        out = model.route(batch["input_ids"], batch["attention_mask"], prompt_mask=batch.get("prompt_mask"))
        found.append(out.embeddings.float())
    return torch.cat(found)


def _ancestors(parent: Path) -> tuple[dict[str, Any], ...]:
    """The parent's lineage and its ancestors, oldest first (empty for a checkpoint trained from scratch)."""
    found = read_lineage(parent)
    if found is None:
        return ()
    return found.ancestors + (found.to_dict() | {"ancestors": []},)


def run_extension(
    parent: str | Path,
    data: ExtensionData,
    out: str | Path,
    plan: ExtensionPlan,
    training: dict[str, Any] | None = None,
):
    """Grow `parent` by one domain and train it on `data.new` under `plan`; writes a checkpoint folder
    with lineage.json at `out` (resumable like any run). Returns run_training's TrainResult."""
    from iclm.extension import check_extensible

    return _run(parent, data, out, plan, training, grow=True, check=check_extensible)


def run_sequential(
    parent: str | Path,
    data: ExtensionData,
    out: str | Path,
    training: dict[str, Any] | None = None,
    replay: int = 0,
):
    """Fine-tune `parent` on `data.new` as it is: no domain added, every module that trained before
    trains on (nothing frozen), with `replay` old examples mixed in. The comparison continual learning is
    measured against: for a baseline the only way to learn a new task, for an ICLM "nothing frozen".
    Writes a checkpoint folder at `out` whose lineage.json has added_domain None and nothing frozen;
    resumable like any run. Returns run_training's TrainResult."""
    from iclm.extension import check_sequential

    plan = ExtensionPlan(replay=replay)
    return _run(parent, data, out, plan, training, grow=False, check=check_sequential)


def _run(parent, data: ExtensionData, out, plan: ExtensionPlan, training, *, grow: bool, check):
    from iclm.checkpoint import read_config
    from iclm.training.data import domain_of, load_files
    from iclm.training.run import RunFolderError, run_training

    parent, out = Path(parent), Path(out)
    if not (parent / "config.json").is_file():
        raise FileNotFoundError(f"{parent} is not a checkpoint folder (no config.json)")
    if out.resolve() == parent.resolve():
        raise RunFolderError(f"-o {out}: the extension must go to a new folder, not over its parent")
    parent_config = read_config(parent)
    check(parent_config)  # before any folder or model is made
    training = dict(training or {})
    out.mkdir(parents=True, exist_ok=True)
    replay = write_replay(data.old, plan.replay, int(training.get("seed", 0)), out / REPLAY_FILE)
    config = extension_config(parent, data, out, training, replay, grow=grow)
    builder = _GrowParent(parent, plan, data, config.training.router_init_examples, grow=grow)

    class _Trainer(ExtensionTrainer):  # the anchor exists only once run_training has built the model
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, anchor=builder.anchor, **kwargs)

    lineage = Lineage(
        parent=str(parent),
        added_domain=parent_config.num_domains if grow else None,
        datasets=tuple(sorted({domain_of(e) for e in load_files(list(data.new))})),
        frozen=frozen_modules(parent_config, plan, parent_config.num_domains) if grow else (),
        plan=dict(plan.__dict__) if grow else {"sequential": True, "replay": plan.replay},
        steps=0,
        ancestors=_ancestors(parent),
    )
    write_lineage(out, lineage)  # before training: a run stopped early still says what it is
    result = run_training(config, model_builder=builder, trainer_cls=_Trainer)
    write_lineage(out, dataclasses.replace(lineage, steps=result.global_step))
    logger.info("lineage written to %s", out / LINEAGE_FILE)
    return result
