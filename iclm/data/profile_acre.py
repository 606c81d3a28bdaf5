"""ACRE task profile from the prompt text alone: puzzle shape, query types and shallow-rule accuracies.

A prompt is instruction lines, 6 context panels (text "A red cube in metal is visible. ... The light is
on." or symbolic "[3, 17] -> 2") and a query (the last line). Panels 1-3 are the detection trial, 4-6 the
"evidence" panels. An object in an unlit panel is *excluded* (surely no blicket). Consecutive lines with
the same context form one puzzle. Answers are off/undetermined/on (symbolic 0/1/2).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from iclm.data.examples import Example
from iclm.data.profile_stats import MetricTable

logger = logging.getLogger(__name__)

Label = Literal["off", "undetermined", "on"]
QueryType = Literal["direct", "indirect", "screening_off", "potential"]
LABELS: tuple[str, ...] = ("off", "undetermined", "on")
QUERY_TYPES: tuple[str, ...] = ("direct", "indirect", "screening_off", "potential")
_LABEL_OF: dict[str, Label] = {"off": "off", "undetermined": "undetermined", "on": "on"}
_LABEL_OF.update({"0": "off", "1": "undetermined", "2": "on"})
MAX_FREE_OBJECTS = 20  # brute force enumerates 2**free assignments per puzzle

_TEXT_OBJECT = re.compile(r"A (\w+) (\w+)(?: object)? in (\w+) is visible\.")
_TEXT_PANEL = re.compile(r"^(?:A \w+ \w+ in \w+ is visible\. )+The light is (?P<light>on|off)\.$")
_TEXT_QUERY = re.compile(r"^(?:A \w+ \w+(?: object)? in \w+ is visible\.\s*)+(?:The state of the light is)?$")
_SYMBOLIC_PANEL = re.compile(r"^\[\d+(?:, \d+)*\] -> (?P<light>[02])$")
_SYMBOLIC_QUERY = re.compile(r"^\[\d+(?:, \d+)*\] ->$")
_FORMATS: dict[str, tuple[re.Pattern, re.Pattern]] = {
    "text": (_TEXT_PANEL, _TEXT_QUERY),
    "symbolic": (_SYMBOLIC_PANEL, _SYMBOLIC_QUERY),
}


@dataclass(frozen=True)
class AcrePanel:
    objects: tuple[str, ...]  # "red cube metal" (text) or "17" (symbolic), in prompt order
    light: bool


@dataclass(frozen=True)
class AcrePrompt:
    """The parsed context panels and query objects of one ACRE prompt."""

    render: Literal["text", "symbolic"]
    context: tuple[AcrePanel, ...]
    query: tuple[str, ...]

    @property
    def excluded(self) -> frozenset[str]:
        return frozenset(o for p in self.context if not p.light for o in p.objects)


def parse_acre_prompt(prompt: str) -> AcrePrompt | None:
    """Context panels and query of an ACRE prompt, or None when the prompt is not one."""
    lines = [line.strip() for line in prompt.split("\n") if line.strip()]
    if len(lines) < 2:
        return None
    for render, (panel_re, query_re) in _FORMATS.items():
        if not query_re.match(lines[-1]):
            continue
        context = tuple(
            AcrePanel(_objects(line, render), m.group("light") in ("on", "2"))
            for line in lines[:-1]
            if (m := panel_re.match(line))
        )
        if context:
            return AcrePrompt(render, context, _objects(lines[-1], render))  # type: ignore[arg-type]
    return None


def _objects(line: str, render: str) -> tuple[str, ...]:
    if render == "text":
        return tuple(" ".join(m) for m in _TEXT_OBJECT.findall(line))
    return tuple(re.findall(r"\d+", line.split("->")[0]))


def consistent_assignments(context: Sequence[AcrePanel]) -> list[frozenset[str]] | None:
    """Every blicket set over the context objects that explains all panels (brute force).

    Excluded objects are never blickets, so only the others are enumerated; None when more than
    MAX_FREE_OBJECTS would have to be.
    """
    excluded = {o for p in context if not p.light for o in p.objects}
    free = sorted({o for p in context for o in p.objects} - excluded)
    if len(free) > MAX_FREE_OBJECTS:
        return None
    masks = [(sum(1 << free.index(o) for o in set(p.objects) - excluded), p.light) for p in context]
    found = []
    for bits in range(1 << len(free)):
        if all(bool(mask & bits) == light for mask, light in masks):
            found.append(frozenset(o for i, o in enumerate(free) if bits >> i & 1))
    return found


def entailed_answer(
    assignments: Sequence[frozenset[str]], context_objects: set[str], query: Sequence[str]
) -> Label | None:
    """Light state for `query` under every consistent assignment: all agree -> it, else undetermined.

    An object absent from the context may be a blicket or not. None when the context is inconsistent.
    """
    if not assignments:
        return None
    outcomes = {bool(blickets.intersection(query)) for blickets in assignments}
    if set(query) - context_objects:
        outcomes.add(True)
    return ("on" if True in outcomes else "off") if len(outcomes) == 1 else "undetermined"


def reference_panel(prompt: AcrePrompt) -> int | None:
    """Index of the unlit context panel an interventional query starts with (the longest), else None."""
    best = None
    for i, panel in enumerate(prompt.context):
        size = len(panel.objects)
        if panel.light or size >= len(prompt.query) or set(prompt.query[:size]) != set(panel.objects):
            continue
        if best is None or size > len(prompt.context[best].objects):
            best = i
    return best


def query_type(prompt: AcrePrompt, answer: Label | None) -> QueryType:
    """Type of the query's classified objects (the objects added to a reference panel, else all of them).

    `answer` is the entailed answer: undetermined -> potential; all objects excluded -> screening_off when
    one also appears in a lit panel, else direct; a single blicket -> direct when some lit panel shows it
    alone, else indirect; several objects turning the light on -> indirect.
    """
    if answer == "undetermined":
        return "potential"
    ref = reference_panel(prompt)
    objects = prompt.query[len(prompt.context[ref].objects) :] if ref is not None else prompt.query
    lit = [p for p in prompt.context if p.light]
    if set(objects) <= prompt.excluded:
        seen_lit = any(o in p.objects for p in lit for o in objects)
        return "screening_off" if seen_lit else "direct"
    if len(set(objects)) == 1 and any(p.objects == (objects[0],) for p in lit):
        return "direct"
    return "indirect"


def seen_alone_rule(prompt: AcrePrompt) -> Label:
    """On if a query object was shown alone with the light on; off if all were shown alone unlit."""
    alone = {p.objects[0]: p.light for p in prompt.context if len(p.objects) == 1}
    if any(alone.get(o) is True for o in prompt.query):
        return "on"
    if all(alone.get(o) is False for o in prompt.query):
        return "off"
    return "undetermined"


def exclusion_only_rule(prompt: AcrePrompt) -> Label:
    """Off if every query object appears in some unlit panel, else on."""
    return "off" if set(prompt.query) <= prompt.excluded else "on"


@dataclass(frozen=True)
class _Query:
    prompt: AcrePrompt
    gold: Label | None
    entailed: Label | None
    kind: QueryType


def _puzzles(examples: Sequence[Example]) -> list[list[_Query]]:
    """Parsed queries grouped into puzzles (consecutive lines with the same context)."""
    puzzles: list[list[_Query]] = []
    last_context = None
    assignments: list[frozenset[str]] | None = None
    for ex in examples:
        prompt = parse_acre_prompt(ex.prompt)
        if prompt is None:
            continue
        if prompt.context != last_context:
            last_context, assignments = prompt.context, consistent_assignments(prompt.context)
            puzzles.append([])
        objects = {o for p in prompt.context for o in p.objects}
        entailed = entailed_answer(assignments, objects, prompt.query) if assignments is not None else None
        gold = _LABEL_OF.get(ex.answer.strip().lower())
        puzzles[-1].append(_Query(prompt, gold, entailed, query_type(prompt, entailed)))
    return puzzles


def _panel_metrics(table: MetricTable, puzzles: list[list[_Query]]) -> None:
    contexts = [puzzle[0].prompt for puzzle in puzzles]
    table.shares("lit_context_panels", [sum(p.light for p in c.context) for c in contexts])
    table.fraction("context.detection_trial_first", [_detection_trial(c.context[:3]) for c in contexts])
    table.mean("context_panels", [len(c.context) for c in contexts])
    table.shares("objects_per_context_panel", [len(p.objects) for c in contexts for p in c.context])
    table.mean("objects_per_evidence_panel", [len(p.objects) for c in contexts for p in c.context[3:]])
    lit_kinds, order = [], []
    for c in contexts:
        excluded = c.excluded
        for panel in (p for p in c.context[3:] if p.light):
            flags = [o in excluded for o in panel.objects]
            lit_kinds.append(_lit_kind(flags))
            if any(flags):
                order.append(flags == sorted(flags))
    table.shares("lit_evidence", lit_kinds, ["single_object", "one_candidate_plus_distractors"])
    table.fraction("lit_evidence_with_distractors.candidates_first", order)
    table.mean("queries_per_puzzle", [len(puzzle) for puzzle in puzzles])
    same = [
        (r := reference_panel(p[-1].prompt)) is not None and r == reference_panel(p[-2].prompt)
        for p in puzzles
        if len(p) >= 2
    ]
    table.fraction("last_two_queries.same_reference", same)


def _lit_kind(excluded_flags: list[bool]) -> str:
    """How a lit panel mixes candidates (non-excluded objects) and distractors (excluded ones)."""
    if len(excluded_flags) == 1:
        return "single_object"
    if not any(excluded_flags):
        return "no_distractor"
    candidates = excluded_flags.count(False)
    return "one_candidate_plus_distractors" if candidates == 1 else "candidates_plus_distractors"


def _detection_trial(panels: Sequence[AcrePanel]) -> bool:
    """{A} on, {B} off, {A, B} on, in any order."""
    singles = [p for p in panels if len(p.objects) == 1]
    pairs = [p for p in panels if len(set(p.objects)) == 2 and len(p.objects) == 2]
    if len(singles) != 2 or len(pairs) != 1 or {p.light for p in singles} != {True, False}:
        return False
    return pairs[0].light and set(pairs[0].objects) == {p.objects[0] for p in singles}


def _rule_metrics(table: MetricTable, queries: list[_Query]) -> None:
    labelled = [q for q in queries if q.gold is not None]
    if not labelled:
        return
    majority = Counter(q.gold for q in labelled).most_common(1)[0][0]
    by_size: dict[int, Counter] = {}
    for q in labelled:
        by_size.setdefault(len(q.prompt.query), Counter())[q.gold] += 1
    best = {
        size: max(LABELS, key=lambda lab, c=c: (c[lab], -LABELS.index(lab))) for size, c in by_size.items()
    }
    table.fraction("rule.seen_alone", [seen_alone_rule(q.prompt) == q.gold for q in labelled])
    table.fraction("rule.exclusion_only", [exclusion_only_rule(q.prompt) == q.gold for q in labelled])
    table.fraction("rule.majority_label", [q.gold == majority for q in labelled])
    table.fraction("rule.best_label_per_query_size", [best[len(q.prompt.query)] == q.gold for q in labelled])
    table.fraction("rule.entailment", [q.entailed == q.gold for q in labelled])


def acre_metrics(examples: Sequence[Example]) -> tuple[dict[str, float], dict[str, int]]:
    """(metrics, counts) of the ACRE examples among `examples` (others are skipped)."""
    puzzles = _puzzles(examples)
    queries = [q for puzzle in puzzles for q in puzzle]
    if len(queries) < len(examples):
        logger.info(
            "%d of %d examples are no ACRE prompt; skipped", len(examples) - len(queries), len(examples)
        )
    table = MetricTable()
    table.shares("label_share", [q.gold for q in queries if q.gold is not None], LABELS)
    table.shares("query_type", [q.kind for q in queries], QUERY_TYPES)
    table.fraction("query.interventional", [reference_panel(q.prompt) is not None for q in queries])
    table.mean("objects_per_query", [len(q.prompt.query) for q in queries])
    if puzzles:
        _panel_metrics(table, puzzles)
    _rule_metrics(table, queries)
    return table.metrics, table.counts
