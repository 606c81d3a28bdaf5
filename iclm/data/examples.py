"""Typed records shared by the data package: examples, per-line errors, loader limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Split = Literal["iid", "ood"]
SPLITS: tuple[str, ...] = ("iid", "ood")


class DataFileError(ValueError):
    """A whole file cannot be read (binary, empty, wrong encoding, not JSON/CSV at all, too many lines)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Example:
    """One prompt/answer pair, whatever file format it came from.

    `prompt` is the message contents joined with "\\n"; `answer` is `str(ideal)` (empty for prompt-only
    files); `choices` are the answer options as strings, or None; `dataset` names the file's task
    (e.g. "acre-text-iid"); `domain` optionally names the training domain used for oracle routing.
    """

    id: str
    prompt: str
    answer: str
    choices: tuple[str, ...] | None
    dataset: str
    split: Split
    domain: str | None = None


@dataclass(frozen=True)
class LineError:
    """One rejected line: the file, its 1-based line number, the offending field and why."""

    path: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: field '{self.field}': {self.reason}"


@dataclass
class LoadResult:
    """Valid examples of a file plus one LineError per rejected line."""

    examples: list[Example] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


@dataclass(frozen=True)
class LoaderLimits:
    """Caps that protect the loader from huge user files.

    max_prompt_chars: a longer prompt is a LineError (field "input"/"prompt").
    max_lines: a file with more non-blank lines raises DataFileError.
    max_file_bytes: a larger file raises DataFileError before it is read.
    """

    max_prompt_chars: int = 20_000
    max_lines: int = 200_000
    max_file_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_prompt_chars", "max_lines", "max_file_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"LoaderLimits.{name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = LoaderLimits()


def limit_per_dataset(examples: list, limit: int | None) -> list:
    """The first `limit` examples of every dataset, in order (all when limit is None)."""
    if limit is None:
        return list(examples)
    counts: dict[str, int] = {}
    kept = []
    for example in examples:
        counts[example.dataset] = counts.get(example.dataset, 0) + 1
        if counts[example.dataset] <= limit:
            kept.append(example)
    return kept
