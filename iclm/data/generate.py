"""One entry point over the task generators: a typed spec -> evals records -> an atomically written file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from iclm.data import acre, pvr, raven
from iclm.data.evals_format import write_jsonl

TASKS: tuple[str, ...] = ("acre", "raven", "pvr")


@dataclass(frozen=True)
class TaskSpec:
    """What to generate. Fields a task does not use are ignored (e.g. `config` for ACRE).

    task: acre | raven | pvr. render: text | symbolic (PVR: symbolic only).
    split: acre iid|comp|sys; pvr iid|holdout; raven: ignored (the configuration is the split).
    part: train | test (which side of a split pair). config: RAVEN configuration.
    complexity / aggregation / n_examples / holdout: PVR (holdout: how many permutations the holdout
    split holds out).
    candidates: RAVEN answer sets, "iraven" (no context-free shortcut) or "benchmark" (as the benchmark's).
    """

    task: Literal["acre", "raven", "pvr"]
    n: int
    seed: int = 0
    render: Literal["text", "symbolic"] = "text"
    split: str = "iid"
    part: Literal["train", "test"] = "train"
    config: str = "center_single"
    complexity: int = 0
    aggregation: str = "sum"
    n_examples: int = 3
    holdout: int = 1
    candidates: str = "iraven"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.n <= 0:
            raise ValueError(f"n must be positive, got {self.n}")
        if self.render not in ("text", "symbolic"):
            raise ValueError(f"render must be 'text' or 'symbolic', got {self.render!r}")
        if self.task == "pvr" and self.render != "symbolic":
            raise ValueError(f"render must be 'symbolic' for pvr, got {self.render!r}")
        if self.part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', got {self.part!r}")
        splits = {"acre": acre.ACRE_SPLITS, "pvr": pvr.PVR_SPLITS, "raven": (self.split,)}[self.task]
        if self.split not in splits:
            raise ValueError(f"split must be one of {splits} for {self.task}, got {self.split!r}")
        if self.task == "raven" and self.config not in raven.CONFIGS:
            raise ValueError(f"config must be one of {raven.CONFIGS}, got {self.config!r}")
        if self.task == "raven" and self.candidates not in raven.CANDIDATE_MODES:
            raise ValueError(f"candidates must be one of {raven.CANDIDATE_MODES}, got {self.candidates!r}")

    @property
    def is_ood(self) -> bool:
        """Whether this file is an out-of-distribution test set."""
        if self.task == "raven":
            return self.config != "center_single"
        return self.part == "test" and self.split != "iid"

    @property
    def domain(self) -> str:
        """Training domain of the file (oracle routing key), e.g. "acre-text"."""
        return f"{self.task}-{self.render}"

    @property
    def dataset(self) -> str:
        """Dataset name, e.g. "acre-text-comp", "raven-symbolic-distribute_four", "pvr-symbolic-c2-sum"."""
        if self.task == "raven":
            suffix = "-benchmark" if self.candidates == "benchmark" else ""  # answer sets with the shortcut
            return f"raven-{self.render}-{self.config}{suffix}"
        if self.task == "pvr":
            agg = "" if self.complexity == 0 else f"-{self.aggregation}"
            return f"pvr-symbolic-c{self.complexity}{agg}-{self.split}"
        return f"acre-{self.render}-{self.split}"


def generate_records(spec: TaskSpec) -> list[dict]:
    """The evals records of a spec (deterministic in the spec)."""
    if spec.task == "acre":
        return acre.generate_acre(spec.n, spec.seed, spec.render, spec.split, spec.part)  # type: ignore[arg-type]
    if spec.task == "raven":
        return raven.generate_raven(
            spec.n,
            spec.seed,
            spec.render,  # type: ignore[arg-type]
            spec.config,  # type: ignore[arg-type]
            spec.part,
            candidates=spec.candidates,
        )
    return pvr.generate_pvr(
        spec.n,
        spec.seed,
        spec.complexity,
        spec.aggregation,
        spec.n_examples,
        spec.split,  # type: ignore[arg-type]
        spec.part,  # type: ignore[arg-type]
        holdout=spec.holdout,
    )


def write_task_file(spec: TaskSpec, path: str | os.PathLike[str]) -> Path:
    """Generate and write a JSONL file atomically; same spec -> byte-identical file."""
    return write_jsonl(path, generate_records(spec))
