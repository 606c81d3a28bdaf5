"""The 8 candidate answers of a matrix: I-RAVEN-style (default, no context-free shortcut) or RAVEN's own.

``iraven``: an attribute bisection tree as in I-RAVEN. Three rule-governed (component, attribute) slots are
picked (attributes whose values every entity of a panel shares, and the Number/Position of a multi-slot
layout); each gets one wrong value and the 8 candidates are all right/wrong combinations, so every value
appears in exactly 4 candidates and odd-one-out is at chance. When only two slots exist, one gets three wrong
values (4 x 2 candidates); with one slot, seven (8 candidates); with fewer, the matrix is redrawn. Every wrong
value breaks all hypotheses fitting rows 1-2 (for Number/Position: every layout hypothesis on the slot sets),
so exactly one candidate completes the matrix. Per-entity noise (a Constant attribute of a non-uniform layout)
is never modified. A wrong Number/Position gets fresh entities (copies of the answer's in a uniform layout)
with the answer's rule-governed values; it keeps the answer's number of entities whenever that breaks every
hypothesis (no length difference between candidates). A Number/Position slot whose every wrong value changes
the number although the rule is not on Number (e.g. a full 2x2 grid under Constant: every wrong value is
smaller, and token-overlap baselines favour the longer candidates) is only used when fewer than three other
slots exist.

``benchmark``: as RAVEN's main.py (``sample_attr_avail``, ``sample_attr``, ``sample_new``): the answer plus 7
distractors, each differing from the answer in exactly one (component, attribute); the attribute entry is
drawn uniformly among the modifiable entries (each usable "times" times), the new value uniformly among the
values of the layout's original range not used before for that attribute (per entity); a new Number gets a new
random slot set and freshly sampled entities, a new Position a new slot set. Shuffled. The answer is the
per-attribute mode of the candidates, so odd-one-out solves it.
"""

from __future__ import annotations

import functools
import itertools
import random
from math import comb

from iclm.data.raven_model import (
    ATTRIBUTES,
    LayoutRows,
    Rows,
    fits,
    hypotheses,
    layout_fits,
    layout_hypotheses,
    layout_row_fits,
)
from iclm.data.raven_rules import ComponentDraw, MPanel, fresh_entity

CANDIDATE_MODES: tuple[str, ...] = ("iraven", "benchmark")
Candidates = tuple[list[list[MPanel]], int]  # per candidate, per component: entities; answer index


def value_rows(d: ComponentDraw, attr: str) -> Rows:
    """Panel values of a rule-governed attribute (entity 0 of each panel), as 3 row triples."""
    vals = [getattr(p[0], attr) for p in d.panels]
    return [(vals[3 * r], vals[3 * r + 1], vals[3 * r + 2]) for r in range(3)]


def slot_rows(d: ComponentDraw) -> LayoutRows:
    sets = [frozenset(e.slot for e in p) for p in d.panels]
    return [(sets[3 * r], sets[3 * r + 1], sets[3 * r + 2]) for r in range(3)]


def wrong_values(attr: str, rows: Rows, lo: int, hi: int) -> list[int]:
    """Values in [lo, hi] for panel 9 that break every hypothesis fitting rows 1-2."""
    fitting = [h for h in hypotheses(attr) if fits(h, rows[:2], attr)]
    a, b, _ = rows[2]
    return [v for v in range(lo, hi + 1) if not any(fits(h, [*rows[:2], (a, b, v)], attr) for h in fitting)]


def wrong_layouts(rows: LayoutRows, slots: int) -> list[frozenset[int]]:
    """Non-empty slot sets for panel 9 that break every Number/Position hypothesis fitting rows 1-2."""
    fitting = [h for h in layout_hypotheses() if layout_fits(h, rows[:2], slots)]
    a, b, _ = rows[2]
    return [
        w
        for w in _subsets(slots)
        if not any(layout_row_fits(h, rows[0], 2, (a, b, w), slots) for h in fitting)
    ]


@functools.cache
def _subsets(slots: int) -> tuple[frozenset[int], ...]:
    return tuple(frozenset(s for s in range(slots) if m >> s & 1) for m in range(1, 2**slots))


def _pick_layouts(rng: random.Random, wrong: list[frozenset[int]], n: int, m: int) -> list[frozenset[int]]:
    """`m` wrong slot sets: of the answer's size `n` where possible, else a uniform size, then a set."""
    same = [w for w in wrong if len(w) == n]
    if len(same) >= m:
        return rng.sample(same, m)
    picked = list(same)
    rest = [w for w in wrong if len(w) != n]
    while len(picked) < m:
        size = rng.choice(sorted({len(w) for w in rest}))
        picked.append(rng.choice([w for w in rest if len(w) == size]))
        rest.remove(picked[-1])
    return picked


def _layout_value(rng: random.Random, d: ComponentDraw, answer: MPanel, slots: frozenset[int]) -> MPanel:
    """The answer's component on other slots (random order): copies of the answer's entity if uniform, else
    fresh entities (new per-entity noise and angles, as RAVEN's Number/Position rules make) that take the
    answer's rule-governed values; no entity is kept from the answer, which would make it a hub that
    token-overlap baselines find."""
    out = []
    for s in rng.sample(sorted(slots), len(slots)):
        if d.uniform:
            out.append(answer[0].copy(slot=s))
            continue
        e = fresh_entity(rng, d.ranges, s)
        for attr in ATTRIBUTES:
            if d.governed(attr):
                setattr(e, attr, getattr(answer[0], attr))
        out.append(e)
    return out


def iraven_candidates(rng: random.Random, comps: list[ComponentDraw]) -> Candidates | None:
    """I-RAVEN-style candidates, or None when the matrix has too few modifiable slots (redraw it)."""
    answer = [d.panels[8] for d in comps]
    slots: list[tuple[int, str, list]] = []
    spare: list[tuple[int, str, list]] = []  # layout slots whose wrong values all change the number
    for k, d in enumerate(comps):
        for attr in ATTRIBUTES:
            if d.governed(attr):
                wrong = wrong_values(attr, value_rows(d, attr), *d.layout.ranges[attr])
                if wrong:
                    slots.append((k, attr, wrong))
        if d.layout.slots > 1:
            wrong_sets = wrong_layouts(slot_rows(d), d.layout.slots)
            keeps_number = any(len(w) == len(answer[k]) for w in wrong_sets)
            if keeps_number or (wrong_sets and d.layout_rule[0].endswith("_number")):
                slots.append((k, "layout", wrong_sets))
            elif wrong_sets:
                spare.append((k, "layout", wrong_sets))
    if len(slots) < 3:
        slots += spare
    if len(slots) >= 3:
        chosen, sizes = rng.sample(slots, 3), [2, 2, 2]
    elif len(slots) == 2 and any(len(s[2]) >= 3 for s in slots):
        big = rng.choice([s for s in slots if len(s[2]) >= 3])
        chosen, sizes = [big, next(s for s in slots if s is not big)], [4, 2]
    elif len(slots) == 1 and len(slots[0][2]) >= 7:
        chosen, sizes = slots, [8]
    else:
        return None
    branches: list[tuple[int, str, list]] = []
    for (k, what, wrong), size in zip(chosen, sizes, strict=True):
        if what == "layout":
            picked = _pick_layouts(rng, wrong, len(answer[k]), size - 1)
            values = [answer[k]] + [_layout_value(rng, comps[k], answer[k], w) for w in picked]
        else:
            values = [getattr(answer[k][0], what)] + rng.sample(wrong, size - 1)
        branches.append((k, what, values))
    candidates = []
    for combo in itertools.product(*(range(len(b[2])) for b in branches)):
        panel = [[e.copy() for e in comp] for comp in answer]
        for (k, what, values), i in zip(branches, combo, strict=True):
            if what == "layout":
                panel[k] = [e.copy() for e in values[i]]
        for (k, what, values), i in zip(branches, combo, strict=True):
            if what != "layout":
                for e in panel[k]:
                    setattr(e, what, values[i])
        candidates.append(panel)
    order = list(range(len(candidates)))
    rng.shuffle(order)
    return [candidates[i] for i in order], order.index(0)


def _modifiable(comps: list[ComponentDraw], answer: list[MPanel]) -> list[list]:
    """RAVEN's sample_attr_avail: [component, attribute, times] entries (layouts' original ranges)."""
    entries: list[list] = []
    for k, d in enumerate(comps):
        n_slots, n, rule = d.layout.slots, len(answer[k]), d.layout_rule[0]
        num_times = sum(comb(n_slots, count) for count in range(1, n_slots + 1) if count != n)
        if num_times > 0:
            entries.append([k, "number", num_times])
        if not rule.endswith("_number") and comb(n_slots, n) - 1 > 0:
            entries.append([k, "position", comb(n_slots, n) - 1])
        carried = rule in ("constant", "progression_position", "distribute_three_position")
        for attr in ATTRIBUTES:
            lo, hi = d.layout.ranges[attr]
            if d.rules[attr][0] == "constant" and not (d.uniform or carried):
                continue
            if hi - lo > 0:
                entries.append([k, attr, hi - lo])
    return entries


def benchmark_candidates(rng: random.Random, comps: list[ComponentDraw]) -> Candidates:
    """RAVEN's candidates: the answer and 7 one-attribute distractors, shuffled."""
    answer = [d.panels[8] for d in comps]
    entries = _modifiable(comps, answer)
    used_values = [[{a: set() for a in ATTRIBUTES} for _ in comp] for comp in answer]
    used_numbers: list[dict[int, list[frozenset[int]]]] = [{} for _ in comps]
    used_positions: list[list[frozenset[int]]] = [[] for _ in comps]
    candidates = [answer]
    for _ in range(7):
        idx = rng.randrange(len(entries))
        k, what = entries[idx][0], entries[idx][1]
        entries[idx][2] -= 1
        if entries[idx][2] == 0:
            del entries[idx]
        d, n_slots = comps[k], comps[k].layout.slots
        panel = [[e.copy() for e in comp] for comp in answer]
        current = frozenset(e.slot for e in answer[k])
        if what == "number":
            while True:
                count = rng.choice([c for c in range(1, n_slots + 1) if c != len(answer[k])])
                used = used_numbers[k].setdefault(count, [])
                if len(used) == comb(n_slots, count):
                    continue
                pos = rng.sample(range(n_slots), count)
                if frozenset(pos) not in used:
                    used.append(frozenset(pos))
                    break
            panel[k] = [fresh_entity(rng, d.ranges, s) for s in pos]
        elif what == "position":
            while True:
                pos = rng.sample(range(n_slots), len(answer[k]))
                if frozenset(pos) != current and frozenset(pos) not in used_positions[k]:
                    break
            used_positions[k].append(frozenset(pos))
            panel[k] = [e.copy(slot=s) for e, s in zip(panel[k], pos, strict=True)]
        else:
            lo, hi = d.layout.ranges[what]
            for i, e in enumerate(panel[k]):
                old = getattr(e, what)
                value = rng.choice(
                    [v for v in range(lo, hi + 1) if v != old and v not in used_values[k][i][what]]
                )
                setattr(e, what, value)
                used_values[k][i][what].add(value)
        candidates.append(panel)
    order = list(range(8))
    rng.shuffle(order)
    return [candidates[i] for i in order], order.index(0)
