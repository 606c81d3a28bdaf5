"""RAVEN generator: RAVEN's rule sampling and colour arithmetic, the benchmark's templates for all seven
configurations, I-RAVEN candidates (no odd-one-out shortcut, unique answers) and RAVEN's own candidates."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter

import pytest

from iclm.data import raven
from iclm.data.check import candidate_tokens, check_file, odd_one_out
from iclm.data.generate import task_spec, write_task_file
from iclm.data.raven_render import panel_string
from tests.helpers.paths import LAR

needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
SYMBOLIC = re.compile(r"^([1-8A-H])\. \[(\(\w, \w, \w, \w,\)(, \(\w, \w, \w, \w,\))*)\] $")
ENTITY = r"an? \w+ \w+ \w+ rotated at -?\d+ degrees"
OOD = [c for c in raven.CONFIGS if c != "center_single"]


def _fixture(render: str) -> list[dict]:
    path = LAR / "RAVEN" / render / "center_single_test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _odd_one_out_accuracy(records: list[dict]) -> float:
    """check.odd_one_out over the candidates of the prompt the model sees (multi-line panels included)."""
    hits = 0
    for r in records:
        prompt = "\n".join(m["content"] for m in r["input"])
        hits += odd_one_out(candidate_tokens(prompt)) == r["ideal"]
    return hits / len(records)


# --- format -------------------------------------------------------------------------------------------
@needs_fixtures
@pytest.mark.parametrize("mode", raven.CANDIDATE_MODES)
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_center_single_format_matches_benchmark(render, mode):
    ref = _fixture(render)
    ours = raven.generate_raven(50, 0, render, "center_single", candidates=mode)
    words = {w for r in ref for m in r["input"][1:-1] for w in re.findall(r"[\w-]+", m["content"])}
    for rec in ours:
        assert list(rec) == list(ref[0])
        assert [m["role"] for m in rec["input"]] == [m["role"] for m in ref[0]["input"]]
        assert rec["input"][0] == ref[0]["input"][0] and rec["input"][-1] == ref[0]["input"][-1]
        assert rec["choice_strings"] == ref[0]["choice_strings"] and rec["ideal"] in rec["choice_strings"]
        labels = [m["content"].split(".")[0] for m in rec["input"][1:-1]]
        assert labels == [str(i) for i in range(1, 9)] + list("ABCDEFGH")
        for m in rec["input"][1:-1]:
            if render == "text":
                assert re.match(rf"^[1-8A-H]\. On an image, {ENTITY}\. $", m["content"]), m["content"]
            else:
                assert SYMBOLIC.match(m["content"]) and m["content"].count("(") == 1, m["content"]
    ours_words = {w for r in ours for m in r["input"][1:-1] for w in re.findall(r"[\w-]+", m["content"])}
    assert ours_words <= words | set(raven.COLORS) | set(raven.TYPES) | {str(a) for a in raven.ANGLES}


_S, _C, _T = "|".join(raven.SIZES), "|".join(raven.COLORS), "|".join(raven.TYPES)
_G = "|".join(str(a) for a in raven.ANGLES)
_E = rf"a ({_S}) ({_C}) ({_T}) rotated at ({_G}) degrees"
_OUT = rf"a (large|huge|giant) red ({_T}) rotated at ({_G}) degrees"
_IN4 = rf"a (small|medium|large|huge|giant) ({_C}) ({_T}) rotated at ({_G}) degrees"
_P4 = r" in the (top left|top right|bottom left|bottom right)"
_P9 = (
    r" in the (top left|top center|top right|center left|center|center right|bottom left|bottom center"
    r"|bottom right)"
)
_T1 = r"\([A-F], [A-J], [B-F], [A-H],\)"
_T4 = r"\([A-F], [A-J], [B-F], [A-H], (TL|TR|BL|BR)\)"
_T9 = r"\([A-F], [A-J], [B-F], [A-H], (TL|TC|TR|CL|C|CR|BL|BC|BR)\)"
_OUT1 = r"\[\([D-F], A, [B-F], [A-H],\)\] \n"
_IN4S = r"\([C-F], [A-J], [B-F], [A-H], (TL|TR|BL|BR)\)"
TEMPLATES = {
    "text": {
        "center_single": rf"On an image, {_E}\. ",
        "distribute_four": rf"On an image, {_E}{_P4}(, {_E}{_P4}){{0,3}}\. ",
        "distribute_nine": rf"On an image, {_E}{_P9}(, {_E}{_P9}){{0,8}}\. ",
        "left_center_single_right_center_single": (
            r"On an image, a first figure is displayed on the left and a second is displayed on the right\. "
            rf"On the left: {_E}\. On the right: {_E}\. "
        ),
        "up_center_single_down_center_single": (
            r"On an image, a first figure is displayed above and a second is displayed below\. "
            rf"Above: {_E}\. Below: {_E}\. "
        ),
        "in_center_single_out_center_single": (
            r"On an image, a second figure is displayed inside a first one\. "
            rf"Outside: {_OUT}\. Inside: {_E}\. "
        ),
        "in_distribute_four_out_center_single": (
            r"On an image, a second figure is displayed inside a first one\. "
            rf"Outside: {_OUT}\. Inside: {_IN4}{_P4}(, {_IN4}{_P4}){{0,3}}\. "
        ),
    },
    "symbolic": {
        "center_single": rf"\[{_T1}\] ",
        "distribute_four": rf"\[{_T4}(, {_T4}){{0,3}}\] ",
        "distribute_nine": rf"\[{_T9}(, {_T9}){{0,8}}\] ",
        "left_center_single_right_center_single": rf"\[{_T1}\] \| \[{_T1}\] ",
        "up_center_single_down_center_single": rf"\[{_T1}\] \n-{{15}}\n\[{_T1}\] ",
        "in_center_single_out_center_single": rf"{_OUT1}-{{15}}\n\[{_T1}\] \n-{{15}}",
        "in_distribute_four_out_center_single": rf"{_OUT1}-{{15}}\n\[{_IN4S}(, {_IN4S}){{0,3}}\] \n-{{15}}",
    },
}


def test_configs_are_ravens_seven():
    assert set(raven.CONFIGS) == set(TEMPLATES["text"]) and raven.CONFIGS[0] == "center_single"
    assert raven.CANDIDATE_MODES == ("iraven", "benchmark")


@pytest.mark.parametrize("mode", raven.CANDIDATE_MODES)
@pytest.mark.parametrize("render", ["text", "symbolic"])
@pytest.mark.parametrize("config", raven.CONFIGS)
def test_every_configuration_uses_the_benchmark_templates(config, render, mode):
    pattern = re.compile(TEMPLATES[render][config])
    for rec in raven.generate_raven(40, 1, render, config, candidates=mode):
        for m in rec["input"][1:-1]:
            label, body = m["content"].split(". ", 1)
            assert label in list("12345678ABCDEFGH") and pattern.fullmatch(body), repr(m["content"])
            codes = re.findall(r"(?:in the ([a-z ]+?)(?:, a |\. )|, (T[LCR]|C[LR]?|B[LCR])\))", body)
            slots = [c for pair in codes for c in pair if c]
            assert len(slots) == len(set(slots)), body  # each slot holds at most one entity


def _e(t, s, c, a, k=0, slot=0):
    return raven.Entity(type=t, size=s, color=c, angle=a, component=k, slot=slot)


def test_rendering_is_exactly_the_benchmarks_strings():
    four = (_e(4, 1, 2, 0, 0, 3), _e(0, 5, 9, 7, 0, 0))
    assert panel_string(four, "distribute_four", "text") == (
        "On an image, a small yellow circle rotated at -135 degrees in the bottom right, "
        "a giant white triangle rotated at 180 degrees in the top left. "
    )
    assert panel_string(four, "distribute_four", "symbolic") == "[(B, C, F, A, BR), (F, J, B, H, TL)] "
    nine = (_e(1, 2, 3, 4, 0, 4), _e(1, 2, 3, 5, 0, 5))
    assert panel_string(nine, "distribute_nine", "text") == (
        "On an image, a medium lime square rotated at 45 degrees in the center, "
        "a medium lime square rotated at 90 degrees in the center right. "
    )
    assert panel_string(nine, "distribute_nine", "symbolic") == "[(C, D, C, E, C), (C, D, C, F, CR)] "
    two = (_e(1, 3, 0, 3, 0), _e(4, 0, 8, 6, 1))
    assert panel_string(two, "in_center_single_out_center_single", "text") == (
        "On an image, a second figure is displayed inside a first one. Outside: a large red square rotated "
        "at 0 degrees. Inside: a tiny pink circle rotated at 135 degrees. "
    )
    assert panel_string(two, "in_center_single_out_center_single", "symbolic") == (
        "[(D, A, C, D,)] \n---------------\n[(A, I, F, G,)] \n---------------"
    )
    assert panel_string(two, "left_center_single_right_center_single", "text") == (
        "On an image, a first figure is displayed on the left and a second is displayed on the right. "
        "On the left: a large red square rotated at 0 degrees. On the right: a tiny pink circle rotated at "
        "135 degrees. "
    )
    assert panel_string(two, "left_center_single_right_center_single", "symbolic") == (
        "[(D, A, C, D,)] | [(A, I, F, G,)] "
    )
    assert panel_string(two, "up_center_single_down_center_single", "text") == (
        "On an image, a first figure is displayed above and a second is displayed below. Above: a large red "
        "square rotated at 0 degrees. Below: a tiny pink circle rotated at 135 degrees. "
    )
    assert panel_string(two, "up_center_single_down_center_single", "symbolic") == (
        "[(D, A, C, D,)] \n---------------\n[(A, I, F, G,)] "
    )
    nested = (_e(1, 3, 0, 3, 0), _e(4, 2, 8, 6, 1, 2), _e(4, 2, 8, 1, 1, 1))
    assert panel_string(nested, "in_distribute_four_out_center_single", "text") == (
        "On an image, a second figure is displayed inside a first one. Outside: a large red square rotated "
        "at 0 degrees. Inside: a medium pink circle rotated at 135 degrees in the bottom left, a medium pink "
        "circle rotated at -90 degrees in the top right. "
    )
    assert panel_string(nested, "in_distribute_four_out_center_single", "symbolic") == (
        "[(D, A, C, D,)] \n---------------\n[(C, I, F, G, BL), (C, I, F, B, TR)] \n---------------"
    )


_WORD_LETTER = {w: "ABCDEFGHIJ"[i] for vocab in (raven.SIZES, raven.COLORS) for i, w in enumerate(vocab)}
_WORD_LETTER.update({w: "BCDEF"[i] for i, w in enumerate(raven.TYPES)})
_ANGLE_LETTER = {str(a): "ABCDEFGH"[i] for i, a in enumerate(raven.ANGLES)}


def _decode_text(body: str) -> list[tuple]:
    found = re.findall(rf"{_E}(?: in the ([a-z ]+?))?(?=, a |\. )", body)
    return [
        (
            _WORD_LETTER[s],
            _WORD_LETTER[c],
            _WORD_LETTER[t],
            _ANGLE_LETTER[g],
            "".join(w[0].upper() for w in pos.split()),
        )
        for s, c, t, g, pos in found
    ]


def _decode_symbolic(body: str) -> list[tuple]:
    return [tuple(m) for m in re.findall(r"\((\w), (\w), (\w), (\w),(?: (\w+))?\)", body)]


@pytest.mark.parametrize("config", raven.CONFIGS)
def test_text_and_symbolic_of_one_seed_are_the_same_puzzles(config):
    text = raven.generate_raven(30, 4, "text", config)
    symbolic = raven.generate_raven(30, 4, "symbolic", config)
    for t, s in zip(text, symbolic, strict=True):
        assert t["ideal"] == s["ideal"]
        for mt, ms in zip(t["input"][1:-1], s["input"][1:-1], strict=True):
            decoded = _decode_text(mt["content"])
            assert decoded and decoded == _decode_symbolic(ms["content"]), (mt["content"], ms["content"])


# --- rules --------------------------------------------------------------------------------------------
def _rule_holds(rule: str, p: int, rows: list[tuple[int, int, int]], attr: str) -> bool:
    """An independent checker: RAVEN's rules on value rows (arithmetic: size +1 offset, colour none)."""
    if rule == "constant":
        return all(a == b == c for a, b, c in rows)
    if rule == "progression":
        return all(b == a + p and c == b + p for a, b, c in rows)
    if rule == "arithmetic":
        offset = {"size": 1, "color": 0}.get(attr)
        return offset is not None and all(c == a + p * (b + offset) for a, b, c in rows)
    first = rows[0]
    rotations = [tuple(first[(i + k * p) % 3] for i in range(3)) for k in range(3)]
    return len(set(first)) == 3 and all(tuple(row) == rotations[k] for k, row in enumerate(rows))


def _layout_rule_holds(rule: str, p: int, rows: list[tuple[frozenset, ...]], n_slots: int) -> bool:
    """An independent checker of Number/Position rules on rows of occupied-slot sets."""

    def shifted(s):
        return frozenset((x + p) % n_slots for x in s)

    if rule == "constant":
        return all(a == b == c for a, b, c in rows)
    if rule == "progression_number":
        return all(len(b) == len(a) + p and len(c) == len(b) + p for a, b, c in rows)
    if rule == "progression_position":
        return all(b == shifted(a) and c == shifted(b) for a, b, c in rows)
    if rule == "arithmetic_number":
        return all(len(c) == len(a) + p * len(b) for a, b, c in rows)
    if rule == "arithmetic_position":
        return all(c == (a | b if p > 0 else a - b) for a, b, c in rows)
    values = [tuple(len(s) if rule.endswith("number") else s for s in row) for row in rows]
    first = values[0]
    rotations = [tuple(first[(i + k * p) % 3] for i in range(3)) for k in range(3)]
    return len(set(first)) == 3 and all(row == rotations[k] for k, row in enumerate(values))


ATTR_HYPS = [("constant", 0)] + [("progression", d) for d in (-2, -1, 1, 2)]
ATTR_HYPS += [("arithmetic", 1), ("arithmetic", -1), ("distribute_three", 1), ("distribute_three", 2)]
LAYOUT_HYPS = [("constant", 0)] + [
    (r, d) for r in ("progression_number", "progression_position") for d in (-2, -1, 1, 2)
]
LAYOUT_HYPS += [(r, d) for r in ("arithmetic_number", "arithmetic_position") for d in (1, -1)]
LAYOUT_HYPS += [(r, k) for r in ("distribute_three_number", "distribute_three_position") for k in (1, 2)]


def _component(panels, k):
    return [[e for e in panel if e.component == k] for panel in panels]


def _noise(puzzle, k, attr) -> bool:
    """Per-entity noise: an attribute under Constant in a non-uniform layout (from the puzzle's metadata)."""
    return not puzzle.uniform[k] and puzzle.rules[k][attr][0] == "constant"


def _completes(puzzle: raven.RavenPuzzle, candidate: raven.Panel) -> bool:
    """Brute force: some rule of every kind fits all three rows, for every component and attribute."""
    panels = list(puzzle.context) + [candidate]
    for k, layout in enumerate(raven.LAYOUTS[puzzle.config]):
        comp = _component(panels, k)
        sets = [frozenset(e.slot for e in p) for p in comp]
        if any(len(s) != len(p) or not p for s, p in zip(sets, comp, strict=True)):
            return False
        rows = [tuple(sets[3 * r : 3 * r + 3]) for r in range(3)]
        if not any(_layout_rule_holds(rule, p, rows, layout.slots) for rule, p in LAYOUT_HYPS):
            return False
        for attr in ("type", "size", "color"):
            if _noise(puzzle, k, attr):
                continue
            values = [{getattr(e, attr) for e in p} for p in comp]
            if any(len(v) != 1 for v in values):
                return False
            vals = [v.pop() for v in values]
            rows = [tuple(vals[3 * r : 3 * r + 3]) for r in range(3)]
            if not any(_rule_holds(rule, p, rows, attr) for rule, p in ATTR_HYPS):
                return False
    return True


def _within(count: int, n: int, p: float, k: float = 4.0) -> bool:
    return abs(count / n - p) <= k * math.sqrt(p * (1 - p) / n)


def test_rule_frequencies_are_uniform_on_center_single():
    rng, n = random.Random(11), 4000
    rules, params = Counter(), Counter()
    for _ in range(n):
        for attr, (rule, p) in raven.make_puzzle(rng, "center_single").rules[0].items():
            rules[attr, rule] += 1
            params[attr, rule, p] += 1
    for attr, names in raven.RULES.items():
        for rule in names:
            assert _within(rules[attr, rule], n, 1 / len(names)), (attr, rule, rules[attr, rule] / n)
        for d in (-2, -1, 1, 2):
            assert _within(params[attr, "progression", d], rules[attr, "progression"], 1 / 4)
        assert _within(params[attr, "distribute_three", 1], rules[attr, "distribute_three"], 1 / 2)
    # Type progression +-2 (triangle, pentagon, circle and back) is as likely as +-1
    assert _within(params["type", "progression", 2] + params["type", "progression", -2], n, 1 / 6)


def test_layout_rules_and_uniformity_follow_ravens_constraints_on_distribute_four():
    rng, n = random.Random(12), 2000
    counts, uniform = Counter(), 0
    for _ in range(n):
        puzzle = raven.make_puzzle(rng, "distribute_four", candidates="benchmark")
        rule, p = puzzle.layout_rules[0]
        counts[rule] += 1
        uniform += puzzle.uniform[0]
        if rule.startswith("progression"):
            assert p in (-1, 1)  # +-2 leaves no valid number on a 2x2 grid
    expected = {"progression_number": 1 / 12, "progression_position": 1 / 12}
    for rule in ("arithmetic_number", "arithmetic_position", "distribute_three_number"):
        expected[rule] = 1 / 6
    expected.update({"distribute_three_position": 1 / 6, "constant": 1 / 6})
    assert set(counts) == set(expected)
    for rule, p in expected.items():
        assert _within(counts[rule], n, p), (rule, counts[rule] / n)
    assert _within(uniform, n, 1 / 4)


def test_out_component_has_ravens_constraints():
    rng, n = random.Random(13), 2000
    size_rules = Counter()
    for _ in range(n):
        puzzle = raven.make_puzzle(rng, "in_center_single_out_center_single")
        out = puzzle.rules[0]
        assert out["color"] == ("constant", 0)
        size_rules[out["size"][0]] += 1
        if out["size"][0] == "progression":
            assert out["size"][1] in (-1, 1)
        for panel in list(puzzle.context) + list(puzzle.candidates):
            outer = [e for e in panel if e.component == 0]
            assert len(outer) == 1 and outer[0].color == 0 and outer[0].size in (3, 4, 5)
    # Constant, Distribute_Three 2/5 each, Progression (only +-1 of 4 parameters valid) 1/5, no Arithmetic
    assert set(size_rules) == {"constant", "progression", "distribute_three"}
    assert _within(size_rules["constant"], n, 2 / 5) and _within(size_rules["progression"], n, 1 / 5)


@pytest.mark.parametrize("mode", raven.CANDIDATE_MODES)
@pytest.mark.parametrize("config", raven.CONFIGS)
def test_rows_follow_the_drawn_rules_within_the_layout_ranges(config, mode):
    rng = random.Random(14)
    noisy = 0
    for _ in range(150):
        puzzle = raven.make_puzzle(rng, config, candidates=mode)
        panels = list(puzzle.context) + [puzzle.candidates[puzzle.answer]]
        for k, layout in enumerate(raven.LAYOUTS[config]):
            comp = _component(panels, k)
            for p in comp + _component(puzzle.candidates, k):
                assert 1 <= len(p) <= layout.slots and len({e.slot for e in p}) == len(p)
                for e in p:
                    for attr, (lo, hi) in layout.ranges.items():
                        assert lo <= getattr(e, attr) <= hi, (config, attr, e)
            sets = [frozenset(e.slot for e in p) for p in comp]
            rule, p = puzzle.layout_rules[k]
            assert _layout_rule_holds(
                rule, p, [tuple(sets[3 * r : 3 * r + 3]) for r in range(3)], layout.slots
            )
            for attr, (rule, p) in puzzle.rules[k].items():
                values = [{getattr(e, attr) for e in panel} for panel in comp]
                if _noise(puzzle, k, attr):
                    noisy += any(len(v) > 1 for v in values)
                    continue
                assert all(len(v) == 1 for v in values)
                vals = [min(v) for v in values]
                assert _rule_holds(rule, p, [tuple(vals[3 * r : 3 * r + 3]) for r in range(3)], attr)
            if layout.slots == 1:  # the angle is row noise: constant along a row
                assert all(len({comp[3 * r + c][0].angle for c in range(3)}) == 1 for r in range(3))
    if config in ("distribute_four", "distribute_nine", "in_distribute_four_out_center_single"):
        assert noisy > 0  # non-uniform layouts show per-entity values under Constant


def test_colour_arithmetic_is_ravens_and_size_keeps_the_offset():
    rng = random.Random(15)
    color_rows, size_rows, zero_b3 = 0, 0, 0
    for _ in range(3000):
        puzzle = raven.make_puzzle(rng, "center_single")
        panels = list(puzzle.context) + [puzzle.candidates[puzzle.answer]]
        for attr in ("size", "color"):
            rule, p = puzzle.rules[0][attr]
            if rule != "arithmetic":
                continue
            vals = [getattr(panel[0], attr) for panel in panels]
            rows = [vals[3 * r : 3 * r + 3] for r in range(3)]
            if attr == "color":
                assert all(c == a + p * b for a, b, c in rows), rows
                assert not (rows[0][1] == 0 and rows[1][1] == 0), rows  # RAVEN's "white alarm"
                color_rows += 1
                zero_b3 += rows[2][1] == 0  # row 3 is not guarded
            else:
                assert all(c == a + p * (b + 1) for a, b, c in rows), rows
                size_rows += 1
    assert color_rows > 500 and size_rows > 500 and zero_b3 > 0


@needs_fixtures
def test_fixture_colour_rows_fit_ravens_arithmetic():
    fit_raven, fit_offset, fit_size = 0, 0, 0
    for rec in _fixture("symbolic"):
        tuples = [_decode_symbolic(m["content"])[0] for m in rec["input"][1:-1]]
        panels = tuples[:8] + [tuples[8 + "ABCDEFGH".index(rec["ideal"])]]
        color = ["ABCDEFGHIJ".index(t[1]) for t in panels]
        size = ["ABCDEF".index(t[0]) for t in panels]
        rows = [tuple(color[3 * r : 3 * r + 3]) for r in range(3)]
        fit_raven += any(raven.fits(("arithmetic", s), rows, "color") for s in (1, -1))
        fit_offset += any(raven.fits(("arithmetic", s), rows, "size") for s in (1, -1))
        size_rows = [tuple(size[3 * r : 3 * r + 3]) for r in range(3)]
        fit_size += any(raven.fits(("arithmetic", s), size_rows, "size") for s in (1, -1))
    assert (fit_raven, fit_offset) == (6, 0)  # colour: c = a +- b, never (c+1) = (a+1) +- (b+1)
    assert fit_size >= 4  # size keeps the offset


# --- candidates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_odd_one_out_shortcut_is_at_chance(render):
    n = 1000
    accuracy = _odd_one_out_accuracy(raven.generate_raven(n, 0, render, "center_single"))
    assert abs(accuracy - 0.125) <= 2 * math.sqrt(0.125 * 0.875 / n), accuracy


@pytest.mark.parametrize("config", OOD)
def test_odd_one_out_shortcut_is_at_chance_ood(config):
    n = 1000
    accuracy = _odd_one_out_accuracy(raven.generate_raven(n, 0, "text", config))
    assert abs(accuracy - 0.125) <= 3 * math.sqrt(0.125 * 0.875 / n), accuracy


def test_benchmark_candidates_fall_to_odd_one_out_like_the_public_files():
    for render in ("text", "symbolic"):
        records = raven.generate_raven(500, 0, render, "center_single", candidates="benchmark")
        assert _odd_one_out_accuracy(records) >= 0.99


@needs_fixtures
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_public_candidates_fall_to_odd_one_out(render):
    report = check_file(LAR / "RAVEN" / render / "center_single_test.jsonl")
    assert report.odd_one_out_accuracy is not None and report.odd_one_out_accuracy >= 0.9


@pytest.mark.parametrize("config", raven.CONFIGS)
def test_exactly_one_candidate_completes_the_matrix(config):
    rng = random.Random(5)
    for _ in range(200):
        puzzle = raven.make_puzzle(rng, config)
        ok = [i for i, c in enumerate(puzzle.candidates) if _completes(puzzle, c)]
        assert ok == [puzzle.answer]
        assert len(set(puzzle.candidates)) == 8


def _differences(answer: raven.Panel, candidate: raven.Panel, n_components: int) -> list[tuple[int, str]]:
    out = []
    for k in range(n_components):
        a = [e for e in answer if e.component == k]
        c = [e for e in candidate if e.component == k]
        if len(a) != len(c):
            out.append((k, "number"))
        elif [e.slot for e in a] != [e.slot for e in c]:
            out.append((k, "position"))
        out += [
            (k, attr)
            for attr in ("type", "size", "color")
            if len(a) == len(c)
            and any(getattr(x, attr) != getattr(y, attr) for x, y in zip(a, c, strict=True))
        ]
    return out


@pytest.mark.parametrize("config", raven.CONFIGS)
def test_benchmark_candidates_change_one_attribute_each(config):
    rng = random.Random(6)
    n_components = len(raven.LAYOUTS[config])
    answers = Counter()
    for _ in range(200):
        puzzle = raven.make_puzzle(rng, config, candidates="benchmark")
        answer = puzzle.candidates[puzzle.answer]
        answers[puzzle.answer] += 1
        assert len(set(puzzle.candidates)) == 8
        seen: dict[tuple[int, str], set] = {}
        for i, cand in enumerate(puzzle.candidates):
            if i == puzzle.answer:
                continue
            diff = _differences(answer, cand, n_components)
            assert len(diff) == 1, diff
            k, what = diff[0]
            if what in ("type", "size", "color"):
                value = getattr([e for e in cand if e.component == k][0], what)
                assert value not in seen.setdefault(diff[0], set())  # unused values only
                seen[diff[0]].add(value)
            if what != "number":  # angles are untouched
                assert [e.angle for e in cand] == [e.angle for e in answer]
    assert min(answers.values()) > 0  # shuffled


# --- determinism and validation -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", raven.CANDIDATE_MODES)
def test_same_seed_same_records_other_seed_other_records(mode):
    for config in raven.CONFIGS:
        a = raven.generate_raven(20, 3, "symbolic", config, "test", mode)
        assert a == raven.generate_raven(20, 3, "symbolic", config, "test", mode)
        assert a != raven.generate_raven(20, 4, "symbolic", config, "test", mode)


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = task_spec(task="raven", n=50, seed=3, render="symbolic", config="distribute_four", part="test")
    assert (
        write_task_file(spec, tmp_path / "a.jsonl").read_bytes()
        == write_task_file(spec, tmp_path / "b.jsonl").read_bytes()
    )


def test_unknown_config_or_candidates_is_rejected():
    with pytest.raises(ValueError, match="config must be one of"):
        raven.make_puzzle(random.Random(0), "left_right")
    with pytest.raises(ValueError, match="config must be one of"):
        task_spec(task="raven", n=1, config="left_right")
    with pytest.raises(ValueError, match=r"candidates must be one of \('iraven', 'benchmark'\)"):
        raven.make_puzzle(random.Random(0), "center_single", candidates="raven")
    with pytest.raises(ValueError, match="candidates must be one of"):
        raven.generate_raven(1, 0, "text", "center_single", candidates="")
