"""Task profiles: detection, ACRE entailment and query types, RAVEN parsing and row rules, PVR shares,
comparison and formatting, on the benchmark samples and on hand-built prompts."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from iclm.data.check import odd_one_out_accuracy
from iclm.data.examples import Example
from iclm.data.loader import load_examples
from iclm.data.profile import (
    TaskProfile,
    compare_profiles,
    detect_task,
    format_comparison,
    format_profile,
    profile_examples,
    profile_file,
)
from iclm.data.profile_acre import (
    consistent_assignments,
    entailed_answer,
    parse_acre_prompt,
    query_type,
    seen_alone_rule,
)
from iclm.data.profile_raven import parse_raven_prompt, row_rules
from iclm.data.profile_stats import metric_group, metric_kind
from tests.helpers.paths import LAR

needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
ACRE_FILES = sorted((LAR / "ACRE").rglob("*.jsonl")) if LAR.is_dir() else []
ALL_FILES = sorted(LAR.rglob("*.jsonl")) if LAR.is_dir() else []
RAVEN_TEXT = LAR / "RAVEN" / "text" / "center_single_test.jsonl"
RAVEN_SYMBOLIC = LAR / "RAVEN" / "symbolic" / "center_single_test.jsonl"
SYMBOLIC_HEAD = [
    "Figure out the pattern ... You can answer 1 if the solution cannot be determined.",
    "0.",
    "1.",
    "2.",
]
# excluded: 2, 4, 5; blickets: 1 (seen alone), 3 (the only candidate of [3, 4]); 6/7: at least one of them
CONTEXT = [([1], True), ([2], False), ([1, 2], True), ([3, 4], True), ([4, 5], False), ([6, 7], True)]


def _symbolic_prompt(context: list[tuple[list[int], bool]], query: list[int]) -> str:
    panels = [f"{objects} -> {2 if light else 0}" for objects, light in context]
    return "\n".join([*SYMBOLIC_HEAD, *panels, f"{query} -> "])


def _example(prompt: str, answer: str, line: int = 1) -> Example:
    return Example(f"hand:{line}", prompt, answer, None, "hand", "iid")


def _rel(path: Path) -> str:
    return str(path.relative_to(LAR))


@needs_fixtures
@pytest.mark.parametrize("path", ACRE_FILES, ids=_rel)
def test_acre_entailment_solves_every_benchmark_line(path):
    profile = profile_file(path)
    assert profile.task == "acre"
    assert profile.metrics["rule.entailment"] == 1.0
    assert profile.counts["rule"] == profile.n == 24
    assert profile.metrics["last_two_queries.same_reference"] == 1.0
    assert profile.metrics["context.detection_trial_first"] == 1.0


@needs_fixtures
def test_acre_text_and_symbolic_renderings_profile_alike():
    text = profile_file(LAR / "ACRE" / "text" / "IID" / "test.jsonl")
    symbolic = profile_file(LAR / "ACRE" / "symbolic" / "IID" / "test.jsonl")
    assert (text.render, symbolic.render) == ("text", "symbolic")
    assert text.metrics == symbolic.metrics and text.counts == symbolic.counts
    assert not any(row.flagged for row in compare_profiles(text, symbolic))
    sys_rows = {
        r.name: r for r in compare_profiles(text, profile_file(LAR / "ACRE" / "text" / "Sys" / "test.jsonl"))
    }
    assert sys_rows["lit_context_panels.4"].flagged and sys_rows["lit_context_panels.4"].b == 1.0
    assert not sys_rows["rule.entailment"].flagged


@pytest.mark.parametrize(
    ("query", "kind", "answer"),
    [
        ([1], "direct", "on"),  # a blicket shown alone
        ([5], "direct", "off"),  # excluded, never with the light on
        ([3], "indirect", "on"),  # the only candidate of a lit panel with a distractor
        ([2], "screening_off", "off"),  # excluded, but also in a lit panel
        ([6], "potential", "undetermined"),
        ([9], "potential", "undetermined"),  # never shown: may or may not be a blicket
        ([4, 5, 1], "direct", "on"),  # interventional: unlit panel [4, 5] + the added object
        ([5, 4, 2], "screening_off", "off"),
        ([4, 5, 6], "potential", "undetermined"),
        ([4, 5, 6, 7], "indirect", "on"),  # a set that turns the light on
    ],
)
def test_acre_query_type_on_hand_built_prompts(query, kind, answer):
    prompt = parse_acre_prompt(_symbolic_prompt(CONTEXT, query))
    assert prompt is not None and prompt.render == "symbolic" and len(prompt.context) == 6
    objects = {o for p in prompt.context for o in p.objects}
    entailed = entailed_answer(consistent_assignments(prompt.context), objects, prompt.query)
    assert entailed == answer
    assert query_type(prompt, entailed) == kind
    profile = profile_examples(
        [_example(_symbolic_prompt(CONTEXT, query), str("off undetermined on".split().index(answer)))]
    )
    assert profile.metrics[f"query_type.{kind}"] == 1.0
    assert profile.metrics["rule.entailment"] == 1.0


def test_acre_text_query_with_object_word_parses():
    head = ["Objects ... Your answer must contain a single word:", "on.", "off.", "undetermined."]
    panels = [
        "A red cube in metal is visible. The light is on.",
        "A gray cube in rubber is visible. The light is off.",
    ]
    old_style = parse_acre_prompt("\n".join([*head, *panels, "A red cube object in metal is visible. "]))
    new_style = parse_acre_prompt(
        "\n".join([*head, *panels, "A red cube in metal is visible. The state of the light is "])
    )
    assert old_style is not None and old_style == new_style
    assert old_style.render == "text" and old_style.query == ("red cube metal",)
    assert [p.light for p in old_style.context] == [True, False]


def test_seen_alone_rule_on_a_hand_built_prompt():
    cases = {(1,): "on", (2,): "off", (1, 2): "on", (2, 5): "undetermined", (3,): "undetermined"}
    for query, expected in cases.items():
        assert seen_alone_rule(parse_acre_prompt(_symbolic_prompt(CONTEXT, list(query)))) == expected
    golds = [([1], "2"), ([2], "0"), ([3], "2")]  # the rule gets the first two right, not the third
    examples = [_example(_symbolic_prompt(CONTEXT, q), g, i) for i, (q, g) in enumerate(golds)]
    profile = profile_examples(examples)
    assert profile.metrics["rule.seen_alone"] == pytest.approx(2 / 3)
    assert profile.metrics["rule.exclusion_only"] == 1.0
    assert profile.metrics["label_share.on"] == pytest.approx(2 / 3)
    assert profile.counts["label_share"] == profile.counts["rule"] == 3
    assert profile.counts["lit_context_panels"] == 1  # the three lines share one context: one puzzle


@needs_fixtures
@pytest.mark.parametrize("path", ALL_FILES, ids=_rel)
def test_shares_of_every_group_sum_to_one(path):
    profile = profile_file(path)
    groups = defaultdict(list)
    for name, value in profile.metrics.items():
        assert 0.0 <= value or metric_kind(name) == "size"
        if metric_kind(name) != "size":
            assert value <= 1.0
        if metric_kind(name) == "share":
            groups[metric_group(name)].append(value)
    multi = {g: v for g, v in groups.items() if len(v) > 1}
    assert "label_share" in multi
    for group, values in multi.items():
        assert sum(values) == pytest.approx(1.0), group
        assert profile.counts[group] > 0


@needs_fixtures
@pytest.mark.parametrize(
    ("path", "task", "render"),
    [
        ("ACRE/text/Comp/test.jsonl", "acre", "text"),
        ("ACRE/symbolic/Sys/test.jsonl", "acre", "symbolic"),
        ("RAVEN/text/center_single_test.jsonl", "raven", "text"),
        ("RAVEN/symbolic/center_single_test.jsonl", "raven", "symbolic"),
        ("PVR/symbolic/IID/train_complexity0_4ex.jsonl", "pvr", "symbolic"),
    ],
)
def test_task_detection(path, task, render):
    profile = profile_file(LAR / path)
    assert (profile.task, profile.render, profile.n) == (task, render, 24)
    first = load_examples(LAR / path).examples[0]
    assert detect_task(first.prompt) == (task, render)


def test_unknown_task_reports_label_shares_only(tmp_path):
    path = tmp_path / "sums.jsonl"
    rows = [{"prompt": f"{a} + 1 = ", "answer": str(a + 1)} for a in (1, 1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    profile = profile_file(path)
    assert (profile.task, profile.render, profile.n) == ("unknown", "", 4)
    assert profile.metrics == {"label_share.2": 0.5, "label_share.3": 0.25, "label_share.4": 0.25}
    assert profile_examples([]).n == 0


@needs_fixtures
def test_raven_text_and_symbolic_parse_to_the_same_attributes():
    text = load_examples(RAVEN_TEXT).examples
    symbolic = load_examples(RAVEN_SYMBOLIC).examples
    assert len(text) == len(symbolic) == 24
    for t, s in zip(text, symbolic, strict=True):
        pt, ps = parse_raven_prompt(t.prompt), parse_raven_prompt(s.prompt)
        assert pt is not None and ps is not None
        assert (pt.render, ps.render) == ("text", "symbolic")
        assert pt.context == ps.context and pt.candidates == ps.candidates
        assert all(len(panel) == 1 and len(panel[0]) == 1 for panel in pt.context)
    first = parse_raven_prompt(text[0].prompt)
    entity = first.candidates["A"][0][0]  # "a large red triangle rotated at -45 degrees"
    assert (entity.type, entity.size, entity.color, entity.angle) == (1, 3, 0, 2)


@needs_fixtures
@pytest.mark.parametrize("path", [RAVEN_TEXT, RAVEN_SYMBOLIC], ids=lambda p: p.parent.name)
def test_raven_shortcuts_and_rules_on_the_benchmark(path):
    profile = profile_file(path)
    assert profile.metrics["rule.odd_one_out"] >= 0.9
    assert profile.metrics["rule.odd_one_out"] == odd_one_out_accuracy(load_examples(path).examples)
    assert profile.metrics["rule.majority_letter"] == max(
        v for k, v in profile.metrics.items() if "label_share" in k
    )
    for attr in ("type", "size", "color"):
        assert profile.metrics[f"matrix_rule.{attr}.none"] == 0.0  # every row fits a RAVEN rule
        assert profile.counts[f"matrix_rule.{attr}"] == 3 * 24
    assert "matrix_rule.type.arithmetic" not in profile.metrics


@pytest.mark.parametrize(
    ("rows", "attribute", "expected"),
    [
        ([(2, 2, 2), (4, 4, 4), (1, 1, 1)], "size", ["constant"] * 3),
        ([(1, 2, 3), (0, 2, 4), (5, 4, 3)], "color", ["progression"] * 3),
        ([(1, 0, 2), (4, 1, 2), (2, 1, 4)], "size", ["arithmetic"] * 3),  # (c+1) = (a+1) +- (b+1)
        ([(1, 0, 2), (4, 1, 2), (2, 1, 4)], "color", ["none"] * 3),
        ([(3, 2, 5), (7, 4, 3), (6, 0, 6)], "color", ["arithmetic"] * 3),  # c = a +- b
        ([(3, 2, 5), (7, 4, 3), (6, 0, 6)], "size", ["none"] * 3),
        ([(1, 2, 4), (1, 2, 4), (1, 2, 4)], "type", ["none"] * 3),  # no arithmetic on type
        ([(1, 4, 2), (4, 2, 1), (2, 1, 4)], "type", ["distribute_three"] * 3),
        ([(1, 4, 2), (4, 1, 2), (2, 1, 4)], "type", ["none"] * 3),  # not rotations of each other
        ([(1, 2, 3), (2, 3, 1), (3, 1, 2)], "type", ["progression"] + ["distribute_three"] * 2),
        ([(1, 1, 1), (2, None, 2), (3, 3, 3)], "size", ["constant", None, "constant"]),
    ],
)
def test_row_rule_inference_on_hand_built_matrices(rows, attribute, expected):
    assert row_rules(rows, attribute) == expected


@needs_fixtures
def test_pvr_label_shares_and_shape():
    for name, n_examples, pointer_max in (("train_complexity0_4ex", 4, 9), ("train_complexity2_sum", 3, 7)):
        path = LAR / "PVR" / "symbolic" / "IID" / f"{name}.jsonl"
        profile = profile_file(path)
        golds = Counter(json.loads(line)["ideal"] for line in path.read_text().splitlines())
        for digit in range(10):
            assert profile.metrics[f"label_share.{digit}"] == golds[digit] / 24
        assert profile.metrics["examples_per_prompt"] == n_examples
        assert profile.metrics["pointer_max"] == pointer_max
        assert profile.counts["pointer_share"] == 24 * (n_examples + 1)


def _profile(metrics: dict[str, float], counts: dict[str, int]) -> TaskProfile:
    return TaskProfile("p.jsonl", "acre-text-iid", "acre", "text", 100, metrics, counts)


BASE = {
    "label_share.on": 0.50,
    "label_share.off": 0.50,
    "objects_per_evidence_panel": 2.50,
    "rule.seen_alone": 0.60,
}
COUNTS = {"label_share": 100, "objects_per_evidence_panel": 300, "rule": 100}


def test_compare_profiles_flags_differences_above_tolerance_only():
    a = _profile(BASE, COUNTS)
    near = _profile({"label_share.on": 0.52, "label_share.off": 0.48, "objects_per_evidence_panel": 2.58,
                     "rule.seen_alone": 0.64}, COUNTS)  # fmt: skip
    far = _profile({"label_share.on": 0.54, "label_share.off": 0.46, "objects_per_evidence_panel": 2.65,
                    "rule.seen_alone": 0.70}, COUNTS)  # fmt: skip
    assert not any(row.flagged for row in compare_profiles(a, near))
    rows = compare_profiles(a, far)
    assert [row.name for row in rows] == list(BASE) and all(row.flagged for row in rows)
    assert rows[0].difference == pytest.approx(0.04) and (rows[0].n_a, rows[0].n_b) == (100, 100)
    assert [row.tolerance for row in rows] == [0.03, 0.03, 0.1, 0.05]
    assert not any(row.flagged for row in compare_profiles(a, far, {"share": 0.05, "size": 0.2, "rule": 0.1}))
    tight = {row.name: row.flagged for row in compare_profiles(a, near, {"label_share.on": 0.01})}
    assert tight["label_share.on"] and not tight["label_share.off"]


def test_compare_profiles_missing_metrics_and_bad_tolerances():
    a = _profile({**BASE, "objects_per_context_panel.1": 0.9, "objects_per_context_panel.6": 0.1},
                 {**COUNTS, "objects_per_context_panel": 10})  # fmt: skip
    b = _profile({"label_share.on": 0.5, "label_share.off": 0.5, "objects_per_context_panel.1": 0.92},
                 {"label_share": 100, "objects_per_context_panel": 12})  # fmt: skip
    rows = {row.name: row for row in compare_profiles(a, b)}
    assert rows["rule.seen_alone"].flagged and rows["rule.seen_alone"].b is None
    assert rows["rule.seen_alone"].difference is None
    assert rows["objects_per_context_panel.6"].b == 0.0  # a bin the other file's histogram never saw
    assert rows["objects_per_context_panel.6"].flagged and not rows["objects_per_context_panel.1"].flagged
    with pytest.raises(ValueError, match="names no metric kind"):
        compare_profiles(a, b, {"shares": 0.1})
    with pytest.raises(ValueError, match="non-negative"):
        compare_profiles(a, b, {"share": -0.1})


def test_format_functions_show_n_and_flags():
    a = _profile(BASE, COUNTS)
    b = _profile({**BASE, "label_share.on": 0.60, "label_share.off": 0.40}, {**COUNTS, "label_share": 40})
    text = format_profile(a)
    assert "n=100" in text and "label_share (n=100): on 50.0%, off 50.0%" in text
    assert "objects_per_evidence_panel (n=300): 2.50" in text and "seen_alone 60.0%" in text
    table = format_comparison(compare_profiles(a, b), "benchmark", "ours")
    lines = table.splitlines()
    assert "benchmark" in lines[0] and "ours" in lines[0]
    on_line = next(line for line in lines if line.startswith("label_share.on"))
    assert "50.0%" in on_line and "60.0%" in on_line and "+10.0 pp" in on_line and on_line.endswith("<-")
    assert " 100 " in on_line and " 40 " in on_line
    assert not next(line for line in lines if line.startswith("rule.seen_alone")).endswith("<-")
    assert lines[-1].startswith("2 of 4 metrics")
