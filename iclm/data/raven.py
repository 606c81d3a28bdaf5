"""RAVEN-style progressive matrices with I-RAVEN candidates, in the benchmark's evals format.

A puzzle is a 3x3 matrix of panels; panel 9 is missing and must be picked among 8 candidates A-H. Per
component and attribute (type, size, colour) one rule holds along every row: ``constant``,
``progression`` (+-1, +-2), ``arithmetic`` (value+1 of the third = sum or difference of the first two's
value+1; size and colour only) or ``distribute_three`` (three values rotated between rows). The angle is
noise: random per row and entity, shared within the row.

Configurations: ``center_single`` (one entity; training), ``distribute_four`` (a 2x2 grid of four entities
sharing type/size/colour, each with its own angle) and ``in_center_single_out_center_single`` (an outer
and an inner entity, each with its own rules). The two last ones are our extension of the benchmark's
format (its public samples only hold center_single): the text lists entities as "X at the top left, Y at
the top right, Z at the bottom left and W at the bottom right" or "X containing Y"; the symbolic form lists
one ``(size, colour, type, angle,)`` letter tuple per entity in the same order inside the brackets.

Candidates follow I-RAVEN's attribute bisection tree: three (component, attribute) slots are picked and
each gets one wrong value; the 8 candidates are all combinations of right/wrong values, so every value
appears in exactly 4 candidates and the odd-one-out shortcut is at chance. Every wrong value breaks all
rules that fit rows 1-2, so exactly one candidate completes the matrix.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Literal

from iclm.data.evals_format import message, record

Config = Literal["center_single", "distribute_four", "in_center_single_out_center_single"]
Render = Literal["text", "symbolic"]
CONFIGS: tuple[str, ...] = ("center_single", "distribute_four", "in_center_single_out_center_single")
TYPES: tuple[str, ...] = ("triangle", "square", "pentagon", "hexagon", "circle")  # symbolic B-F
SIZES: tuple[str, ...] = ("tiny", "small", "medium", "large", "huge", "giant")  # symbolic A-F
COLORS: tuple[str, ...] = (
    "red",
    "orange",
    "yellow",
    "lime",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "white",
)
ANGLES: tuple[int, ...] = (-135, -90, -45, 0, 45, 90, 135, 180)  # symbolic A-H
ATTRIBUTES: tuple[str, ...] = ("type", "size", "color")
NUM_VALUES: dict[str, int] = {"type": len(TYPES), "size": len(SIZES), "color": len(COLORS)}
RULES: dict[str, tuple[str, ...]] = {
    "type": ("constant", "progression", "distribute_three"),
    "size": ("constant", "progression", "arithmetic", "distribute_three"),
    "color": ("constant", "progression", "arithmetic", "distribute_three"),
}
COMPONENTS: dict[str, int] = {
    "center_single": 1,
    "distribute_four": 1,
    "in_center_single_out_center_single": 2,
}
ENTITIES_PER_COMPONENT: dict[str, int] = {
    "center_single": 1,
    "distribute_four": 4,
    "in_center_single_out_center_single": 1,
}
POSITIONS = ("at the top left", "at the top right", "at the bottom left", "at the bottom right")
LETTERS = "ABCDEFGH"
INSTRUCTION = (
    "Find the pattern number 9 that completes the sequence. Pick the letter in front of the correct pattern "
    "that logically follows in the sequence from the answer set. Patterns in the sequence are preceded by a "
    "number from 1 to 8. Patterns in the answer set are preceded by a letter from A to H. Only return the "
    "letter in front of the correct pattern."
)

Hypothesis = tuple[str, int]  # (rule, parameter)


@dataclass(frozen=True)
class Entity:
    type: int
    size: int
    color: int
    angle: int  # index into ANGLES


Panel = tuple[Entity, ...]


@dataclass(frozen=True)
class RavenPuzzle:
    config: str
    context: tuple[Panel, ...]  # 8 panels, row-major
    candidates: tuple[Panel, ...]  # 8 panels A-H
    answer: int  # index of the right candidate
    rules: tuple[dict[str, Hypothesis], ...]  # per component: attribute -> (rule, parameter)


def hypotheses(attr: str) -> list[Hypothesis]:
    """Every (rule, parameter) an attribute may follow."""
    out: list[Hypothesis] = [("constant", 0)]
    out += [("progression", d) for d in (-2, -1, 1, 2)]
    if "arithmetic" in RULES[attr]:
        out += [("arithmetic", 1), ("arithmetic", -1)]
    out += [("distribute_three", k) for k in (1, 2)]
    return out


def fits(hyp: Hypothesis, rows: list[tuple[int, int, int]]) -> bool:
    """Whether all given rows (value triples) follow a hypothesis."""
    rule, p = hyp
    for r, (a, b, c) in enumerate(rows):
        if rule == "constant" and not a == b == c:
            return False
        if rule == "progression" and not (b - a == p and c - b == p):
            return False
        if rule == "arithmetic" and c + 1 != (a + 1) + p * (b + 1):
            return False
        if rule == "distribute_three":
            first = rows[0]
            if len(set(first)) != 3:
                return False
            shift = (r * p) % 3
            if (a, b, c) != first[shift:] + first[:shift]:
                return False
    return True


def _rows(rng: random.Random, attr: str, hyp: Hypothesis) -> list[tuple[int, int, int]] | None:
    """Three value rows following a hypothesis, or None if the draw left the value range."""
    n, (rule, p) = NUM_VALUES[attr], hyp
    rows = []
    first = tuple(rng.sample(range(n), 3))
    for r in range(3):
        if rule == "constant":
            v = rng.randrange(n)
            rows.append((v, v, v))
        elif rule == "progression":
            s = rng.randrange(n)
            rows.append((s, s + p, s + 2 * p))
        elif rule == "arithmetic":
            a, b = rng.randrange(n), rng.randrange(n)
            rows.append((a, b, a + p * (b + 1)))
        else:
            shift = (r * p) % 3
            rows.append(first[shift:] + first[:shift])
    if any(not 0 <= v < n for row in rows for v in row):
        return None
    return rows


def _wrong_values(attr: str, rows: list[tuple[int, int, int]]) -> list[int]:
    """Values for panel 9 that break every hypothesis fitting rows 1-2."""
    fitting = [h for h in hypotheses(attr) if fits(h, rows[:2])]
    a, b, _ = rows[2]
    return [v for v in range(NUM_VALUES[attr]) if not any(fits(h, rows[:2] + [(a, b, v)]) for h in fitting)]


def _component_rows(
    rng: random.Random,
) -> tuple[dict[str, Hypothesis], dict[str, list[tuple[int, int, int]]]]:
    """Rules and value rows of one component (rules drawn uniformly, then their parameter)."""
    rules: dict[str, Hypothesis] = {}
    rows: dict[str, list[tuple[int, int, int]]] = {}
    for attr in ATTRIBUTES:
        while True:
            rule = rng.choice(RULES[attr])
            hyp = rng.choice([h for h in hypotheses(attr) if h[0] == rule])
            drawn = _rows(rng, attr, hyp)
            if drawn is not None:
                rules[attr], rows[attr] = hyp, drawn
                break
    return rules, rows


def _panel(
    rows: list[dict[str, list]], angles: list[int], config: str, r: int, c: int, override=None
) -> Panel:
    """Entities of panel (r, c); `override` maps (component, attr) -> value for candidates."""
    override = override or {}
    entities = []
    for k, comp in enumerate(rows):
        vals = {a: override.get((k, a), comp[a][r][c]) for a in ATTRIBUTES}
        for e in range(ENTITIES_PER_COMPONENT[config]):
            angle = angles[k * ENTITIES_PER_COMPONENT[config] + e]
            entities.append(Entity(vals["type"], vals["size"], vals["color"], angle))
    return tuple(entities)


def make_puzzle(rng: random.Random, config: Config) -> RavenPuzzle:
    """One matrix with I-RAVEN candidates (resampled until every chosen slot has a rule-breaking value)."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
    n_entities = COMPONENTS[config] * ENTITIES_PER_COMPONENT[config]
    while True:
        drawn = [_component_rows(rng) for _ in range(COMPONENTS[config])]
        rules, rows = [d[0] for d in drawn], [d[1] for d in drawn]
        angles = [[rng.randrange(len(ANGLES)) for _ in range(n_entities)] for _ in range(3)]
        slots = rng.sample([(k, a) for k in range(len(rows)) for a in ATTRIBUTES], 3)
        options = [_wrong_values(a, rows[k][a]) for k, a in slots]
        if all(options):
            break
    context = tuple(_panel(rows, angles[r], config, r, c) for r in range(3) for c in range(3))[:8]
    wrong = [rng.choice(o) for o in options]
    candidates = []
    for mask in range(8):
        override = {slot: wrong[i] for i, slot in enumerate(slots) if mask >> i & 1}
        candidates.append(_panel(rows, angles[2], config, 2, 2, override))
    order = list(range(8))
    rng.shuffle(order)
    return RavenPuzzle(config, context, tuple(candidates[i] for i in order), order.index(0), tuple(rules))


def _entity_text(e: Entity) -> str:
    return f"a {SIZES[e.size]} {COLORS[e.color]} {TYPES[e.type]} rotated at {ANGLES[e.angle]} degrees"


def _panel_text(panel: Panel, config: str) -> str:
    parts = [_entity_text(e) for e in panel]
    if config == "distribute_four":
        parts = [f"{p} {pos}" for p, pos in zip(parts, POSITIONS, strict=True)]
        return "On an image, " + ", ".join(parts[:-1]) + " and " + parts[-1] + ". "
    if config == "in_center_single_out_center_single":
        return f"On an image, {parts[0]} containing {parts[1]}. "
    return f"On an image, {parts[0]}. "


def _panel_symbolic(panel: Panel) -> str:
    upper = string.ascii_uppercase
    tuples = [f"({upper[e.size]}, {upper[e.color]}, {upper[e.type + 1]}, {upper[e.angle]},)" for e in panel]
    return "[" + ", ".join(tuples) + "] "


def render_puzzle(puzzle: RavenPuzzle, render: Render) -> dict:
    """One evals record: instruction (system), 8 panels + 8 candidates + "The answer is " (user)."""
    if render not in ("text", "symbolic"):
        raise ValueError(f"render must be 'text' or 'symbolic', got {render!r}")
    labels = [str(i + 1) for i in range(8)] + list(LETTERS)
    panels = list(puzzle.context) + list(puzzle.candidates)
    msgs = [message("system", INSTRUCTION)]
    for label, panel in zip(labels, panels, strict=True):
        body = _panel_text(panel, puzzle.config) if render == "text" else _panel_symbolic(panel)
        msgs.append(message("user", f"{label}. {body}"))
    msgs.append(message("user", "The answer is "))
    return record(msgs, LETTERS[puzzle.answer], list(LETTERS))


def generate_raven(n: int, seed: int, render: Render, config: Config, part: str = "train") -> list[dict]:
    """`n` evals records of one configuration (text and symbolic of the same seed hold the same puzzles)."""
    rng = random.Random(f"raven|{seed}|{config}|{part}")
    return [render_puzzle(make_puzzle(rng, config), render) for _ in range(n)]
