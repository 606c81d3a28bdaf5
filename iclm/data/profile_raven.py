"""RAVEN task profile from the prompt text alone: inferred row rules and context-free candidate pickers.

A prompt holds 8 context panels ("1. ..." to "8. ") and 8 candidates ("A. ..." to "H. "), rendered as
text ("On an image, a large red triangle rotated at -45 degrees. ") or symbolic ("[(D, A, B, C,)] "), in
any of the benchmark's configurations (components "On the left:", "Inside:", ...; symbolic components
split by "|" or dashes; slots " in the top left" / " TL"). Attributes are RAVEN levels: type 1-5
(triangle..circle), size 0-5, colour 0-9, angle 0-7 (the symbolic letter's index in both renderings).
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from iclm.data.check import odd_one_out
from iclm.data.examples import Example
from iclm.data.profile_stats import MetricTable

logger = logging.getLogger(__name__)

LETTERS = "ABCDEFGH"
RULED: tuple[str, ...] = ("type", "size", "color")
ROW_RULES: tuple[str, ...] = ("constant", "progression", "arithmetic", "distribute_three", "none")
TYPE_WORDS = ("none", "triangle", "square", "pentagon", "hexagon", "circle")
SIZE_WORDS = ("tiny", "small", "medium", "large", "huge", "giant")
COLOR_WORDS = ("red", "orange", "yellow", "lime", "green", "cyan", "blue", "purple", "pink", "white")
ANGLE_WORDS = ("-135", "-90", "-45", "0", "45", "90", "135", "180")
SLOT_CODES = {
    "top left": "TL", "top center": "TC", "top right": "TR", "center left": "CL", "center": "C",
    "center right": "CR", "bottom left": "BL", "bottom center": "BC", "bottom right": "BR",
}  # fmt: skip

_PANEL_START = re.compile(r"^([1-8A-H])\. (.*)$")
_SLOT = "|".join(sorted(SLOT_CODES, key=len, reverse=True))
_TEXT_ENTITY = re.compile(rf"\ba (\w+) (\w+) (\w+) rotated at (-?\d+) degrees(?: (?:in|at) the ({_SLOT}))?")
_TEXT_COMPONENT = re.compile(r"(?:On the left|On the right|Above|Below|Outside|Inside): ")
_SYMBOLIC_ENTITY = re.compile(r"\(([A-J]), ([A-J]), ([A-J]), ([A-J]),\s*([A-Z]{0,2})\)")


@dataclass(frozen=True)
class RavenEntity:
    type: int
    size: int
    color: int
    angle: int
    slot: str | None = None  # "TL".."BR" when the layout names positions


RavenPanel = tuple[tuple[RavenEntity, ...], ...]  # components, each a tuple of entities


@dataclass(frozen=True)
class RavenPrompt:
    render: str
    context: tuple[RavenPanel, ...]  # 8 panels, row-major
    candidates: dict[str, RavenPanel]  # "A".."H"


def split_panels(prompt: str) -> dict[str, str]:
    """Panel texts by label ("1".."8", "A".."H"); a panel may span lines (symbolic up/down, in/out)."""
    panels: dict[str, list[str]] = {}
    current = None
    for line in prompt.split("\n"):
        m = _PANEL_START.match(line)
        if m:
            current = m.group(1)
            panels[current] = [m.group(2)]
        elif line.startswith("The ") or current is None:
            current = None
        else:
            panels[current].append(line)
    return {label: "\n".join(lines) for label, lines in panels.items()}


def parse_panel(text: str) -> tuple[str, RavenPanel] | None:
    """(render, components) of one panel, or None when no entity is recognised."""
    if "(" in text and _SYMBOLIC_ENTITY.search(text):
        parts = [p for p in re.split(r"\||-{3,}", text) if "(" in p]
        comps = tuple(tuple(_symbolic_entity(m) for m in _SYMBOLIC_ENTITY.finditer(p)) for p in parts)
        return ("symbolic", comps) if all(comps) else None
    body = text.removeprefix("On an image, ")
    labelled = _TEXT_COMPONENT.split(body)
    parts = labelled[1:] if len(labelled) > 1 else body.split(" containing ")
    try:
        comps = tuple(tuple(_text_entity(m) for m in _TEXT_ENTITY.finditer(p)) for p in parts)
    except ValueError:  # a word outside the benchmark's vocabulary
        return None
    return ("text", comps) if comps and all(comps) else None


def _symbolic_entity(m: re.Match) -> RavenEntity:
    size, color, kind, angle = (ord(m.group(i)) - ord("A") for i in range(1, 5))
    return RavenEntity(kind, size, color, angle, m.group(5) or None)


def _text_entity(m: re.Match) -> RavenEntity:
    size, color, kind, angle, slot = m.groups()
    return RavenEntity(
        TYPE_WORDS.index(kind),
        SIZE_WORDS.index(size),
        COLOR_WORDS.index(color),
        ANGLE_WORDS.index(angle),
        SLOT_CODES[slot] if slot else None,
    )


def parse_raven_prompt(prompt: str) -> RavenPrompt | None:
    """The 8 context panels and 8 candidates of an A-H matrix prompt, or None when it is not one."""
    texts = split_panels(prompt)
    labels = [str(i) for i in range(1, 9)] + list(LETTERS)
    if any(label not in texts for label in labels):
        return None
    parsed = [parse_panel(texts[label]) for label in labels]
    if any(p is None for p in parsed) or len({p[0] for p in parsed}) != 1:  # type: ignore[index]
        return None
    panels = [p[1] for p in parsed]  # type: ignore[index]
    return RavenPrompt(parsed[0][0], tuple(panels[:8]), dict(zip(LETTERS, panels[8:], strict=True)))  # type: ignore[index]


def component_value(panel: RavenPanel, component: int, attribute: str) -> int | None:
    """The attribute level all entities of a component share ("number": entity count - 1), else None."""
    if component >= len(panel) or not panel[component]:
        return None
    if attribute == "number":
        return len(panel[component]) - 1
    values = {getattr(e, attribute) for e in panel[component]}
    return values.pop() if len(values) == 1 else None


def row_rules(rows: Sequence[Sequence[int | None]], attribute: str) -> list[str | None]:
    """The first fitting rule of each row triple (None where a value is unknown).

    constant; progression +-1/+-2; arithmetic (size, number: (c+1) = (a+1) +- (b+1); colour: c = a +- b;
    never type); distribute_three (three distinct values, the rows distinct rotations of each other).
    """
    known = all(v is not None for row in rows for v in row)
    rotations = known and _distribute_three(rows)
    out: list[str | None] = []
    for row in rows:
        if any(v is None for v in row):
            out.append(None)
            continue
        a, b, c = row
        if a == b == c:
            out.append("constant")
        elif b - a == c - b and abs(b - a) in (1, 2):
            out.append("progression")
        elif attribute != "type" and _arithmetic(a, b, c, attribute):
            out.append("arithmetic")
        else:
            out.append("distribute_three" if rotations else "none")
    return out


def _arithmetic(a: int, b: int, c: int, attribute: str) -> bool:
    if attribute == "color":
        return c in (a + b, a - b)
    return c + 1 in (a + b + 2, a - b)


def _distribute_three(rows: Sequence[Sequence[int | None]]) -> bool:
    first = tuple(rows[0])
    turns = {first[i:] + first[:i] for i in range(3)}
    return len(set(first)) == 3 and len({tuple(r) for r in rows}) == 3 and {tuple(r) for r in rows} <= turns


def _matrix_rules(table: MetricTable, prompts: list[tuple[RavenPrompt, str]]) -> None:
    """Row-rule shares per component and attribute, the gold candidate put in place 9."""
    n_comps = {len(p.context[0]) for p, _ in prompts}
    multi = any(len(comp) > 1 for p, _ in prompts for panel in p.context for comp in panel)
    attributes = (*RULED, "number") if multi else RULED
    for comp in range(max(n_comps)):
        for attr in attributes:
            found: list[str] = []
            for prompt, gold in prompts:
                panels = (*prompt.context, prompt.candidates[gold])
                if any(len(panel) != len(panels[0]) for panel in panels):
                    continue
                values = [component_value(panel, comp, attr) for panel in panels]
                rows = [values[0:3], values[3:6], values[6:9]]
                found += [r for r in row_rules(rows, attr) if r is not None]
            prefix = f"matrix_rule.{attr}" if n_comps == {1} else f"matrix_rule.c{comp}.{attr}"
            keys = [r for r in ROW_RULES if attr != "type" or r != "arithmetic"]
            table.shares(prefix, found, keys)


def nearest_median(candidates: dict[str, RavenPanel]) -> str:
    """The candidate closest (summed absolute level difference) to the per-attribute candidate median."""
    features = {label: _features(panel) for label, panel in candidates.items()}
    keys = set.intersection(*(set(f) for f in features.values()))
    median = {k: statistics.median(f[k] for f in features.values()) for k in keys}
    distance = {label: sum(abs(f[k] - median[k]) for k in keys) for label, f in features.items()}
    return min(sorted(distance), key=distance.__getitem__)


def _features(panel: RavenPanel) -> dict[tuple[int, int, str], int]:
    return {
        (c, i, a): getattr(e, a) for c, comp in enumerate(panel) for i, e in enumerate(comp) for a in RULED
    }


def candidate_tokens_of(prompt: RavenPrompt) -> dict[str, list[str]]:
    """Per candidate, its entities' attribute levels as tokens (in check.odd_one_out's form)."""
    return {
        label: [f"{getattr(e, a)}" for comp in panel for e in comp for a in (*RULED, "angle", "slot")]
        for label, panel in prompt.candidates.items()
    }


def raven_metrics(examples: Sequence[Example]) -> tuple[dict[str, float], dict[str, int]]:
    """(metrics, counts) of the A-H matrix examples among `examples` (others are skipped)."""
    parsed = [(p, ex.answer.strip()) for ex in examples if (p := parse_raven_prompt(ex.prompt))]
    labelled = [(p, gold) for p, gold in parsed if len(gold) == 1 and gold in LETTERS]
    if len(parsed) < len(examples):
        logger.info(
            "%d of %d examples are no A-H matrix prompt; skipped", len(examples) - len(parsed), len(examples)
        )
    table = MetricTable()
    table.shares("label_share", [gold for _, gold in labelled], list(LETTERS))
    table.mean("entities_per_panel", [sum(map(len, panel)) for p, _ in parsed for panel in p.context])
    if labelled:
        _matrix_rules(table, labelled)
        majority = max(LETTERS, key=[gold for _, gold in labelled].count)
        table.fraction("rule.odd_one_out", [odd_one_out(candidate_tokens_of(p)) == g for p, g in labelled])
        table.fraction("rule.nearest_median", [nearest_median(p.candidates) == g for p, g in labelled])
        table.fraction("rule.majority_letter", [g == majority for _, g in labelled])
    return table.metrics, table.counts
