"""What every task's spec has: n lines, a seed, which side of a split pair, a dataset name and a domain.

A task (acre, raven, pvr) subclasses `TaskSpec` in its own generator module with the fields only it has
and one `generate()`; `iclm.data.generate.TASKS` names it (one line). Specs are frozen and keyword-only,
so the same spec always generates the same records (byte-identical files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

RENDERS: tuple[str, ...] = ("text", "symbolic")
PARTS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """n: lines to generate (> 0); seed; part: train | test (which side of a split pair); render: text |
    symbolic (a task may allow fewer). Subclasses set `task` and add their own fields."""

    task: ClassVar[str]

    n: int
    seed: int = 0
    render: Literal["text", "symbolic"] = "text"
    part: Literal["train", "test"] = "train"

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError(f"n must be positive, got {self.n}")
        if self.render not in RENDERS:
            raise ValueError(f"render must be 'text' or 'symbolic', got {self.render!r}")
        if self.part not in PARTS:
            raise ValueError(f"part must be 'train' or 'test', got {self.part!r}")

    @property
    def domain(self) -> str:
        """Training domain of the file (oracle routing key), e.g. "acre-text"."""
        return f"{self.task}-{self.render}"

    @property
    def dataset(self) -> str:
        """Dataset name, e.g. "acre-text-comp"."""
        raise NotImplementedError

    @property
    def is_ood(self) -> bool:
        """Whether this file is an out-of-distribution test set."""
        raise NotImplementedError

    def generate(self) -> list[dict]:
        """The evals records of this spec (deterministic in the spec)."""
        raise NotImplementedError
