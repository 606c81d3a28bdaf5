"""Loader: every benchmark sample file, simple user formats, one test per bad line and bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iclm.data import DataFileError, LoaderLimits, dataset_name, load_examples
from tests.helpers.paths import LAR

needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
FIXTURES = sorted(LAR.rglob("*.jsonl")) if LAR.is_dir() else []
GOOD = {
    "input": [{"role": "system", "content": "Say hi."}, {"role": "user", "content": "Answer: "}],
    "ideal": "hi",
}


def _jsonl(tmp_path: Path, lines: list, name: str = "f.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8"
    )
    return path


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(LAR)))
def test_every_benchmark_file_loads(path):
    result = load_examples(path)
    assert len(result.examples) == 24 and not result.errors
    raw = [json.loads(x) for x in path.read_text().splitlines()]
    for ex, rec in zip(result.examples, raw, strict=True):
        assert ex.prompt == "\n".join(m["content"] for m in rec["input"])
        assert ex.answer == str(rec["ideal"])
        assert ex.choices == (
            tuple(str(c) for c in rec["choice_strings"]) if "choice_strings" in rec else None
        )


@needs_fixtures
def test_dataset_and_split_defaults_from_benchmark_paths():
    acre_sys = load_examples(LAR / "ACRE" / "text" / "Sys" / "test.jsonl").examples[0]
    assert (acre_sys.dataset, acre_sys.split) == ("acre-text-sys", "ood")
    raven = load_examples(LAR / "RAVEN" / "symbolic" / "center_single_test.jsonl").examples[0]
    assert (raven.dataset, raven.split) == ("raven-symbolic-center_single", "iid")
    assert (
        load_examples(LAR / "ACRE" / "text" / "IID" / "test.jsonl", dataset="x", split="ood")
        .examples[0]
        .split
        == "ood"
    )


def test_dataset_names_from_generated_paths():
    assert dataset_name("data/mix/acre-text-comp-test.jsonl") == "acre-text-comp"
    assert dataset_name("/tmp/prompts.txt") == "prompts"


def test_ideal_as_integer_and_list_and_without_choices(tmp_path):
    path = _jsonl(tmp_path, [{**GOOD, "ideal": 2, "choice_strings": [0, 1, 2]}, {**GOOD, "ideal": ["x"]}])
    a, b = load_examples(path).examples
    assert (a.answer, a.choices, b.answer, b.choices) == ("2", ("0", "1", "2"), "x", None)


def test_bad_json_line_is_reported_and_valid_lines_kept(tmp_path):
    result = load_examples(_jsonl(tmp_path, [GOOD, '{"input": [', GOOD]))
    assert len(result.examples) == 2
    [err] = result.errors
    assert (
        (err.line, err.field) == (2, "<line>")
        and "invalid JSON" in err.reason
        and err.path.endswith("f.jsonl")
    )


def test_missing_input_is_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [GOOD, {"ideal": "x"}])).errors
    assert (err.line, err.field) == (2, "prompt") and "missing" in err.reason


def test_missing_ideal_is_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [{"input": GOOD["input"]}])).errors
    assert err.field == "ideal"


def test_wrong_type_of_ideal_is_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [{**GOOD, "ideal": {"a": 1}}, GOOD])).errors
    assert (err.line, err.field) == (1, "ideal") and "dict" in err.reason


def test_message_without_content_is_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [{"input": [{"role": "user"}], "ideal": "x"}])).errors
    assert err.field == "input[0].content"


def test_empty_prompt_is_reported(tmp_path):
    [err] = load_examples(
        _jsonl(tmp_path, [{"input": [{"role": "user", "content": "  "}], "ideal": "x"}])
    ).errors
    assert (err.field, err.reason) == ("input", "the prompt is empty")


def test_too_long_prompt_is_reported(tmp_path):
    long = {"prompt": "x" * 101, "answer": "y"}
    result = load_examples(_jsonl(tmp_path, [long, GOOD]), limits=LoaderLimits(max_prompt_chars=100))
    [err] = result.errors
    assert err.field == "prompt" and "max_prompt_chars=100" in err.reason and len(result.examples) == 1


def test_bad_choices_are_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [{**GOOD, "choice_strings": [{"a": 1}]}])).errors
    assert err.field == "choice_strings"


def test_non_object_line_is_reported(tmp_path):
    [err] = load_examples(_jsonl(tmp_path, [GOOD, "[1, 2]"])).errors
    assert err.field == "<line>" and "list" in err.reason


def test_binary_file_raises(tmp_path):
    path = tmp_path / "model.jsonl"
    path.write_bytes(b"\x00\x01\x02PK\x03\x04" * 10)
    with pytest.raises(DataFileError, match="model.jsonl.*binary"):
        load_examples(path)


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(DataFileError, match="empty.jsonl.*empty"):
        load_examples(path)


def test_whitespace_only_file_raises(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(DataFileError, match="whitespace"):
        load_examples(path)


def test_wrong_encoding_raises(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps({"prompt": "café", "answer": "x"}, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(DataFileError, match="latin.jsonl.*UTF-8"):
        load_examples(path)


def test_file_that_is_not_json_at_all_raises(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("hello world\nthis is prose\n")
    with pytest.raises(DataFileError, match="notes.jsonl.*JSONL"):
        load_examples(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_examples(tmp_path / "nope.jsonl")


def test_too_many_lines_raises(tmp_path):
    path = _jsonl(tmp_path, [GOOD] * 6)
    with pytest.raises(DataFileError, match="max_lines=5"):
        load_examples(path, limits=LoaderLimits(max_lines=5))


def test_invalid_limits_and_split_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="max_lines"):
        LoaderLimits(max_lines=0)
    with pytest.raises(ValueError, match="split must be one of"):
        load_examples(_jsonl(tmp_path, [GOOD]), split="test")


def test_simple_jsonl_with_domain(tmp_path):
    path = _jsonl(tmp_path, [{"prompt": "2+2=", "answer": 4, "choices": ["3", "4"], "domain": "math"}])
    [ex] = load_examples(path).examples
    assert (ex.prompt, ex.answer, ex.choices, ex.domain) == ("2+2=", "4", ("3", "4"), "math")


def test_csv_file(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text('prompt,answer,choices,domain\n"Is it on, or off? ",on,on|off,acre-text\nQ2,B,,\n,x,,\n')
    result = load_examples(path)
    a, b = result.examples
    assert (a.prompt, a.answer, a.choices, a.domain, a.dataset) == (
        "Is it on, or off? ",
        "on",
        ("on", "off"),
        "acre-text",
        "mine",
    )
    assert (b.choices, b.domain) == (None, None)
    [err] = result.errors
    assert (err.line, err.field) == (4, "prompt")


def test_csv_missing_column_raises(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("question,answer\nhi,there\n")
    with pytest.raises(DataFileError, match="bad.csv.*no 'prompt' column"):
        load_examples(path)


def test_txt_file_gives_prompts_without_answers(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text('first prompt\n\n<script>alert(1)</script> {"input": 1}\n')
    a, b = load_examples(path).examples
    assert (a.prompt, a.answer, a.choices) == ("first prompt", "", None)
    assert (
        b.prompt == '<script>alert(1)</script> {"input": 1}'
    )  # user text is kept verbatim, never interpreted


# ---------------------------------------------------------------- hostile lines: one line error each
@pytest.mark.parametrize(
    "line,field,reason",
    [
        ("[" * 5000 + "]" * 5000, "<line>", "nested more than 64 levels deep"),
        ('{"prompt": "p", "answer": ' + "9" * 5000 + "}", "<line>", "a number with 5000 characters"),
        ('{"prompt": "p", "prompt": "q", "answer": "a"}', "<line>", "duplicate key 'prompt'"),
        ('{"prompt": "lone \\ud800 surrogate", "answer": "a"}', "prompt", "lone surrogate"),
        ('{"prompt": "p", "answer": "\\udfff"}', "answer", "lone surrogate"),
        (
            json.dumps(GOOD | {"choice_strings": ["yes", "no"]}),
            "ideal",
            "'hi' is not one of the choices ['yes', 'no']",
        ),
        (json.dumps({"input": [{"content": "no role"}], "ideal": "a"}), "input[0].role", "must be one of"),
        (
            json.dumps({"input": [{"role": "robot", "content": "x"}], "ideal": "a"}),
            "input[0].role",
            "'robot'",
        ),
    ],
    ids=["deep", "digits", "duplicate", "surrogate-prompt", "surrogate-answer", "ideal", "no-role", "role"],
)
def test_hostile_line_is_one_line_error_and_valid_lines_survive(tmp_path, line, field, reason):
    path = _jsonl(tmp_path, [GOOD, line, GOOD])
    result = load_examples(path)
    assert len(result.examples) == 2 and [e.id.split(":")[1] for e in result.examples] == ["1", "3"]
    (error,) = result.errors
    assert (error.line, error.field) == (2, field) and reason in error.reason, error
    assert "\n" not in str(error) and str(error).startswith(f"{path}:2: field '{field}'")


def test_line_separators_inside_json_strings_do_not_split_records(tmp_path):
    record = GOOD | {"input": [{"role": "user", "content": "a\u2028b\u0085c\x1cd"}]}
    path = tmp_path / "f.jsonl"
    path.write_text(
        json.dumps(record, ensure_ascii=False) + "\r\n" + json.dumps(GOOD) + "\n", encoding="utf-8"
    )
    result = load_examples(path)
    assert not result.errors and result.examples[0].prompt == "a\u2028b\u0085c\x1cd"
    assert len(result.examples) == 2


def test_long_csv_fields_and_late_nul_bytes_are_line_errors(tmp_path):
    path = tmp_path / "f.csv"
    rows = ["prompt,answer", "ok,1", "x" * 9000 + " padding,2", "bad\x00byte,3", "fine,4"]
    path.write_text("\n".join(["prompt,answer"] + ["p,0"] * 400 + rows[1:]) + "\n", encoding="utf-8")
    result = load_examples(path, limits=LoaderLimits(max_prompt_chars=200_000))
    assert [e.prompt for e in result.examples][-3:] == ["ok", "x" * 9000 + " padding", "fine"]
    assert [(e.line, e.reason) for e in result.errors] == [(404, "holds a NUL byte")]


@pytest.mark.parametrize("kind", ["folder", "fifo", "loop", "utf16"])
def test_files_that_are_not_text_files_are_named_for_what_they_are(tmp_path, kind):
    import os

    path = tmp_path / "data.jsonl"
    if kind == "folder":
        path.mkdir()
        reason = "is a folder, not a file"
    elif kind == "fifo":
        os.mkfifo(path)
        reason = "not a regular file"
    elif kind == "loop":
        os.symlink(path, path)
        reason = "cannot be opened"
    else:
        path.write_bytes(json.dumps(GOOD).encode("utf-16"))
        reason = "UTF-16 text"
    with pytest.raises(DataFileError, match=reason):
        load_examples(path)


def test_a_csv_file_gives_the_same_errors_whatever_was_loaded_before(tmp_path):
    """The csv module's field cap is global: a load with a large max_prompt_chars used to leave it raised,
    so a 140,000-character field became a prompt-length error or a csv error by test order."""
    import csv

    from iclm.data.examples import LoaderLimits
    from iclm.data.loader import load_examples

    path = tmp_path / "long.csv"
    path.write_text("prompt,answer\nIs it on?,yes\n" + "x" * 140_000 + ",no\nIs it red?,no\n")
    before = csv.field_size_limit()
    first = load_examples(path).errors
    load_examples(path, limits=LoaderLimits(max_prompt_chars=500_000))
    assert [str(e) for e in load_examples(path).errors] == [str(e) for e in first]
    assert "field larger than field limit" in first[0].reason and csv.field_size_limit() == before
