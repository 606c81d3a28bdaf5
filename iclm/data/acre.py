"""ACRE-style causal induction puzzles (Zhang et al., CVPR 2021) in the benchmark's evals format.

Objects are CLEVR shapes x colours x materials (3 x 8 x 2 = 48). Some objects are "blickets": the light
is on iff at least one blicket is visible. A puzzle shows 6 context panels and asks 4 queries, one file
line each (consecutive lines share the context):

- panels: a detection trial ({A} on, {B} off, {A, B} on, shuffled) and 3 panels over new objects;
- queries: ``direct`` (one object seen alone in the context), ``indirect`` (one object never seen alone),
  ``screening_off`` (an off panel's objects plus one object whose status is determined) and
  ``potential`` (the same off panel plus one object whose status cannot be determined).

Answers are the logically entailed light states: "on"/"off" when every blicket assignment consistent with
the context agrees, else "undetermined" (symbolic rendering: 2/0/1). Splits:

- ``iid``: any objects, 3 or 4 context panels on;
- ``comp``: the 24 shape-colour pairs are partitioned; train puzzles use only (shape, colour) pairs with
  even shape + colour index sum, test puzzles only odd ones, so no test combination is seen in training;
- ``sys``: train contexts have 3 panels on / 3 off, test contexts 4 on / 2 off.

Symbolic object id = shape * 16 + colour * 2 + material.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from iclm.data.evals_format import message, record

SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder")
COLORS: tuple[str, ...] = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
MATERIALS: tuple[str, ...] = ("metal", "rubber")
NUM_OBJECTS = len(SHAPES) * len(COLORS) * len(MATERIALS)  # 48

AcreSplit = Literal["iid", "comp", "sys"]
Part = Literal["train", "test"]
Render = Literal["text", "symbolic"]
QueryType = Literal["direct", "indirect", "screening_off", "potential"]
Answer = Literal["on", "off", "undetermined"]
ACRE_SPLITS: tuple[str, ...] = ("iid", "comp", "sys")
SYMBOLIC_ANSWER: dict[str, int] = {"off": 0, "undetermined": 1, "on": 2}

TEXT_INSTRUCTION = (
    "Objects of various color, shape, and texture are displayed. Some objects may contain a device to turn a "
    "light on if displayed. From the observations, deduce if the light is on, off, or if the state cannot be "
    "determined. Your answer must contain a single word:"
)
SYMBOLIC_INSTRUCTION = (
    "Figure out the pattern in the following examples and apply it to the test case. Your answer must follow "
    "the format of the examples. You can answer 1 if the solution cannot be determined. Your answer must be "
    "one of the following choices:"
)


@dataclass(frozen=True)
class Panel:
    """Objects (ids) shown together and whether the light was on."""

    objects: tuple[int, ...]
    light: bool


@dataclass(frozen=True)
class Query:
    objects: tuple[int, ...]
    kind: QueryType
    answer: Answer


@dataclass(frozen=True)
class AcrePuzzle:
    context: tuple[Panel, ...]  # 6 panels
    queries: tuple[Query, ...]  # 4 queries: two of direct/indirect (shuffled), screening_off, potential
    blickets: frozenset[int]  # the hidden assignment the context was sampled from


def object_attributes(obj: int) -> tuple[str, str, str]:
    """(shape, colour, material) of an object id."""
    if not 0 <= obj < NUM_OBJECTS:
        raise ValueError(f"object id must be in [0, {NUM_OBJECTS}), got {obj}")
    return SHAPES[obj // 16], COLORS[(obj // 2) % 8], MATERIALS[obj % 2]


def comp_pool(part: Part) -> tuple[int, ...]:
    """Objects allowed in the comp split's part: (shape, colour) pairs partitioned by index-sum parity."""
    parity = 0 if part == "train" else 1
    return tuple(o for o in range(NUM_OBJECTS) if (o // 16 + (o // 2) % 8) % 2 == parity)


def object_status(context: tuple[Panel, ...]) -> dict[int, Answer]:
    """Per object: "on" (surely a blicket), "off" (surely not) or "undetermined", by the blicket rules.

    An object in an off panel is not a blicket; an object that is the only possible blicket of an on panel
    is one; everything else is undetermined (any consistent assignment can go either way).
    """
    excluded = {o for p in context if not p.light for o in p.objects}
    status: dict[int, Answer] = {o: "off" for o in excluded}
    for panel in context:
        for obj in panel.objects:
            status.setdefault(obj, "undetermined")
        candidates = [o for o in panel.objects if o not in excluded]
        if panel.light and len(candidates) == 1:
            status[candidates[0]] = "on"
    return status


def entailed_answer(context: tuple[Panel, ...], query: tuple[int, ...]) -> Answer:
    """Light state entailed for a query set: on if some on panel's possible blickets all lie in the query."""
    excluded = {o for p in context if not p.light for o in p.objects}
    chosen = set(query)
    for panel in context:
        possible = {o for o in panel.objects if o not in excluded}
        if panel.light and possible <= chosen:
            return "on"
    if chosen <= excluded:
        return "off"
    return "undetermined"


def _context(rng: random.Random, pool: tuple[int, ...], on_panels: int) -> tuple[tuple[Panel, ...], set[int]]:
    """Detection trial + 3 panels over new objects with exactly `on_panels` lights on overall."""
    objs = rng.sample(pool, rng.randint(5, 7))
    a, b, new = objs[0], objs[1], objs[2:]
    trial = [Panel((a,), True), Panel((b,), False), Panel(tuple(rng.sample((a, b), 2)), True)]
    rng.shuffle(trial)
    while True:
        blickets = {o for o in new if rng.random() < 0.5}
        others = [o for o in new if o not in blickets]
        if blickets and others:
            break
    lights = [True] * (on_panels - 2) + [False] * (5 - on_panels)
    rng.shuffle(lights)
    panels = []
    for light in lights:
        if light:
            chosen = rng.sample(sorted(blickets), rng.randint(1, min(2, len(blickets))))
            chosen += rng.sample(others, rng.randint(0, min(2, len(others))))
        else:
            chosen = rng.sample(others, rng.randint(1, min(3, len(others))))
        rng.shuffle(chosen)
        panels.append(Panel(tuple(chosen), light))
    return tuple(trial + panels), blickets | {a}


def _pick(rng: random.Random, objects: list[int], status: dict[int, Answer]) -> int:
    """A random object, first drawing its status among those present, "undetermined" last (label balance)."""
    kinds = sorted({status[o] for o in objects})
    if len(kinds) > 1 and "undetermined" in kinds and rng.random() < 0.75:
        kinds.remove("undetermined")
    kind = rng.choice(kinds)
    return rng.choice([o for o in objects if status[o] == kind])


def _queries(rng: random.Random, context: tuple[Panel, ...]) -> tuple[Query, ...] | None:
    """The 4 queries of a context, or None when the context lacks an indirect or undetermined object."""
    status = object_status(context)
    alone = {p.objects[0] for p in context if len(p.objects) == 1}
    indirect = sorted(o for o in status if o not in alone)
    undetermined = sorted(o for o, s in status.items() if s == "undetermined")
    off_panels = [p for p in context if not p.light]
    if not indirect or not undetermined:
        return None
    single = [((_pick(rng, sorted(alone), status),), "direct"), ((_pick(rng, indirect, status),), "indirect")]
    rng.shuffle(single)
    base = rng.choice(off_panels).objects
    determined = {s: sorted(o for o in status if status[o] == s and o not in base) for s in ("on", "off")}
    pick = rng.choice([s for s in ("on", "off") if determined[s]])
    sets = [(base + (rng.choice(determined[pick]),), "screening_off")]
    sets.append((base + (rng.choice(undetermined),), "potential"))
    return tuple(Query(objs, kind, entailed_answer(context, objs)) for objs, kind in single + sets)


def make_puzzle(rng: random.Random, split: AcreSplit, part: Part) -> AcrePuzzle:
    """Sample one puzzle of a split's part (rejection-sampled until all 4 query types exist)."""
    if split not in ACRE_SPLITS:
        raise ValueError(f"split must be one of {ACRE_SPLITS}, got {split!r}")
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    pool = comp_pool(part) if split == "comp" else tuple(range(NUM_OBJECTS))
    while True:
        if split == "sys":
            on_panels = 3 if part == "train" else 4
        else:
            on_panels = rng.choice((3, 4))
        context, blickets = _context(rng, pool, on_panels)
        queries = _queries(rng, context)
        if queries is not None:
            return AcrePuzzle(context, queries, frozenset(blickets))


def _describe(objects: tuple[int, ...], render: Render) -> str:
    if render == "symbolic":
        return "[" + ", ".join(str(o) for o in objects) + "]"
    parts = []
    for obj in objects:
        shape, color, material = object_attributes(obj)
        parts.append(f"A {color} {shape} in {material} is visible.")
    return " ".join(parts)


def render_puzzle(puzzle: AcrePuzzle, render: Render) -> list[dict]:
    """Evals records (one per query) exactly in the benchmark's wording."""
    if render == "text":
        head = [TEXT_INSTRUCTION, "on.", "off.", "undetermined."]
        panels = [
            f"{_describe(p.objects, render)} The light is {'on' if p.light else 'off'}."
            for p in puzzle.context
        ]
    elif render == "symbolic":
        head = [SYMBOLIC_INSTRUCTION, "0.", "1.", "2."]
        panels = [f"{_describe(p.objects, render)} -> {2 if p.light else 0}" for p in puzzle.context]
    else:
        raise ValueError(f"render must be 'text' or 'symbolic', got {render!r}")
    system = [message("system", c) for c in head + panels]
    out = []
    for q in puzzle.queries:
        if render == "text":
            user = message("user", f"{_describe(q.objects, render)} The state of the light is ")
            out.append(record(system + [user], q.answer, ["off", "undetermined", "on"]))
        else:
            user = message("user", f"{_describe(q.objects, render)} -> ")
            out.append(record(system + [user], SYMBOLIC_ANSWER[q.answer], [0, 1, 2]))
    return out


def generate_acre(n: int, seed: int, render: Render, split: AcreSplit, part: Part) -> list[dict]:
    """`n` evals records (4 per puzzle, the last puzzle cut if n is not a multiple of 4)."""
    rng = random.Random(f"acre|{seed}|{split}|{part}")
    out: list[dict] = []
    while len(out) < n:
        out.extend(render_puzzle(make_puzzle(rng, split, part), render))
    return out[:n]
