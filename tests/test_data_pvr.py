"""PVR generator: benchmark format and labels, aggregations, in-context examples, holdout split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from iclm.data import pvr

LAR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lar-samples" / "data"
needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")


def _digits(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text.split("->")[0])]


@needs_fixtures
@pytest.mark.parametrize(
    "name,complexity,n_examples", [("train_complexity0_4ex", 0, 4), ("train_complexity2_sum", 2, 3)]
)
def test_format_and_labels_match_benchmark(name, complexity, n_examples):
    ref = [
        json.loads(x) for x in (LAR / "PVR" / "symbolic" / "IID" / f"{name}.jsonl").read_text().splitlines()
    ]
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


@pytest.mark.parametrize(
    "aggregation,expected", [("sum", 3), ("min", 1), ("max", 9), ("median", 3), ("majority", 1)]
)
def test_aggregations_over_a_wrapping_window(aggregation, expected):
    seq = [8, 1, 0, 0, 0, 0, 0, 0, 0, 3, 9]  # pointer 8: window values[8], values[9], values[0] = 3, 9, 1
    assert pvr.pvr_label(seq, 2, aggregation) == expected


def test_majority_ties_median_and_complexity_one():
    assert pvr.pvr_label([0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0], 1, "majority") == 2
    assert pvr.pvr_label([0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0], 1, "median") == 2
    assert pvr.pvr_label([3, 0, 0, 0, 7, 5, 0, 0, 0, 0, 0], 1, "sum") == 2
    assert pvr.pvr_label([0, 5, 5, 1, 0, 0, 0, 0, 0, 0, 0], 2, "majority") == 5


def test_number_of_in_context_examples_is_configurable():
    for n_examples in (0, 2, 7):
        rec = pvr.generate_pvr(3, 0, 1, "max", n_examples)[0]
        assert len(rec["input"]) == n_examples + 2


def _held(msgs: list[dict]) -> list[bool]:
    seqs = [_digits(m["content"]) for m in msgs]
    return [pvr.held_out(s[0], s[1 + s[0]]) for s in seqs]


def test_holdout_split_keeps_pairs_out_of_training():
    train = pvr.generate_pvr(300, 0, 0, "sum", 4, "holdout", "train")
    assert not any(h for r in train for h in _held(r["input"][1:]))
    test = pvr.generate_pvr(300, 0, 0, "sum", 4, "holdout", "test")
    assert all(_held(r["input"][-1:])[0] for r in test)
    assert not any(h for r in test for h in _held(r["input"][1:-1]))
    iid = pvr.generate_pvr(300, 0, 0, "sum", 0, "iid")
    assert 0 < sum(_held(r["input"][-1:])[0] for r in iid) < 100


@pytest.mark.parametrize(
    "kwargs,match",
    [({"complexity": 3}, "complexity"), ({"aggregation": "mean"}, "aggregation"), ({"split": "x"}, "split"),
     ({"n_examples": -1}, "n_examples")],
)  # fmt: skip
def test_invalid_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pvr.generate_pvr(1, 0, **kwargs)
