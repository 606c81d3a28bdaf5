"""RAVEN's rule sampling and matrix construction (WellyZhang/RAVEN ``sampling.py``, ``constraints.py``,
``Rule.py``, ``main.py``), one component at a time.

Per component, each rule group (Number/Position, Type, Size, Color) draws its rule uniformly from its list,
then the parameter uniformly. The rule narrows the range column 1 is sampled from (``rule_constraint``); a
rule whose narrowed range is empty is redrawn. RAVEN redraws the whole rule set instead, but acceptance
factorises over groups and components, so the accepted rules have the same distribution. Values are then
drawn constructively (Arithmetic narrows column 2's range given column 1), so no row is ever rejected.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from iclm.data.raven_model import ANGLES, ATTRIBUTES, Hypothesis, Layout

PARAMS = (-2, -1, 1, 2)
NUMPOS_RULES: tuple[tuple[str, tuple[int, ...] | None], ...] = (
    ("progression_number", PARAMS),
    ("progression_position", PARAMS),
    ("arithmetic_number", (1, -1)),
    ("arithmetic_position", (1, -1)),
    ("distribute_three_number", None),
    ("distribute_three_position", None),
    ("constant", None),
)
ATTR_RULES: dict[str, tuple[tuple[str, tuple[int, ...] | None], ...]] = {
    "type": (("progression", PARAMS), ("distribute_three", None), ("constant", None)),
    "size": (
        ("progression", PARAMS),
        ("arithmetic", (1, -1)),
        ("distribute_three", None),
        ("constant", None),
    ),
    "color": (
        ("progression", PARAMS),
        ("arithmetic", (1, -1)),
        ("distribute_three", None),
        ("constant", None),
    ),
}
COLOR_MIN, COLOR_MAX = 0, 9


@dataclass
class MEntity:
    """A mutable entity while a matrix is built (values as in `Entity`)."""

    type: int
    size: int
    color: int
    angle: int
    slot: int

    def copy(self, **changes: int) -> MEntity:
        return replace(self, **changes)


MPanel = list[MEntity]


@dataclass
class ComponentDraw:
    """One component of a matrix: its rules, sampling ranges and the 9 panels (row-major)."""

    layout: Layout
    layout_rule: Hypothesis  # Number/Position rule, e.g. ("progression_number", 1)
    rules: dict[str, Hypothesis]  # attribute -> (rule, parameter)
    ranges: dict[str, tuple[int, int]]  # rule-narrowed ranges column 1 is sampled from
    levels: tuple[int, int]  # rule-narrowed Number levels (number of entities - 1)
    uniform: bool  # RAVEN's Uniformity (True for single-slot layouts, where it has no effect)
    panels: list[MPanel]

    def governed(self, attr: str) -> bool:
        """Whether the attribute's values are rule-governed (all entities of a panel share one value)."""
        return self.uniform or self.rules[attr][0] != "constant"


def narrow_attr(rule: str, p: int, attr: str, lo: int, hi: int) -> tuple[int, int] | None:
    """RAVEN's rule_constraint for Type/Size/Color: column 1's range, None if the rule cannot apply."""
    if rule == "progression":
        lo, hi = (lo, hi - 2 * p) if p > 0 else (lo - 2 * p, hi)
    elif rule == "arithmetic" and attr == "size":
        lo, hi = (lo, hi - lo - 1) if p > 0 else (2 * lo + 1, hi)
    elif rule == "arithmetic":
        if hi - lo < 1:
            return None
        lo, hi = (lo, hi - lo) if p > 0 else (2 * lo, hi)
    elif rule == "distribute_three" and hi - lo + 1 < 3:
        return None
    return (lo, hi) if lo <= hi else None


def narrow_numpos(rule: str, p: int, lo: int, hi: int) -> tuple[int, int] | None:
    """RAVEN's rule_constraint for Number/Position on Number levels [lo, hi] (hi + 1 == slots)."""
    if rule == "progression_number":
        lo, hi = (lo, hi - 2 * p) if p > 0 else (lo - 2 * p, hi)
    elif rule == "progression_position":
        hi -= 2 * abs(p)
    elif rule == "arithmetic_number":
        lo, hi = (lo, hi - lo - 1) if p > 0 else (2 * lo + 1, hi)
    elif rule == "arithmetic_position":
        lo, hi = (lo, hi - 1) if p > 0 else ((hi + 2) // 2 - 1, hi - 1)
    elif rule == "distribute_three_number" and hi - lo + 1 < 3:
        return None
    elif rule == "distribute_three_position":
        if hi + 1 < 3:
            return None
        hi -= 1
    return (lo, hi) if lo <= hi else None


def _draw(rng: random.Random, options, narrow, *args) -> tuple[str, int, tuple[int, int]]:
    """A rule uniform over `options`, then its parameter uniform, redrawn while `narrow` finds no range."""
    while True:
        name, params = options[rng.randrange(len(options))]
        p = rng.choice(params) if params else 0
        narrowed = narrow(name, p, *args)
        if narrowed is not None:
            return name, p, narrowed


def fresh_entity(rng: random.Random, ranges: dict[str, tuple[int, int]], slot: int) -> MEntity:
    t, s, c = (rng.randint(*ranges[a]) for a in ATTRIBUTES)
    return MEntity(t, s, c, rng.randrange(len(ANGLES)), slot)


def _fill(rng: random.Random, slots: list[int], uniform: bool, ranges) -> MPanel:
    """A freshly sampled panel (RAVEN's Layout resample): one entity copied if uniform, else independent."""
    if uniform:
        first = fresh_entity(rng, ranges, slots[0])
        return [first.copy(slot=s) for s in slots]
    return [fresh_entity(rng, ranges, s) for s in slots]


def _spawn(rng: random.Random, template: MEntity, slots: list[int], uniform: bool, ranges) -> MPanel:
    """Entities rebuilt after a Number/Position change: copies of entity 0, resampled if not uniform."""
    return [template.copy(slot=s) if uniform else fresh_entity(rng, ranges, s) for s in slots]


def _moved(panel: MPanel, slots: list[int]) -> MPanel:
    return [e.copy(slot=s) for e, s in zip(panel, slots, strict=True)]


def _rotations(three: tuple, k: int) -> list[tuple]:
    return [three[(r * k) % 3 :] + three[: (r * k) % 3] for r in range(3)]


def _new_positions(rng: random.Random, n: int, slots: int, avoid: list[set[int]]) -> list[int]:
    while True:
        pos = rng.sample(range(slots), n)
        if set(pos) not in avoid:
            return pos


def _layout_rows(rng: random.Random, d: ComponentDraw) -> tuple[list[MPanel], int]:
    """The 9 panels after the Number/Position rule (before Type/Size/Color rules) and the rule's parameter."""
    rule, p = d.layout_rule
    n_slots, (lo, hi), uni, ranges = d.layout.slots, d.levels, d.uniform, d.ranges

    def start(n: int | None = None) -> MPanel:
        return _fill(
            rng, rng.sample(range(n_slots), rng.randint(lo, hi) + 1 if n is None else n), uni, ranges
        )

    def spawn(panel: MPanel, n: int) -> MPanel:
        return _spawn(rng, panel[0], rng.sample(range(n_slots), n), uni, ranges)

    out: list[MPanel] = []
    if rule == "distribute_three_number":
        first = start()
        others = [v for v in range(lo, hi + 1) if v != len(first) - 1]
        k = 1 if rng.random() >= 0.5 else 2
        for r, levels in enumerate(_rotations((len(first) - 1, *rng.sample(others, 2)), k)):
            c1 = first if r == 0 else start(levels[0] + 1)
            c2 = spawn(c1, levels[1] + 1)
            out += [c1, c2, spawn(c2, levels[2] + 1)]
        return out, k
    if rule == "distribute_three_position":
        first = start()
        pos0 = [e.slot for e in first]
        pos1 = _new_positions(rng, len(pos0), n_slots, [set(pos0)])
        pos2 = _new_positions(rng, len(pos0), n_slots, [set(pos0), set(pos1)])
        k = 1 if rng.random() >= 0.5 else 2
        for r, seq in enumerate(_rotations((pos0, pos1, pos2), k)):
            c1 = first if r == 0 else _fill(rng, list(seq[0]), uni, ranges)
            out += [c1, _moved(c1, list(seq[1])), _moved(c1, list(seq[2]))]
        return out, k
    for _ in range(3):
        c1 = start()
        if rule == "constant":
            c2, c3 = [e.copy() for e in c1], [e.copy() for e in c1]
        elif rule == "progression_number":
            c2 = spawn(c1, len(c1) + p)
            c3 = spawn(c2, len(c2) + p)
        elif rule == "progression_position":
            c2 = _moved(c1, [(e.slot + p) % n_slots for e in c1])
            c3 = _moved(c2, [(e.slot + p) % n_slots for e in c2])
        elif rule == "arithmetic_number":
            a = len(c1) - 1
            b_lo, b_hi = (lo, lo + hi - a) if p > 0 else ((lo - 1) // 2, a - (lo - 1) // 2 - 1)
            b = rng.randint(b_lo, b_hi)
            c2 = spawn(c1, b + 1)
            c3 = spawn(c2, (a + b + 1 if p > 0 else a - b - 1) + 1)
        else:  # arithmetic_position: union (p > 0) or difference (p < 0) of the slot sets
            s1 = {e.slot for e in c1}
            while True:
                pos2 = rng.sample(range(n_slots), rng.randint(lo, hi) + 1)
                if (p > 0 and not set(pos2) <= s1) or (p < 0 and not s1 <= set(pos2)):
                    break
            c2 = _spawn(rng, c1[0], pos2, uni, ranges)
            c3 = _spawn(rng, c2[0], sorted(s1 | set(pos2) if p > 0 else s1 - set(pos2)), uni, ranges)
        out += [c1, c2, c3]
    return out, p


def _arithmetic_or_progression(rng: random.Random, d: ComponentDraw, attr: str) -> list[tuple[int, int, int]]:
    """Value rows of a Progression or Arithmetic rule; column 1 is each row's sampled entity 0."""
    rule, p = d.rules[attr]
    lo, hi = d.ranges[attr]
    rows: list[tuple[int, int, int]] = []
    alarm = False
    for r in range(3):
        a = getattr(d.panels[3 * r][0], attr)
        if rule == "progression":
            rows.append((a, a + p, a + 2 * p))
        elif attr == "size":  # arithmetic on size: (c + 1) = (a + 1) +- (b + 1)
            b_lo, b_hi = (lo, lo + hi - a) if p > 0 else ((lo - 1) // 2, a - (lo - 1) // 2 - 1)
            b = rng.randint(b_lo, b_hi)
            rows.append((a, b, a + b + 1 if p > 0 else a - b - 1))
        else:  # arithmetic on colour: c = a +- b, with Rule.py's "white alarm" (b of rows 1, 2 not both 0)
            if r == 1 and alarm and a == (COLOR_MAX if p > 0 else COLOR_MIN):
                a = rng.choice([v for v in range(lo, hi + 1) if v != a])
            b_lo, b_hi = (lo, lo + hi - a) if p > 0 else (lo // 2, a)
            b = rng.randint(b_lo, b_hi)
            if r == 0:
                alarm = b == 0
            elif r == 1 and alarm and b == 0:
                b = rng.choice([v for v in range(b_lo, b_hi + 1) if v != 0])
            rows.append((a, b, a + b if p > 0 else a - b))
    return rows


def _attr_rows(rng: random.Random, d: ComponentDraw, attr: str) -> int:
    """Apply a Type/Size/Color rule to the 9 panels in place (all entities of a panel get the value)."""
    rule, p = d.rules[attr]
    if rule == "constant":
        return 0
    lo, hi = d.ranges[attr]
    if rule == "distribute_three":
        k = 1 if rng.random() >= 0.5 else 2
        rows = _rotations(tuple(rng.sample(range(lo, hi + 1), 3)), k)
    else:
        k, rows = p, _arithmetic_or_progression(rng, d, attr)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            for e in d.panels[3 * r + c]:
                setattr(e, attr, value)
    return k


def draw_component(rng: random.Random, layout: Layout) -> ComponentDraw:
    """Rules, then the 9 panels of one component, as RAVEN's main.py builds them."""
    name, p, levels = _draw(rng, NUMPOS_RULES, narrow_numpos, 0, layout.slots - 1)
    rules: dict[str, Hypothesis] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for attr in ATTRIBUTES:
        rule, q, ranges[attr] = _draw(rng, ATTR_RULES[attr], narrow_attr, attr, *layout.ranges[attr])
        rules[attr] = (rule, q)
    uniform = layout.slots == 1 or rng.randrange(4) == 3
    d = ComponentDraw(layout, (name, p), rules, ranges, levels, uniform, [])
    d.panels, k = _layout_rows(rng, d)
    d.layout_rule = (name, k)
    for attr in ATTRIBUTES:
        d.rules[attr] = (d.rules[attr][0], _attr_rows(rng, d, attr))
    return d
