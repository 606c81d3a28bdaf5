"""ACRE causal induction puzzles (Zhang et al., CVPR 2021), built as the original generator builds them.

The construction follows the public ACRE generator (WellyZhang/ACRE, ``src/dataset/blicket.py``); the
rendering is the Logical-and-abstract-reasoning benchmark's evals format (its ``process_data_acre.py`` and
its public test files). Objects are 48 CLEVR shape x colour x material combinations; some are "blickets":
the light is on iff at least one blicket is visible. A puzzle has 6 context panels and 4 queries, one file
line each (consecutive lines share the context):

- **detection trial** (panels 1-3, in random order): {A} on, {B} off, {A, B} on;
- **evidence** (panels 4-6, in random order), of one of two families:
  ``one_lit`` (2-3 candidates, 3-5 non-blickets): one lit panel holding the remaining candidates with
  distractors appended after them, and two unlit panels that together cover the other non-blickets,
  split with overlap; ``two_lit`` (2-4 candidates, 3-4 non-blickets): two lit panels that cover the
  remaining candidates with overlap, each with its own distractors appended, and one unlit panel holding
  every other non-blicket. Distractors are 0 to N-1 non-blickets (never B); objects inside a panel keep
  that order (candidates first);
- **queries 1-2** ("independent"): one object each; exactly one is an undetermined object whenever one
  exists, the others are drawn among direct / indirect / screening-off objects with a cap on
  screening-off objects that the generator uses to tune its statistics;
- **queries 3-4** ("interventional"): one unlit context panel, shared by both, plus one added object (or
  a set of candidates that lit a panel together); both may be the same query.

Query types: ``direct`` (a blicket seen alone with the light on, or a non-blicket never seen with the
light on), ``indirect`` (a blicket inferred: the only possible blicket of a lit panel with distractors, or
a set of candidates that lit a panel), ``screening_off`` (a non-blicket seen with the light on) and
``potential`` (cannot be determined). Answers are the logically entailed light states: "on"/"off" when
every blicket assignment consistent with the context agrees, else "undetermined" (symbolic: 2/0/1).

Splits, as the generator and the benchmark define them:

- ``iid``: 48 objects, the two families half and half, screening-off cap 1;
- ``comp``: only objects 0-23, screening-off cap 2 (the original renders images of these ids with
  different attribute tables for train and test; the benchmark's text files map every id with the same
  ``object_dict.json``, so in text the hold-out is the object subset and the query mix, not new
  attribute combinations);
- ``sys``: train is all ``one_lit`` (3 lit context panels, cap 3), test all ``two_lit`` (4 lit, cap 1).

Symbolic object id = shape * 16 + colour * 2 + material, with the benchmark's ``object_dict.json`` order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from iclm.data.evals_format import message, record
from iclm.data.task_spec import TaskSpec

SHAPES: tuple[str, ...] = ("cube", "cylinder", "sphere")
COLORS: tuple[str, ...] = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
MATERIALS: tuple[str, ...] = ("rubber", "metal")
NUM_OBJECTS = len(SHAPES) * len(COLORS) * len(MATERIALS)  # 48
COMP_OBJECTS = 24  # the comp split's object ids are 0-23

AcreSplit = Literal["iid", "comp", "sys"]
Part = Literal["train", "test"]
Render = Literal["text", "symbolic"]
Family = Literal["one_lit", "two_lit"]
QueryType = Literal["direct", "indirect", "screening_off", "potential"]
Answer = Literal["on", "off", "undetermined"]
ACRE_SPLITS: tuple[str, ...] = ("iid", "comp", "sys")
FAMILIES: tuple[str, ...] = ("one_lit", "two_lit")
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
class FamilySize:
    """How many candidates (possible blickets, the detection trial's A included) and non-blickets."""

    candidates: tuple[int, int]
    non_blickets: tuple[int, int]


FAMILY_SIZES: dict[str, FamilySize] = {
    "one_lit": FamilySize(candidates=(2, 3), non_blickets=(3, 5)),
    "two_lit": FamilySize(candidates=(2, 4), non_blickets=(3, 4)),
}


@dataclass(frozen=True)
class Panel:
    """Objects (ids) shown together and whether the light was on."""

    objects: tuple[int, ...]
    light: bool


@dataclass(frozen=True)
class Query:
    """Query objects; `reference` is the index of the unlit context panel an interventional query extends."""

    objects: tuple[int, ...]
    kind: QueryType
    answer: Answer
    reference: int | None = None


@dataclass(frozen=True)
class AcrePuzzle:
    context: tuple[Panel, ...]  # 6 panels: detection trial, then evidence
    queries: tuple[Query, ...]  # 2 single-object queries, then 2 on one shared unlit panel
    blickets: frozenset[int]  # a hidden assignment consistent with the context
    family: Family


@dataclass(frozen=True)
class ContextFacts:
    """What the context entails about its objects."""

    excluded: frozenset[int]  # seen with the light off: surely not blickets
    blickets: frozenset[int]  # the only possible blicket of some lit panel
    sets: tuple[tuple[int, ...], ...]  # minimal candidate sets that lit a panel holding no known blicket
    objects: tuple[int, ...]  # every object of the context, sorted


def object_attributes(obj: int) -> tuple[str, str, str]:
    """(shape, colour, material) of an object id, as the benchmark's object_dict.json maps it."""
    if not 0 <= obj < NUM_OBJECTS:
        raise ValueError(f"object id must be in [0, {NUM_OBJECTS}), got {obj}")
    return SHAPES[obj // 16], COLORS[(obj // 2) % 8], MATERIALS[obj % 2]


def context_facts(context: tuple[Panel, ...]) -> ContextFacts:
    """Excluded objects, certain blickets and minimal lit sets of a context."""
    excluded = frozenset(o for p in context if not p.light for o in p.objects)
    possible = [frozenset(o for o in p.objects if o not in excluded) for p in context if p.light]
    blickets = frozenset(next(iter(s)) for s in possible if len(s) == 1)
    open_sets = {s for s in possible if len(s) > 1 and not s & blickets}
    minimal = sorted(tuple(sorted(s)) for s in open_sets if not any(t < s for t in open_sets))
    objects = tuple(sorted({o for p in context for o in p.objects}))
    return ContextFacts(excluded, blickets, tuple(minimal), objects)


def object_status(context: tuple[Panel, ...]) -> dict[int, Answer]:
    """Per object: "on" (surely a blicket), "off" (surely not) or "undetermined"."""
    facts = context_facts(context)
    return {
        o: "off" if o in facts.excluded else "on" if o in facts.blickets else "undetermined"
        for o in facts.objects
    }


def entailed_answer(context: tuple[Panel, ...], query: tuple[int, ...]) -> Answer:
    """Light state entailed for a query set: on if some lit panel's possible blickets all lie in the query."""
    excluded = {o for p in context if not p.light for o in p.objects}
    chosen = set(query)
    for panel in context:
        if panel.light and {o for o in panel.objects if o not in excluded} <= chosen:
            return "on"
    if chosen <= excluded:
        return "off"
    return "undetermined"


def query_kind(context: tuple[Panel, ...], added: tuple[int, ...]) -> QueryType:
    """Type of a query by what it adds: one object's status, or a set of candidates (indirect)."""
    facts = context_facts(context)
    if len(added) > 1:
        return "indirect"
    (obj,) = added
    lit = [p.objects for p in context if p.light]
    if obj in facts.excluded:
        return "screening_off" if any(obj in objs for objs in lit) else "direct"
    if obj in facts.blickets:
        return "direct" if (obj,) in lit else "indirect"
    return "potential"


def _overlapping_cover(rng: random.Random, items: list[int]) -> tuple[list[int], list[int]]:
    """Two non-empty lists whose union is `items`: a random part, then the rest plus a few of that part."""
    first = rng.sample(items, rng.randint(1, len(items)))
    second = [o for o in items if o not in first]
    second += rng.sample(first, rng.randint(0 if second else 1, len(first)))
    return first, second


def _with_distractors(rng: random.Random, objects: list[int], non_blickets: list[int]) -> tuple[int, ...]:
    """A lit panel: its candidates, then 0..N-1 distractors drawn from the non-blickets but B."""
    pool = non_blickets[1:]
    return tuple(objects + rng.sample(pool, rng.randint(0, len(non_blickets) - 1)))


def _context(
    rng: random.Random, family: Family, num_objects: int
) -> tuple[tuple[Panel, ...], frozenset[int]]:
    """Detection trial + evidence panels of one family, and a blicket assignment consistent with them."""
    size = FAMILY_SIZES[family]
    n_cand, n_non = rng.randint(*size.candidates), rng.randint(*size.non_blickets)
    drawn = rng.sample(range(num_objects), n_cand + n_non)
    candidates, non_blickets = drawn[:n_cand], drawn[n_cand:]
    a, b, rest = candidates[0], non_blickets[0], candidates[1:]
    trial = [Panel((a,), True), Panel((b,), False), Panel((a, b), True)]
    if family == "one_lit":
        off_1, off_2 = _overlapping_cover(rng, non_blickets[1:])
        evidence = [Panel(_with_distractors(rng, rest, non_blickets), True)]
        evidence += [Panel(tuple(off_1), False), Panel(tuple(off_2), False)]
        hidden = {a, rest[0]}
    else:
        on_1, on_2 = _overlapping_cover(rng, rest)
        evidence = [Panel(_with_distractors(rng, objs, non_blickets), True) for objs in (on_1, on_2)]
        evidence.append(Panel(tuple(non_blickets[1:]), False))
        hidden = {a, *rest}
    rng.shuffle(trial)
    rng.shuffle(evidence)
    return tuple(trial + evidence), frozenset(hidden)


def _type_counts(rng: random.Random, caps: tuple[int, int, int], total: int) -> tuple[int, int, int]:
    """How many direct / indirect / screening-off queries: each count drawn in turn, the last must fit."""
    while True:
        direct = rng.randint(0, min(caps[0], total))
        indirect = rng.randint(0, min(caps[1], total - direct))
        screening = total - direct - indirect
        if screening <= caps[2]:
            return direct, indirect, screening


def _independent_queries(rng: random.Random, context: tuple[Panel, ...], screening_cap: int) -> list[Query]:
    """Two single-object queries: one undetermined object when any exists, the rest by type counts."""
    pools: dict[str, list[int]] = {k: [] for k in ("direct", "indirect", "screening_off", "potential")}
    for obj in context_facts(context).objects:
        pools[query_kind(context, (obj,))].append(obj)
    potential = 1 if pools["potential"] else 0
    caps = (len(pools["direct"]), len(pools["indirect"]), max(len(pools["screening_off"]) - screening_cap, 0))
    counts = (*_type_counts(rng, caps, 2 - potential), potential)
    queries = []
    for kind, count in zip(("direct", "indirect", "screening_off", "potential"), counts, strict=True):
        for obj in rng.sample(pools[kind], count):
            queries.append(Query((obj,), kind, entailed_answer(context, (obj,))))  # type: ignore[arg-type]
    rng.shuffle(queries)
    return queries


def _interventional_queries(rng: random.Random, context: tuple[Panel, ...]) -> list[Query]:
    """Two queries on one unlit panel plus an added object or lit set; undetermined objects weigh double."""
    facts = context_facts(context)
    reference = rng.choice([i for i, p in enumerate(context) if not p.light])
    base = context[reference].objects
    outside = [(o,) for o in facts.objects if o not in base]
    undetermined = [(o,) for (o,) in outside if o not in facts.excluded and o not in facts.blickets]
    additions = rng.sample(outside + list(facts.sets) + undetermined, 2)
    queries = []
    for added in additions:
        objects = base + added
        queries.append(
            Query(objects, query_kind(context, added), entailed_answer(context, objects), reference)
        )
    rng.shuffle(queries)
    return queries


def screening_off_cap(split: AcreSplit, part: Part) -> int:
    """How many screening-off objects the independent queries leave out of their pool (generator's tuning)."""
    if split == "comp":
        return 2
    if split == "sys" and part == "train":
        return 3
    return 1


def make_puzzle(rng: random.Random, split: AcreSplit, part: Part) -> AcrePuzzle:
    """Sample one puzzle of a split's part."""
    if split not in ACRE_SPLITS:
        raise ValueError(f"split must be one of {ACRE_SPLITS}, got {split!r}")
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    if split == "sys":
        family: Family = "one_lit" if part == "train" else "two_lit"
    else:
        family = rng.choice(FAMILIES)  # type: ignore[assignment]
    num_objects = COMP_OBJECTS if split == "comp" else NUM_OBJECTS
    context, hidden = _context(rng, family, num_objects)
    queries = _independent_queries(rng, context, screening_off_cap(split, part))
    queries += _interventional_queries(rng, context)
    return AcrePuzzle(context, tuple(queries), hidden, family)


def describe_objects(objects: tuple[int, ...], render: Render) -> str:
    """Objects as the benchmark writes them: "[3, 17]" or "A red cube in metal is visible. ..."."""
    if render == "symbolic":
        return "[" + ", ".join(str(o) for o in objects) + "]"
    parts = []
    for obj in objects:
        shape, color, material = object_attributes(obj)
        parts.append(f"A {color} {shape} in {material} is visible.")
    return " ".join(parts)


def render_records(context: tuple[Panel, ...], queries: list[tuple[tuple[int, ...], Answer]], render: Render):
    """Evals records (one per query) in the benchmark's wording; shared by the generator and the import."""
    if render == "text":
        head = [TEXT_INSTRUCTION, "on.", "off.", "undetermined."]
        panels = [
            f"{describe_objects(p.objects, render)} The light is {'on' if p.light else 'off'}."
            for p in context
        ]
    elif render == "symbolic":
        head = [SYMBOLIC_INSTRUCTION, "0.", "1.", "2."]
        panels = [f"{describe_objects(p.objects, render)} -> {2 if p.light else 0}" for p in context]
    else:
        raise ValueError(f"render must be 'text' or 'symbolic', got {render!r}")
    system = [message("system", c) for c in head + panels]
    out = []
    for objects, answer in queries:
        if render == "text":
            user = message("user", f"{describe_objects(objects, render)} The state of the light is ")
            out.append(record(system + [user], answer, ["off", "undetermined", "on"]))
        else:
            user = message("user", f"{describe_objects(objects, render)} -> ")
            out.append(record(system + [user], SYMBOLIC_ANSWER[answer], [0, 1, 2]))
    return out


def render_puzzle(puzzle: AcrePuzzle, render: Render) -> list[dict]:
    """Evals records (one per query) exactly in the benchmark's wording."""
    return render_records(puzzle.context, [(q.objects, q.answer) for q in puzzle.queries], render)


@dataclass(frozen=True, kw_only=True)
class AcreSpec(TaskSpec):
    """An ACRE file: split iid | comp | sys (with `part`, which side of the split pair)."""

    task = "acre"

    split: str = "iid"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.split not in ACRE_SPLITS:
            raise ValueError(f"split must be one of {ACRE_SPLITS} for acre, got {self.split!r}")

    @property
    def dataset(self) -> str:
        """e.g. "acre-text-comp"."""
        return f"acre-{self.render}-{self.split}"

    @property
    def is_ood(self) -> bool:
        return self.part == "test" and self.split != "iid"

    def generate(self) -> list[dict]:
        return generate_acre(self.n, self.seed, self.render, self.split, self.part)  # type: ignore[arg-type]


def generate_acre(n: int, seed: int, render: Render, split: AcreSplit, part: Part) -> list[dict]:
    """`n` evals records (4 per puzzle, the last puzzle cut if n is not a multiple of 4)."""
    rng = random.Random(f"acre|{seed}|{split}|{part}")
    out: list[dict] = []
    while len(out) < n:
        out.extend(render_puzzle(make_puzzle(rng, split, part), render))
    return out[:n]
