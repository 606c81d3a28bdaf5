"""File statistics and context-free shortcut baselines.

A baseline that never reads the context (the majority label; for A-H matrices the odd-one-out candidate,
the one sharing the most attribute values with the other seven) shows when a file can be solved without
reasoning: the public RAVEN candidates fall to odd-one-out, our I-RAVEN-style ones do not.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from iclm.data.examples import DEFAULT_LIMITS, Example, LineError, LoaderLimits, LoadResult
from iclm.data.loader import load_examples

_CANDIDATE = re.compile(r"^([A-H])\. (.*)$")
_PANEL = re.compile(r"^[1-9]\. ")
_TOKEN = re.compile(r"[\w-]+")


@dataclass(frozen=True)
class FileReport:
    """What `iclm data check` prints for one file."""

    path: str
    dataset: str
    split: str
    n_examples: int
    label_counts: dict[str, int]
    prompt_chars_min: int
    prompt_chars_mean: float
    prompt_chars_max: int
    errors: list[LineError] = field(default_factory=list)
    majority_accuracy: float | None = None  # None when no example has an answer
    odd_one_out_accuracy: float | None = None  # None when the file is not an A-H matrix task


def candidate_tokens(prompt: str) -> dict[str, list[str]] | None:
    """Attribute tokens of the candidates A-H in a matrix prompt, or None if it has no 8 candidates.

    A line that carries no "N. " / "X. " label continues the labelled line before it (symbolic panels of
    up-down and inside-outside layouts span several lines)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in prompt.split("\n"):
        m = _CANDIDATE.match(line.strip())
        if m:
            current = m.group(1)
            found[current] = _TOKEN.findall(m.group(2))
        elif _PANEL.match(line.strip()):
            current = None  # a context panel "1. ..." ends the previous candidate
        elif current is not None:
            found[current] += _TOKEN.findall(line)
    return found if len(found) == 8 else None


def odd_one_out(candidates: dict[str, list[str]]) -> str:
    """The candidate sharing the most (position-wise) tokens with the others; the first one on ties."""
    scores = {}
    for label, tokens in candidates.items():
        scores[label] = sum(
            sum(a == b for a, b in zip(tokens, other, strict=False))
            for other_label, other in candidates.items()
            if other_label != label
        )
    best = max(scores.values())
    return min(label for label, s in scores.items() if s == best)


def majority_accuracy(examples: list[Example]) -> float | None:
    """Accuracy of always giving the most frequent answer (None when no example has one)."""
    from iclm.evaluation.statistics import majority_accuracy as of_answers

    return of_answers([e.answer for e in examples if e.answer != ""])


def odd_one_out_accuracy(examples: list[Example]) -> float | None:
    hits, total = 0, 0
    for ex in examples:
        cands = candidate_tokens(ex.prompt) if ex.answer else None
        if cands is None:
            continue
        total += 1
        hits += odd_one_out(cands) == ex.answer
    return hits / total if total else None


def check_file(path: str | os.PathLike[str], limits: LoaderLimits = DEFAULT_LIMITS) -> FileReport:
    """Load a file and compute its report (raises DataFileError when the file cannot be read)."""
    return report_of(path, load_examples(path, limits=limits))


def report_of(path: str | os.PathLike[str], result: LoadResult) -> FileReport:
    """The report of a file already loaded."""
    exs = result.examples
    lengths = [len(e.prompt) for e in exs] or [0]
    return FileReport(
        path=str(path),
        dataset=exs[0].dataset if exs else "",
        split=exs[0].split if exs else "",
        n_examples=len(exs),
        label_counts=dict(sorted(Counter(e.answer for e in exs if e.answer != "").items())),
        prompt_chars_min=min(lengths),
        prompt_chars_mean=float(statistics.fmean(lengths)),
        prompt_chars_max=max(lengths),
        errors=result.errors,
        majority_accuracy=majority_accuracy(exs),
        odd_one_out_accuracy=odd_one_out_accuracy(exs),
    )


def format_report(report: FileReport, max_errors: int = 20) -> str:
    """Human-readable multi-line summary of a report."""
    lines = [
        f"{report.path}: dataset={report.dataset} split={report.split} examples={report.n_examples} "
        f"bad_lines={len(report.errors)}",
        f"  labels: {report.label_counts}",
        f"  prompt chars: min={report.prompt_chars_min} mean={report.prompt_chars_mean:.0f} "
        f"max={report.prompt_chars_max}",
    ]
    if report.majority_accuracy is not None:
        lines.append(f"  shortcut majority-label accuracy: {report.majority_accuracy:.1%}")
    if report.odd_one_out_accuracy is not None:
        flag = "  <- solvable without the context!" if report.odd_one_out_accuracy > 0.3 else ""
        lines.append(
            f"  shortcut odd-one-out accuracy: {report.odd_one_out_accuracy:.1%} (chance 12.5%){flag}"
        )
    for err in report.errors[:max_errors]:
        lines.append(f"  bad line: {err}")
    if len(report.errors) > max_errors:
        lines.append(f"  ... and {len(report.errors) - max_errors} more bad lines")
    return "\n".join(lines)
