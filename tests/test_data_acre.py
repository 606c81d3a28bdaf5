"""ACRE generator: benchmark format, brute-force solver agreement, split definitions, determinism."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from iclm.data import acre
from iclm.data.generate import TaskSpec, write_task_file

LAR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lar-samples" / "data"
needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
TEXT_OBJ = re.compile(r"A (\w+) (\w+) in (\w+) is visible\.")


def _fixture(render: str, split: str) -> list[dict]:
    return [
        json.loads(line) for line in (LAR / "ACRE" / render / split / "test.jsonl").read_text().splitlines()
    ]


def _parse(rec: dict, render: str) -> tuple[list[tuple[frozenset, bool]], frozenset]:
    """Context panels (objects, light) and query objects from a rendered record, by regex only."""
    msgs = [m["content"] for m in rec["input"]]

    def objects(text: str) -> frozenset:
        if render == "text":
            return frozenset(TEXT_OBJ.findall(text))
        return frozenset(int(x) for x in re.findall(r"\d+", text.split("->")[0]))

    context = []
    for text in msgs[4:-1]:
        light = text.endswith("The light is on.") if render == "text" else text.endswith("-> 2")
        context.append((objects(text), light))
    return context, objects(msgs[-1])


def brute_force(context: list[tuple[frozenset, bool]], query: frozenset) -> str:
    """Enumerate blicket assignments consistent with the context: all agree -> on/off, else undetermined."""
    objs = sorted(set().union(*(p for p, _ in context), query), key=str)
    outcomes = set()
    for bits in itertools.product((False, True), repeat=len(objs)):
        blickets = {o for o, b in zip(objs, bits, strict=True) if b}
        if all(bool(p & blickets) == light for p, light in context):
            outcomes.add(bool(query & blickets))
    assert outcomes, "the context is inconsistent"
    return ("on" if outcomes == {True} else "off") if len(outcomes) == 1 else "undetermined"


NUM = {"off": 0, "undetermined": 1, "on": 2}


@needs_fixtures
@pytest.mark.parametrize(
    "render,split",
    [("text", "IID"), ("text", "Comp"), ("text", "Sys"), ("symbolic", "IID"), ("symbolic", "Sys")],
)
def test_brute_force_solver_agrees_with_benchmark_labels(render, split):
    for rec in _fixture(render, split):
        answer = brute_force(*_parse(rec, render))
        assert (answer if render == "text" else NUM[answer]) == rec["ideal"]


@needs_fixtures
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_format_matches_benchmark(render):
    ref = _fixture(render, "IID")
    ours = acre.generate_acre(40, 0, render, "iid", "train")
    head = [m["content"] for m in ref[0]["input"][:4]]
    for rec in ours:
        assert list(rec) == list(ref[0])
        assert [m["role"] for m in rec["input"]] == [m["role"] for m in ref[0]["input"]]
        assert [m["content"] for m in rec["input"][:4]] == head
        assert rec["choice_strings"] == ref[0]["choice_strings"]
        assert type(rec["ideal"]) is type(ref[0]["ideal"])
        assert rec["ideal"] in ref[0]["choice_strings"]
        if render == "text":
            panel = (
                r"^(A \w+ (cube|sphere|cylinder) in (metal|rubber) is visible\. )+The light is (on|off)\.$"
            )
            query = (
                r"^(A \w+ (cube|sphere|cylinder) in (metal|rubber) is visible\. )+The state of the light is $"
            )
        else:
            panel, query = r"^\[\d+(, \d+)*\] -> [02]$", r"^\[\d+(, \d+)*\] -> $"
        assert all(re.match(panel, m["content"]) for m in rec["input"][4:-1])
        assert re.match(query, rec["input"][-1]["content"])
    vocabulary = {
        c for r in _fixture(render, "IID") for m in r["input"] for c in TEXT_OBJ.findall(m["content"])
    }
    ours_vocab = {c for r in ours for m in r["input"] for c in TEXT_OBJ.findall(m["content"])}
    for i in range(3):  # every attribute word we use is one the benchmark uses
        assert {o[i] for o in ours_vocab} <= {o[i] for o in vocabulary} | set(acre.COLORS)


@pytest.mark.parametrize(
    "split,part", [("iid", "train"), ("comp", "test"), ("sys", "train"), ("sys", "test")]
)
@pytest.mark.parametrize("render", ["text", "symbolic"])
def test_answers_agree_with_brute_force(split, part, render):
    records = acre.generate_acre(400, 1, render, split, part)
    for rec in records:
        answer = brute_force(*_parse(rec, render))
        assert (answer if render == "text" else NUM[answer]) == rec["ideal"]


def test_consecutive_lines_share_context_and_cover_query_types():
    rng = random.Random(3)
    kinds = Counter()
    for _ in range(200):
        puzzle = acre.make_puzzle(rng, "iid", "train")
        assert len(puzzle.context) == 6 and len(puzzle.queries) == 4
        assert [q.kind for q in puzzle.queries][2:] == ["screening_off", "potential"]
        assert {q.kind for q in puzzle.queries[:2]} == {"direct", "indirect"}
        kinds.update((q.kind, q.answer) for q in puzzle.queries)
        # the hidden assignment the context was drawn from is consistent with every panel
        assert all(bool(set(p.objects) & puzzle.blickets) == p.light for p in puzzle.context)
    assert {a for (k, a) in kinds if k == "indirect"} == {"on", "off", "undetermined"}
    records = acre.generate_acre(8, 3, "text", "iid", "train")
    assert records[0]["input"][:-1] == records[3]["input"][:-1]
    assert records[3]["input"][:-1] != records[4]["input"][:-1]


@pytest.mark.parametrize("split", ["iid", "comp", "sys"])
def test_label_balance(split):
    counts = Counter(r["ideal"] for r in acre.generate_acre(2000, 0, "text", split, "test"))
    for label in ("on", "off", "undetermined"):
        assert 0.2 <= counts[label] / 2000 <= 0.45, counts


def test_comp_test_combinations_never_appear_in_training():
    def combos(part: str) -> set[tuple[str, str]]:
        recs = acre.generate_acre(2000, 0, "text", "comp", part)
        return {(c, s) for r in recs for m in r["input"] for c, s, _ in TEXT_OBJ.findall(m["content"])}

    train, test = combos("train"), combos("test")
    assert train and test and not train & test
    # but every single attribute value is seen in training (only the combinations are new)
    assert {c for c, _ in test} <= {c for c, _ in train} and {s for _, s in test} <= {s for _, s in train}


@pytest.mark.parametrize("part,on", [("train", 3), ("test", 4)])
def test_sys_split_panel_counts(part, on):
    for rec in acre.generate_acre(400, 0, "symbolic", "sys", part):
        lights = [m["content"].endswith("-> 2") for m in rec["input"][4:-1]]
        assert sum(lights) == on and len(lights) == 6


def test_symbolic_ids_match_text_attributes():
    assert acre.object_attributes(0) == ("cube", "gray", "metal")
    assert acre.object_attributes(47) == ("cylinder", "yellow", "rubber")
    with pytest.raises(ValueError, match="object id"):
        acre.object_attributes(48)


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = TaskSpec(task="acre", n=200, seed=7, render="text", split="comp", part="test")
    a, b = write_task_file(spec, tmp_path / "a.jsonl"), write_task_file(spec, tmp_path / "b.jsonl")
    assert a.read_bytes() == b.read_bytes()
    other = write_task_file(
        TaskSpec(task="acre", n=200, seed=8, split="comp", part="test"), tmp_path / "c.jsonl"
    )
    assert other.read_bytes() != a.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_invalid_split_and_part_are_rejected():
    with pytest.raises(ValueError, match="split must be one of"):
        acre.make_puzzle(random.Random(0), "bogus", "train")
    with pytest.raises(ValueError, match="part must be"):
        acre.make_puzzle(random.Random(0), "iid", "validation")
