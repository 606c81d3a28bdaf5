"""Task profiles: how an evals-JSONL task file is shaped and which shallow rules solve it.

A profile is computed from the prompt text alone (the benchmark's files carry no metadata), so a generated
file and the public benchmark's file (Strong-AI-Lab/Logical-and-abstract-reasoning) can be compared
metric by metric. The task is detected from the prompts: "acre" (text or symbolic), "raven" (A-H
matrices), "pvr", else "unknown" (label shares only). Metric names, groups and kinds are described in
`iclm.data.profile_stats`; the per-task metrics live in `profile_acre`, `profile_raven` and `profile_pvr`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from iclm.data.examples import DEFAULT_LIMITS, Example, LoaderLimits
from iclm.data.loader import load_examples
from iclm.data.profile_acre import acre_metrics, parse_acre_prompt
from iclm.data.profile_pvr import parse_pvr_prompt, pvr_metrics
from iclm.data.profile_raven import parse_raven_prompt, raven_metrics
from iclm.data.profile_stats import METRIC_KINDS, MetricKind, MetricTable, metric_group, metric_kind

logger = logging.getLogger(__name__)

Task = Literal["acre", "raven", "pvr", "unknown"]
Metrics = tuple[dict[str, float], dict[str, int]]
# Detection order matters: a PVR prompt whose labels are all 0/2 also reads as a symbolic ACRE prompt.
PARSERS: dict[str, Callable[[str], object | None]] = {
    "raven": parse_raven_prompt,
    "pvr": parse_pvr_prompt,
    "acre": parse_acre_prompt,
}
TASK_METRICS: dict[str, Callable[[Sequence[Example]], Metrics]] = {
    "acre": acre_metrics,
    "raven": raven_metrics,
    "pvr": pvr_metrics,
}
DETECT_SAMPLE = 100  # the task is the majority over this many first examples
UNKNOWN_LABELS = 20  # an unknown task's label shares: this many most common answers, then "other"
DEFAULT_TOLERANCE: dict[str, float] = {"share": 0.03, "size": 0.1, "accuracy": 0.05}


@dataclass(frozen=True)
class TaskProfile:
    """Shape of one task file: flat named metrics (shares as fractions 0-1) and their denominators.

    `counts[metric_group(name)]` is the number of items behind metric `name` (queries, puzzles, panels,
    row triples, ...); `n` is the number of examples profiled.
    """

    path: str
    dataset: str
    task: Task
    render: str  # "text" | "symbolic" | "" (unknown task)
    n: int
    metrics: dict[str, float]
    counts: dict[str, int]


@dataclass(frozen=True)
class ProfileRow:
    """One metric of two profiles; `difference` is b - a (None when the metric is missing in one)."""

    name: str
    kind: MetricKind
    a: float | None
    b: float | None
    difference: float | None
    tolerance: float
    flagged: bool
    n_a: int | None
    n_b: int | None


def detect_task(prompt: str) -> tuple[Task, str]:
    """(task, render) of one prompt: ("acre", "text"), ("raven", "symbolic"), ("pvr", "symbolic"), ..."""
    for task, parse in PARSERS.items():
        parsed = parse(prompt)
        if parsed is not None:
            return task, getattr(parsed, "render", "symbolic")  # type: ignore[return-value]
    return "unknown", ""


def profile_examples(examples: list[Example]) -> TaskProfile:
    """Profile of a list of examples (one task file); examples of another task than the majority's are
    skipped by the task metrics."""
    detected = Counter(detect_task(ex.prompt) for ex in examples[:DETECT_SAMPLE])
    task, render = detected.most_common(1)[0][0] if detected else ("unknown", "")
    if task == "unknown":
        metrics, counts = _unknown_metrics(examples)
    else:
        metrics, counts = TASK_METRICS[task](examples)
    dataset = examples[0].dataset if examples else ""
    return TaskProfile("", dataset, task, render, len(examples), metrics, counts)


def profile_file(path: str | os.PathLike[str], limits: LoaderLimits = DEFAULT_LIMITS) -> TaskProfile:
    """Load a task file and profile it (raises DataFileError when the file cannot be read)."""
    result = load_examples(path, limits=limits)
    if result.errors:
        logger.warning("%s: %d bad lines skipped (first: %s)", path, len(result.errors), result.errors[0])
    return replace(profile_examples(result.examples), path=str(path))


def _unknown_metrics(examples: Sequence[Example]) -> Metrics:
    answers = Counter(ex.answer for ex in examples if ex.answer != "")
    common = {a for a, _ in answers.most_common(UNKNOWN_LABELS)}
    table = MetricTable()
    table.shares("label_share", [a if a in common else "other" for a in answers.elements()])
    return table.metrics, table.counts


def _tolerance_for(name: str, tolerance: dict[str, float]) -> float:
    """The most specific tolerance: the name, then its dotted prefixes, then its kind."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in tolerance:
            return tolerance[".".join(parts[:i])]
    return tolerance[metric_kind(name)]


def _check_tolerance(tolerance: dict[str, float], names: set[str]) -> None:
    prefixes = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2)}
    for key, value in tolerance.items():
        if key not in METRIC_KINDS and key not in prefixes:
            raise ValueError(
                f"tolerance key {key!r} names no metric kind {METRIC_KINDS} and no metric or metric group "
                "of the compared profiles"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"tolerance[{key!r}] must be a non-negative number, got {value!r}")


def _value(profile: TaskProfile, name: str) -> float | None:
    """The metric, 0.0 for a share whose group the profile has but whose bin it never saw, else None."""
    if name in profile.metrics:
        return profile.metrics[name]
    if metric_kind(name) == "share" and metric_group(name) in profile.counts:
        return 0.0
    return None


def compare_profiles(
    a: TaskProfile, b: TaskProfile, tolerance: dict[str, float] | None = None
) -> list[ProfileRow]:
    """One row per metric of either profile, flagged when |b - a| exceeds its tolerance or it is missing.

    `tolerance` overrides DEFAULT_TOLERANCE (shares 0.03, sizes 0.1 absolute, rule accuracies 0.05) by
    kind ("share", "size", "accuracy"), by metric group prefix (e.g. "matrix_rule") or by metric name.
    """
    names = list(a.metrics) + [n for n in b.metrics if n not in a.metrics]
    given = dict(tolerance or {})
    _check_tolerance(given, set(names))
    tol = {**DEFAULT_TOLERANCE, **given}
    rows = []
    for name in names:
        va, vb = _value(a, name), _value(b, name)
        diff = None if va is None or vb is None else vb - va
        limit = _tolerance_for(name, tol)
        group = metric_group(name)
        flagged = diff is None or abs(diff) > limit + 1e-12
        rows.append(
            ProfileRow(
                name,
                metric_kind(name),
                va,
                vb,
                diff,
                limit,
                flagged,
                a.counts.get(group),
                b.counts.get(group),
            )
        )
    return rows


def _fmt(value: float | None, kind: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed else ""
    return f"{value * 100:{sign}.1f}%" if kind != "size" else f"{value:{sign}.2f}"


def format_profile(p: TaskProfile) -> str:
    """Multi-line summary: one line per metric group with its n; shares and accuracies in percent."""
    title = p.path or p.dataset or "<examples>"
    lines = [f"{title}: task={p.task} render={p.render or '-'} dataset={p.dataset or '-'} n={p.n}"]
    groups: dict[str, list[str]] = {}
    for name, value in p.metrics.items():
        group = metric_group(name)
        label = name[len(group) + 1 :]
        text = _fmt(value, metric_kind(name))
        groups.setdefault(group, []).append(f"{label} {text}" if label else text)
    for group, items in groups.items():
        lines.append(f"  {group} (n={p.counts.get(group, 0)}): " + ", ".join(items))
    return "\n".join(lines)


def format_comparison(rows: Sequence[ProfileRow], a_name: str, b_name: str) -> str:
    """Side-by-side table (value and n per profile, difference b - a); flagged rows end with "<-"."""
    width = max([len(r.name) for r in rows] + [6])
    head = f"{'metric':<{width}}  {a_name:>16}  {'n':>7}  {b_name:>16}  {'n':>7}  {'b - a':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        na = "-" if r.n_a is None else str(r.n_a)
        nb = "-" if r.n_b is None else str(r.n_b)
        diff = _fmt(r.difference, r.kind, signed=True).removesuffix("%")
        unit = " pp" if r.kind != "size" and r.difference is not None else ""
        flag = "  <-" if r.flagged else ""
        lines.append(
            f"{r.name:<{width}}  {_fmt(r.a, r.kind):>16}  {na:>7}  {_fmt(r.b, r.kind):>16}  {nb:>7}  "
            f"{diff + unit:>8}{flag}"
        )
    n_flagged = sum(r.flagged for r in rows)
    lines.append(f"{n_flagged} of {len(rows)} metrics differ beyond tolerance (marked <-)")
    return "\n".join(lines)
