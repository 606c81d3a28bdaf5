"""Shared tables of the RAVEN generator: value vocabularies, layouts of each configuration, rule hypotheses.

Values are RAVEN's levels (``const.py``) except the type, stored as an index into ``TYPES`` (RAVEN level - 1,
RAVEN's "none" never appears). Layouts and their original ranges follow RAVEN's ``build_tree.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
FULL_RANGES: dict[str, tuple[int, int]] = {"type": (0, 4), "size": (0, 5), "color": (0, 9)}

Hypothesis = tuple[str, int]  # (rule, parameter)
Rows = list[tuple[int, int, int]]


@dataclass(frozen=True)
class Entity:
    type: int  # index into TYPES
    size: int
    color: int
    angle: int  # index into ANGLES
    component: int = 0  # index into the configuration's layouts (Out before In, Left before Right, ...)
    slot: int = 0  # index into the layout's positions (row-major: TL, TR, BL, BR / TL .. BR)


Panel = tuple[Entity, ...]  # components in order, each one's entities in their (random) sampled order


@dataclass(frozen=True)
class Layout:
    """One component's layout: RAVEN component and layout names, number of slots, original value ranges."""

    component: str
    name: str
    slots: int
    ranges: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(FULL_RANGES))


def _ranges(**over: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**FULL_RANGES, **over}


OUT = Layout("Out", "Out_Center_Single", 1, _ranges(size=(3, 5), color=(0, 0)))
LAYOUTS: dict[str, tuple[Layout, ...]] = {
    "center_single": (Layout("Grid", "Center_Single", 1),),
    "distribute_four": (Layout("Grid", "Distribute_Four", 4),),
    "distribute_nine": (Layout("Grid", "Distribute_Nine", 9),),
    "left_center_single_right_center_single": (
        Layout("Left", "Left_Center_Single", 1),
        Layout("Right", "Right_Center_Single", 1),
    ),
    "up_center_single_down_center_single": (
        Layout("Up", "Up_Center_Single", 1),
        Layout("Down", "Down_Center_Single", 1),
    ),
    "in_center_single_out_center_single": (OUT, Layout("In", "In_Center_Single", 1)),
    "in_distribute_four_out_center_single": (
        OUT,
        Layout("In", "In_Distribute_Four", 4, _ranges(size=(2, 5))),
    ),
}
STRUCTURES: dict[str, str] = {
    "center_single": "Singleton",
    "distribute_four": "Singleton",
    "distribute_nine": "Singleton",
    "left_center_single_right_center_single": "Left_Right",
    "up_center_single_down_center_single": "Up_Down",
    "in_center_single_out_center_single": "Out_In",
    "in_distribute_four_out_center_single": "Out_In",
}


def hypotheses(attr: str) -> list[Hypothesis]:
    """Every (rule, parameter) an attribute may follow."""
    out: list[Hypothesis] = [("constant", 0)]
    out += [("progression", d) for d in (-2, -1, 1, 2)]
    if "arithmetic" in RULES[attr]:
        out += [("arithmetic", 1), ("arithmetic", -1)]
    out += [("distribute_three", k) for k in (1, 2)]
    return out


def fits(hyp: Hypothesis, rows: Rows, attr: str) -> bool:
    """Whether all given rows (value triples of one attribute) follow a hypothesis.

    Arithmetic is RAVEN's: size c = a + p * (b + 1) (the size level + 1 adds), colour c = a + p * b (colour
    level 0, white, is the additive identity)."""
    rule, p = hyp
    offset = 0 if attr == "color" else 1
    for r, (a, b, c) in enumerate(rows):
        if rule == "constant" and not a == b == c:
            return False
        if rule == "progression" and not (b - a == p and c - b == p):
            return False
        if rule == "arithmetic" and c != a + p * (b + offset):
            return False
        if rule == "distribute_three":
            first = rows[0]
            if len(set(first)) != 3:
                return False
            shift = (r * p) % 3
            if (a, b, c) != first[shift:] + first[:shift]:
                return False
    return True


# --- Number/Position: a panel's layout value is the set of occupied slots ---
LayoutRows = list[tuple[frozenset[int], frozenset[int], frozenset[int]]]


def layout_hypotheses() -> list[Hypothesis]:
    """Every (rule, parameter) the Number/Position of a multi-slot layout may follow."""
    out: list[Hypothesis] = [("constant", 0)]
    out += [("progression_number", d) for d in (-2, -1, 1, 2)]
    out += [("progression_position", d) for d in (-2, -1, 1, 2)]
    out += [("arithmetic_number", 1), ("arithmetic_number", -1)]
    out += [("arithmetic_position", 1), ("arithmetic_position", -1)]
    out += [("distribute_three_number", k) for k in (1, 2)]
    out += [("distribute_three_position", k) for k in (1, 2)]
    return out


def layout_fits(hyp: Hypothesis, rows: LayoutRows, slots: int) -> bool:
    """Whether all rows of slot sets follow a Number/Position hypothesis (positions roll over mod `slots`)."""
    return all(layout_row_fits(hyp, rows[0], r, row, slots) for r, row in enumerate(rows))


def layout_row_fits(hyp: Hypothesis, first: tuple, r: int, row: tuple, slots: int) -> bool:
    """Whether row `r` of slot sets follows a hypothesis, given row 1 (`first`, for Distribute_Three)."""
    rule, p = hyp
    a, b, c = row
    if rule == "constant":
        return a == b == c
    if rule == "progression_number":
        return len(b) - len(a) == p and len(c) - len(b) == p
    if rule == "progression_position":
        return b == frozenset((s + p) % slots for s in a) and c == frozenset((s + p) % slots for s in b)
    if rule == "arithmetic_number":
        return len(c) == len(a) + p * len(b)
    if rule == "arithmetic_position":
        return c == (a | b if p > 0 else a - b)
    key = len if rule.endswith("number") else (lambda s: s)
    head = tuple(key(s) for s in first)
    shift = (r * p) % 3
    return len(set(head)) == 3 and (key(a), key(b), key(c)) == head[shift:] + head[:shift]
