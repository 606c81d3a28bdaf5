"""RAVEN generator: benchmark format, I-RAVEN candidates (no odd-one-out shortcut), unique answers."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from iclm.data import raven
from iclm.data.check import candidate_tokens, check_file, odd_one_out
from iclm.data.generate import TaskSpec, write_task_file

LAR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lar-samples" / "data"
needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
SYMBOLIC = re.compile(r"^([1-8A-H])\. \[(\(\w, \w, \w, \w,\)(, \(\w, \w, \w, \w,\))*)\] $")
ENTITY = r"an? \w+ \w+ \w+ rotated at -?\d+ degrees"


def _fixture(render: str) -> list[dict]:
    path = LAR / "RAVEN" / render / "center_single_test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_fixtures
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_center_single_format_matches_benchmark(render):
    ref = _fixture(render)
    ours = raven.generate_raven(50, 0, render, "center_single")
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
                assert SYMBOLIC.match(m["content"]), m["content"]
    ours_words = {w for r in ours for m in r["input"][1:-1] for w in re.findall(r"[\w-]+", m["content"])}
    assert ours_words <= words | set(raven.COLORS) | set(raven.TYPES) | {str(a) for a in raven.ANGLES}


@pytest.mark.parametrize("config", ["distribute_four", "in_center_single_out_center_single"])
def test_multi_entity_renderings(config):
    text = raven.generate_raven(5, 0, "text", config)[0]["input"][1]["content"]
    symbolic = raven.generate_raven(5, 0, "symbolic", config)[0]["input"][1]["content"]
    n = 4 if config == "distribute_four" else 2
    assert len(re.findall(ENTITY, text)) == n and SYMBOLIC.match(symbolic)
    assert symbolic.count("(") == n


@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_odd_one_out_shortcut_is_near_chance(render):
    records = raven.generate_raven(1000, 0, render, "center_single")
    hits = sum(
        odd_one_out(candidate_tokens("\n".join(m["content"] for m in r["input"]))) == r["ideal"]
        for r in records
    )
    assert hits / 1000 <= 0.20


@pytest.mark.parametrize("config", ["distribute_four", "in_center_single_out_center_single"])
def test_odd_one_out_shortcut_is_near_chance_ood(config):
    records = raven.generate_raven(300, 0, "symbolic", config)
    hits = sum(
        odd_one_out(candidate_tokens("\n".join(m["content"] for m in r["input"]))) == r["ideal"]
        for r in records
    )
    assert hits / 300 <= 0.20


@needs_fixtures
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_public_candidates_fall_to_odd_one_out(render):
    report = check_file(LAR / "RAVEN" / render / "center_single_test.jsonl")
    assert report.odd_one_out_accuracy is not None and report.odd_one_out_accuracy >= 0.9


# --- an independent rule checker: enumerate rule hypotheses on value rows, no generator code ---
def _rule_holds(rule: str, p: int, rows: list[tuple[int, int, int]]) -> bool:
    if rule == "constant":
        return all(a == b == c for a, b, c in rows)
    if rule == "progression":
        return all(b == a + p and c == b + p for a, b, c in rows)
    if rule == "arithmetic":
        return all(c + 1 == a + 1 + p * (b + 1) for a, b, c in rows)
    first = rows[0]
    rotations = [tuple(first[(i + k * p) % 3] for i in range(3)) for k in range(3)]
    return len(set(first)) == 3 and all(tuple(row) == rotations[k] for k, row in enumerate(rows))


ALL_RULES = [("constant", 0)] + [("progression", d) for d in (-2, -1, 1, 2)]
ALL_RULES += [("arithmetic", 1), ("arithmetic", -1), ("distribute_three", 1), ("distribute_three", 2)]


def _satisfies_all_rules(puzzle: raven.RavenPuzzle, candidate: raven.Panel) -> bool:
    panels = list(puzzle.context) + [candidate]
    for e in range(len(candidate)):
        for attr in ("type", "size", "color"):
            vals = [getattr(panels[i][e], attr) for i in range(9)]
            rows = [tuple(vals[3 * r : 3 * r + 3]) for r in range(3)]
            if not any(
                _rule_holds(rule, p, rows) for rule, p in ALL_RULES if rule != "arithmetic" or attr != "type"
            ):
                return False
    return True


@pytest.mark.parametrize("config", raven.CONFIGS)
def test_exactly_one_candidate_satisfies_every_rule(config):
    rng = random.Random(5)
    for _ in range(300):
        puzzle = raven.make_puzzle(rng, config)
        ok = [i for i, c in enumerate(puzzle.candidates) if _satisfies_all_rules(puzzle, c)]
        assert ok == [puzzle.answer]
        assert len(set(puzzle.candidates)) == 8


def test_rows_follow_the_drawn_rules_and_angles_are_row_noise():
    puzzle = raven.make_puzzle(random.Random(1), "center_single")
    panels = list(puzzle.context) + [puzzle.candidates[puzzle.answer]]
    for attr, (rule, p) in puzzle.rules[0].items():
        vals = [getattr(panels[i][0], attr) for i in range(9)]
        assert _rule_holds(rule, p, [tuple(vals[3 * r : 3 * r + 3]) for r in range(3)])
    assert all(len({panels[3 * r + c][0].angle for c in range(3)}) == 1 for r in range(3))


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = TaskSpec(task="raven", n=50, seed=3, render="symbolic", config="distribute_four", part="test")
    assert (
        write_task_file(spec, tmp_path / "a.jsonl").read_bytes()
        == write_task_file(spec, tmp_path / "b.jsonl").read_bytes()
    )


def test_unknown_config_is_rejected():
    with pytest.raises(ValueError, match="config must be one of"):
        raven.make_puzzle(random.Random(0), "left_right")
    with pytest.raises(ValueError, match="config must be one of"):
        TaskSpec(task="raven", n=1, config="left_right")
