"""PVR generator: benchmark format and labels, pointer range, aggregations, examples, holdout split."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest

from iclm.data import pvr
from tests.helpers.paths import LAR

IID = LAR / "PVR" / "symbolic" / "IID"
needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")


def _digits(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text.split("->")[0])]


def _seqs(rec: dict) -> list[list[int]]:
    """The 11-element sequences of a record: examples then query."""
    return [_digits(m["content"]) for m in rec["input"][1:]]


def _window(seq: list[int], c: int) -> tuple[int, ...]:
    """Independent of pvr.window: the benchmark slice, checked to fit."""
    assert len(seq) == 11 and 0 <= seq[0] and seq[0] + c + 1 <= 10, seq
    return tuple(seq[1 + seq[0] : 1 + seq[0] + c + 1])


@needs_fixtures
@pytest.mark.parametrize(
    "name,complexity,n_examples", [("train_complexity0_4ex", 0, 4), ("train_complexity2_sum", 2, 3)]
)
def test_format_and_labels_match_benchmark(name, complexity, n_examples):
    ref = [json.loads(x) for x in (IID / f"{name}.jsonl").read_text().splitlines()]
    assert all(len(r["input"]) == n_examples + 2 for r in ref)
    for rec in ref:  # our label function reproduces every benchmark label, examples included
        assert pvr.pvr_label(_digits(rec["input"][-1]["content"]), complexity, "sum") == rec["ideal"]
        for m in rec["input"][1:-1]:
            assert pvr.pvr_label(_digits(m["content"]), complexity, "sum") == int(
                m["content"].split("-> ")[1]
            )
    ours = pvr.generate_pvr(30, 0, complexity, "sum", n_examples)
    for rec in ours:
        assert list(rec) == list(ref[0]) and type(rec["ideal"]) is int
        assert [m["role"] for m in rec["input"]] == [m["role"] for m in ref[0]["input"]]
        assert rec["input"][0] == ref[0]["input"][0]
        assert all(re.match(r"^\[\d(, \d){10}\] -> \d$", m["content"]) for m in rec["input"][1:-1])
        assert re.match(r"^\[\d(, \d){10}\] -> $", rec["input"][-1]["content"])


@needs_fixtures
def test_benchmark_pointers_and_file_names():
    for name, c in (("train_complexity0_4ex", 0), ("train_complexity2_sum", 2)):
        ref = [json.loads(x) for x in (IID / f"{name}.jsonl").read_text().splitlines()]
        assert max(s[0] for r in ref for s in _seqs(r)) <= 9 - c
        assert (IID / pvr.benchmark_file_name(c, "sum", len(ref[0]["input"]) - 2)).is_file()
    assert pvr.benchmark_file_name(0) == "train_complexity0.jsonl"
    assert pvr.benchmark_file_name(2, "majority") == "train_complexity2_majvote.jsonl"


@pytest.mark.parametrize("c", [0, 1, 2])
def test_pointer_range_and_no_wrap(c):
    recs = pvr.generate_pvr(2000, 1, c, "sum", 0)
    pointers = Counter(_seqs(r)[0][0] for r in recs)
    assert set(pointers) == set(range(10 - c))  # 0..9-c, every value reached, none above
    for r in pvr.generate_pvr(300, 2, c, "max"):
        for s in _seqs(r):
            _window(s, c)  # the window fits, so it cannot wrap
        assert r["ideal"] == max(_window(_seqs(r)[-1], c))


def test_high_complexity_window_is_the_list():
    for r in pvr.generate_pvr(20, 0, 9, "sum"):
        for s in _seqs(r):
            assert s[0] == 0
        assert r["ideal"] == sum(_seqs(r)[-1][1:]) % 10
    assert len(pvr.generate_pvr(5, 0, 5, "median")) == 5


def test_aggregations_over_a_window():
    seq = [7, 0, 0, 0, 0, 0, 0, 0, 3, 9, 1]  # pointer 7: window values[7:10] = 3, 9, 1
    expected = {"sum": 3, "min": 1, "max": 9, "median": 3, "majority": 1}
    for aggregation, label in expected.items():
        assert pvr.pvr_label(seq, 2, aggregation) == label
    with pytest.raises(ValueError, match="pointer"):  # such a window would wrap: the benchmark never makes it
        pvr.pvr_label([8, 1, 0, 0, 0, 0, 0, 0, 0, 3, 9], 2, "sum")


def test_majority_ties_median_and_complexity_one():
    assert pvr.pvr_label([0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0], 1, "majority") == 2
    assert pvr.pvr_label([0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0], 1, "median") == 2
    assert pvr.pvr_label([3, 0, 0, 0, 7, 5, 0, 0, 0, 0, 0], 1, "sum") == 2
    assert pvr.pvr_label([0, 5, 5, 1, 0, 0, 0, 0, 0, 0, 0], 2, "majority") == 5


def test_number_of_in_context_examples():
    assert len(pvr.generate_pvr(2, 0)[0]["input"]) == 3 + 2  # the benchmark's default, 3
    assert len(pvr.generate_pvr(2, 0, 2, "sum", split="holdout", part="test")[0]["input"]) == 5
    for n_examples in (0, 2, 4, 7):
        rec = pvr.generate_pvr(3, 0, 1, "max", n_examples)[0]
        assert len(rec["input"]) == n_examples + 2


def _perms(c: int, k: int) -> set[tuple[int, ...]]:
    return set(itertools.islice(itertools.permutations(range(c + 1)), k))


def test_held_out_permutations_are_the_first_k():
    assert pvr.held_out_permutations(0) == [(0,)]
    assert pvr.held_out_permutations(1) == [(0, 1)]
    assert pvr.held_out_permutations(2, 3) == [(0, 1, 2), (0, 2, 1), (1, 0, 2)]


@pytest.mark.parametrize("c,k", [(0, 1), (1, 1), (2, 1), (1, 2), (2, 4)])
def test_holdout_train_never_shows_a_held_out_window(c, k):
    held = _perms(c, k)
    recs = pvr.generate_pvr(1500, 3, c, "sum", 3, "holdout", "train", holdout=k)
    windows = Counter(_window(s, c) for r in recs for s in _seqs(r))
    assert not held & set(windows)
    for r in recs:
        assert r["ideal"] == sum(_window(_seqs(r)[-1], c)) % 10
    # the +1 shift, not a redraw: each held-out window p becomes p + 1, seen about twice as often
    iid = Counter(_window(s, c) for r in pvr.generate_pvr(1500, 3, c, "sum", 3) for s in _seqs(r))
    assert held & set(iid)  # the same draw without the holdout does produce them
    if c == 0:
        at_pointer = Counter({v: windows[(v,)] for v in range(10)})
        others = [at_pointer[v] for v in range(2, 10)]
        # 6,000 windows: expect ~1,200 ones and ~600 of each other value (sd ~ 25); generous bounds
        assert at_pointer[0] == 0
        assert 1.6 * max(others) < at_pointer[1] < 2.4 * min(others)


def test_holdout_train_c1_shifted_window_is_over_represented():
    recs = pvr.generate_pvr(3000, 4, 1, "sum", 3, "holdout", "train")
    windows = Counter(_window(s, 1) for r in recs for s in _seqs(r))
    # 12,000 windows over 100 pairs: (1, 2) gets its own ~120 plus the ~120 shifted from (0, 1)
    typical = sorted(windows.values())[len(windows) // 2]
    assert windows[(0, 1)] == 0 and windows[(1, 2)] > 1.5 * typical


def test_holdout_train_applies_the_permutations_in_turn():
    # complexity 9: the window is the whole list, and a +1 shift maps a permutation to a permutation.
    # (0, ..., 9) is permutation #0 and its shift (1, ..., 9, 0) is #409113 (9! + 8! + ... + 1!) in itertools
    # order, so with K = 409114 the benchmark shifts twice, to (2, ..., 9, 0, 1), which is not held out.
    perms = pvr.held_out_permutations(9, 409114)
    assert perms[0] == tuple(range(10)) and perms[-1] == (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)
    index = {p: i for i, p in enumerate(perms)}
    assert pvr._remove_held_out(list(range(10)), 0, 9, index) == [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert pvr._remove_held_out([1, 2, 3, 4, 5, 6, 7, 8, 9, 0], 0, 9, index) == [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert pvr._remove_held_out([0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 0, 9, index) == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("c,k", [(0, 1), (1, 1), (2, 1), (2, 3), (9, 2)])
def test_holdout_test_every_window_is_held_out(c, k):
    held = _perms(c, k)
    recs = pvr.generate_pvr(400, 5, c, "sum", 3, "holdout", "test", holdout=k)
    windows = Counter(_window(s, c) for r in recs for s in _seqs(r))
    assert set(windows) == held  # examples and query alike, and each permutation is chosen
    if c == 0:
        assert all(r["ideal"] == 0 for r in recs)
    for r in recs:
        assert r["ideal"] == sum(_window(_seqs(r)[-1], c)) % 10


def test_deterministic_and_parts_differ():
    a = pvr.generate_pvr(20, 7, 2, "median", 3, "holdout", "train", holdout=2)
    assert a == pvr.generate_pvr(20, 7, 2, "median", 3, "holdout", "train", holdout=2)
    assert a != pvr.generate_pvr(20, 7, 2, "median", 3, "holdout", "train", holdout=1)
    assert a != pvr.generate_pvr(20, 7, 2, "median", 3, "iid", "train")


@pytest.mark.parametrize(
    "kwargs,match",
    [({"complexity": 10}, "complexity"), ({"complexity": -1}, "complexity"),
     ({"aggregation": "mean"}, "aggregation"), ({"split": "x"}, "split"),
     ({"n_examples": -1}, "n_examples"), ({"part": "val"}, "part"),
     ({"split": "holdout", "holdout": 0}, "holdout"), ({"split": "holdout", "holdout": 2}, "holdout"),
     ({"split": "holdout", "complexity": 2, "holdout": 7}, "holdout")],
)  # fmt: skip
def test_invalid_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pvr.generate_pvr(1, 0, **kwargs)
    assert len(pvr.generate_pvr(1, 0, 2, split="holdout", holdout=6)) == 1  # (2 + 1)! = 6 is allowed
