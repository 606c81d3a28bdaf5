"""Typed training configuration, loaded from YAML: `TrainConfig(model, data, training)`.

The `model` section is read straight into `iclm.config.ICLMConfig` (its keys are ICLMConfig's fields); the
`data` and `training` sections are frozen dataclasses. Unknown keys raise `ValueError` naming the key, the
section and the YAML file; invalid values raise `ValueError` naming field and value (`iclm.validation`).
`TrainConfig.to_dict()` is what gets written beside the trained model as `training_config.json`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from iclm.config import ICLM_FIELDS, SUBCONFIG_FIELDS, ICLMConfig
from iclm.routers import router_kind
from iclm.validation import check_choice, check_flag, check_number, check_positive

Split = Literal["iid", "ood"]
# Learning-rate schedules after warm-up. "constant" keeps the rate flat, so the checkpoint at step N of a
# long run is the N-step run itself: the step count can be read off a learning curve afterwards.
LrSchedule = Literal["linear", "constant", "cosine"]


# The `model` keys of a training YAML: ICLMConfig's own fields but dataset_names (the data gives them).
MODEL_KEYS: tuple[str, ...] = tuple(name for name in ICLM_FIELDS if name != "dataset_names")


def _model_config(written: dict[str, Any]) -> ICLMConfig:
    """The YAML's `model` mapping read straight into `ICLMConfig`, which checks every value, so a bad one
    names the YAML file before anything loads. K is `num_domains` as written, else 2; with a router kind
    whose routes are the domain ids (`router.kind: oracle`) it is the number of training datasets, which
    `iclm_config` sets once the data is read (leave `num_domains` out)."""
    for name in SUBCONFIG_FIELDS:
        if name in written and not isinstance(written[name], dict):
            raise ValueError(f"model.{name}={written[name]!r} is invalid; expected a mapping")
    fields = {k: v for k, v in written.items() if not (k == "num_domains" and v is None)}
    try:
        return ICLMConfig(**fields)
    except ValueError as error:
        raise ValueError(f"model.{error}") from error


@dataclass(frozen=True)
class EvalFile:
    """One held-out file: `path`, its `split` (iid|ood) and optionally the dataset name it holds."""

    path: str
    split: str = "iid"
    dataset: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"data.eval.path={self.path!r} is invalid; expected a file path")
        check_choice("data.eval.split", self.split, Split)


@dataclass(frozen=True)
class DataSection:
    """Training files (`train`, or a `mix` manifest written by `python -m iclm data mix`), held-out
    files with their split (`eval`), and the fixed probe set used for the training-dynamics metrics:
    `probe_size` examples drawn (seeded, stratified by dataset) from `probe` files, or from `train`."""

    train: tuple[str, ...] = ()
    mix: str | None = None
    eval: tuple[EvalFile, ...] = ()
    probe: tuple[str, ...] = ()
    probe_size: int = 64
    limit_per_dataset: int | None = None

    def __post_init__(self) -> None:
        if bool(self.train) == bool(self.mix):
            raise ValueError(
                f"data.train={list(self.train)!r} / data.mix={self.mix!r}: give exactly one of them"
            )
        check_positive("data.probe_size", self.probe_size, integer=True)
        if self.limit_per_dataset is not None:
            check_positive("data.limit_per_dataset", self.limit_per_dataset, integer=True)


MAX_TRAIN_LENGTH = 131_072  # tokens: past any backbone this project runs, and refused before allocation


@dataclass(frozen=True)
class TrainingSection:
    """Optimisation, logging and checkpointing. `max_steps` (if set) overrides `epochs`.
    `router_init_examples`: how many training examples feed the k-means codebook initialisation."""

    learning_rate: float = 5e-4
    batch_size: int = 16
    epochs: float = 3.0
    max_steps: int | None = None
    grad_accumulation: int = 1
    warmup_steps: int = 0
    lr_schedule: str = "linear"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    log_every: int = 10
    save_every: int = 100
    keep_last: int = 2
    seed: int = 0
    bf16: bool = False
    max_length: int = 256
    output_dir: str = "runs/iclm"
    router_init_examples: int = 256
    tensorboard: bool = True
    group_by_length: bool = False  # batches of similar length: less padding, faster steps
    cache_router_embeddings: bool = True  # the router base is frozen: one base pass per distinct prompt
    pack_shared_context: bool = True  # examples sharing a prompt prefix (ACRE's queries) train as one row
    probe_every: int | None = None  # steps between probe metrics (None: at every log_every record)

    def __post_init__(self) -> None:
        check_number("training.learning_rate", self.learning_rate, low=0.0, high=1.0, strict_low=True)
        check_positive("training.epochs", self.epochs, integer=False)
        for name in ("batch_size", "grad_accumulation", "log_every", "save_every", "keep_last"):
            check_positive(f"training.{name}", getattr(self, name), integer=True)
        # a prompt needs a token and its answer another; numpy's and torch's seeds are 32-bit
        check_number("training.max_length", self.max_length, low=2, high=MAX_TRAIN_LENGTH, integer=True)
        check_positive("training.router_init_examples", self.router_init_examples, integer=True)
        check_positive("training.warmup_steps", self.warmup_steps, integer=True, allow_zero=True)
        check_number("training.seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_choice("training.lr_schedule", self.lr_schedule, LrSchedule)
        check_positive("training.weight_decay", self.weight_decay, integer=False, allow_zero=True)
        check_positive("training.max_grad_norm", self.max_grad_norm, integer=False, allow_zero=True)
        if self.max_steps is not None:
            check_positive("training.max_steps", self.max_steps, integer=True)
        if self.probe_every is not None:
            check_positive("training.probe_every", self.probe_every, integer=True)
            if self.probe_every % self.log_every:
                raise ValueError(
                    f"training.probe_every={self.probe_every} is invalid; expected a multiple of "
                    f"log_every={self.log_every} (the probe runs with a record)"
                )
        for name in ("bf16", "tensorboard", "cache_router_embeddings", "pack_shared_context"):
            check_flag(f"training.{name}", getattr(self, name))
        if not isinstance(self.output_dir, str) or not self.output_dir:
            raise ValueError(f"training.output_dir={self.output_dir!r} is invalid; expected a folder path")


@dataclass(frozen=True)
class TrainConfig:
    """The whole training run: what model, on what data, trained how. `model` is the YAML's model section
    as an `ICLMConfig` (`iclm_config` completes it with the data's dataset names); `model_as_written` is
    that section as the YAML wrote it, for training_config.json and to tell a written K from the default."""

    model: ICLMConfig
    data: DataSection
    training: TrainingSection
    model_as_written: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """training_config.json: the model section as written (every key, unwritten ones at their default:
        sub-configs {} and num_domains null, "from the data"), then the data and training sections."""
        defaults = {f.name: f.default for f in dataclasses.fields(ICLMConfig) if f.name in MODEL_KEYS}
        defaults |= {name: {} for name in SUBCONFIG_FIELDS} | {"num_domains": None}
        model = {name: self.model_as_written.get(name, defaults[name]) for name in MODEL_KEYS}
        return {
            "model": model,
            "data": dataclasses.asdict(self.data),
            "training": dataclasses.asdict(self.training),
        }

    def replace_training(self, **changes: Any) -> TrainConfig:
        """A copy with some `training` fields changed (CLI overrides such as --max-steps)."""
        return dataclasses.replace(self, training=dataclasses.replace(self.training, **changes))


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _section(known: tuple[str, ...], name: str, raw: Any, source: str) -> dict[str, Any]:
    """The mapping `raw` (None: empty) of section `name`, refused when it names a key outside `known`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: section '{name}' must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown} in section '{name}'; valid keys are {sorted(known)}"
        )
    return dict(raw)


def _as_tuple(value: Any, name: str, source: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str | dict):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError(f"{source}: {name}={value!r} is invalid; expected a list")
    return tuple(value)


def _data_section(raw: Any, source: str) -> DataSection:
    values = _section(_keys(DataSection), "data", raw, source)
    values["train"] = _as_tuple(values.get("train"), "data.train", source)
    values["probe"] = _as_tuple(values.get("probe"), "data.probe", source)
    evals = []
    for item in _as_tuple(values.get("eval"), "data.eval", source):
        item = {"path": item} if isinstance(item, str) else item
        evals.append(EvalFile(**_section(_keys(EvalFile), "data.eval[]", item, source)))
    values["eval"] = tuple(evals)
    return DataSection(**values)


def config_from_dict(raw: Any, source: str = "<dict>") -> TrainConfig:
    """Build and validate a `TrainConfig` from a parsed mapping; `source` names the file in errors."""
    top = _section(("model", "data", "training"), "<top level>", raw, source)
    try:
        written = _section(MODEL_KEYS, "model", top.get("model"), source)
        model = _model_config(written)
        data = _data_section(top.get("data"), source)
        training = TrainingSection(
            **_section(_keys(TrainingSection), "training", top.get("training"), source)
        )
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ValueError(message if message.startswith(f"{source}: ") else f"{source}: {message}") from error
    return TrainConfig(model=model, data=data, training=training, model_as_written=written)


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a YAML (or JSON) training config; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: {size:,} bytes; a training config has at most {MAX_CONFIG_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); save the config as UTF-8") from error
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from error
    if raw is None:
        raise ValueError(f"{path}: the config is empty; see configs/paper.yaml for its sections")
    _check_expanded_size(raw, str(path))
    return config_from_dict(raw, str(path))


MAX_CONFIG_BYTES = 1 * 2**20
MAX_CONFIG_VALUES = 100_000  # scalars after YAML aliases are expanded; a real config has ~60


def _check_expanded_size(raw: Any, source: str) -> None:
    """Refuse configs whose aliases expand into more values than any config needs: PyYAML shares aliased
    nodes, so a few hundred bytes of nested anchors ("billion laughs") load cheaply but become megabytes
    once written out as training_config.json. Counted by walking, stopping at the limit."""
    budget = MAX_CONFIG_VALUES
    stack = [raw]
    while stack:
        value = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValueError(
                f"{source}: more than {MAX_CONFIG_VALUES:,} values once YAML anchors and aliases are "
                "expanded; write the config out without nested aliases"
            )
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)


def save_train_config(config: TrainConfig, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the resolved config as JSON (atomically), with optional extra fields (e.g. dataset names)."""
    path = Path(path)
    payload = config.to_dict() | (extra or {})
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def iclm_config(config: TrainConfig, dataset_names: list[str]) -> ICLMConfig:
    """The `ICLMConfig` of this run: the model section with the training data's dataset names. K =
    `num_domains` (default 2); with a router whose routes are the domain ids (`needs_domain_ids`: oracle)
    K = the number of training datasets (route = dataset index), and a different written K is an error."""
    kind = config.model.router.kind
    num_domains = config.model_as_written.get("num_domains")
    if router_kind(kind).needs_domain_ids:
        if num_domains is not None and num_domains != len(dataset_names):
            raise ValueError(
                f"model.num_domains={num_domains} is invalid with router.kind={kind}: it must equal "
                f"the number of training datasets ({len(dataset_names)}: {dataset_names}); leave it out"
            )
        num_domains = len(dataset_names)
    fields = config.model_as_written | {"num_domains": num_domains or 2, "dataset_names": list(dataset_names)}
    return ICLMConfig(**fields)
