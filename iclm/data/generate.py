"""One entry point over the task generators: a task's spec -> evals records -> an atomically written file.

Each task declares its own spec (`TaskSpec` subclass with only its fields) in its generator module; `TASKS`
names them. A new task: one module with its spec and generator, one line in `TASKS`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from iclm.data.acre import AcreSpec
from iclm.data.evals_format import write_jsonl
from iclm.data.pvr import PvrSpec
from iclm.data.raven import RavenSpec
from iclm.data.task_spec import TaskSpec

TASKS: dict[str, type[TaskSpec]] = {
    "acre": AcreSpec,
    "raven": RavenSpec,
    "pvr": PvrSpec,
}


def task_class(task: object) -> type[TaskSpec]:
    """The spec class registered as `task`; ValueError listing the valid names otherwise."""
    from iclm.validation import check_registered

    check_registered("task", task, TASKS)
    return TASKS[task]


def task_fields(task: str) -> tuple[str, ...]:
    """The field names a task's spec takes (n, seed, render, part and the task's own)."""
    return tuple(f.name for f in dataclasses.fields(task_class(task)))


def task_spec(task: str, **fields: Any) -> TaskSpec:
    """The spec of a task named by string (a CLI argument, a mix plan); a field the task does not have is a
    ValueError naming it and the task's fields."""
    cls = task_class(task)
    unknown = sorted(set(fields) - set(task_fields(task)))
    if unknown:
        raise ValueError(f"{task} has no field {unknown}; its fields are {list(task_fields(task))}")
    return cls(**fields)


def generate_records(spec: TaskSpec) -> list[dict]:
    """The evals records of a spec (deterministic in the spec)."""
    return spec.generate()


def write_task_file(spec: TaskSpec, path: str | os.PathLike[str]) -> Path:
    """Generate and write a JSONL file atomically; same spec -> byte-identical file."""
    return write_jsonl(path, generate_records(spec))
