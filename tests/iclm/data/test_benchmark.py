"""`iclm data mix --benchmark`: a benchmark-shaped folder built from the real samples, raw ACRE converted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from iclm.__main__ import main
from iclm.data import acre
from iclm.data.benchmark import convert_raw_acre, import_benchmark
from iclm.data.evals_format import dumps
from iclm.data.examples import DataFileError
from iclm.data.mix import load_mix, read_manifest
from tests.helpers.paths import LAR

needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")
TEXT_IDS = {
    "A {1} {0} in {2} is visible.".format(*acre.object_attributes(i)): i for i in range(acre.NUM_OBJECTS)
}
ANSWERS = {"off": 0, "undetermined": 1, "on": 2, 0: 0, 1: 1, 2: 2}


def _objects(text: str, render: str) -> list[int]:
    if render == "symbolic":
        return json.loads(text.split(" ->")[0])
    sentences = [s.strip() + "." for s in text.split(".") if s.strip().startswith("A ")]
    return [TEXT_IDS[s] for s in sentences]


def raw_trials(lines: list[str], render: str) -> list[list[dict]]:
    """The raw ACRE trials (the generator's JSON) behind 4 consecutive benchmark lines each."""
    trials = []
    for start in range(0, len(lines), 4):
        records = [json.loads(line) for line in lines[start : start + 4]]
        panels = [m["content"] for m in records[0]["input"][4:-1]]
        trial = [
            {"light_state": "on" if p.endswith(("on.", "-> 2")) else "off", "objects": _objects(p, render)}
            for p in panels
        ]
        for rec in records:
            query = _objects(rec["input"][-1]["content"], render)
            trial.append({"light_state": "no", "objects": query, "label": ANSWERS[rec["ideal"]], "type": "x"})
        trials.append(trial)
    return trials


def _benchmark(tmp_path: Path) -> Path:
    """A clone-shaped folder: raw ACRE built from the samples, RAVEN's processed test files."""
    data = tmp_path / "clone" / "data"
    sources = {"IID": ("symbolic", "val"), "Comp": ("text", "test"), "Sys": ("symbolic", "test")}
    for split, (render, part) in sources.items():
        lines = (LAR / "ACRE" / render / split / "test.jsonl").read_text().splitlines()
        raw = data / "ACRE" / "raw" / split / f"{part}.json"
        raw.parent.mkdir(parents=True)
        raw.write_text(json.dumps(raw_trials(lines, render), indent=4))
    for render in ("text", "symbolic"):
        (data / "RAVEN" / render).mkdir(parents=True)
        shutil.copy(LAR / "RAVEN" / render / "center_single_test.jsonl", data / "RAVEN" / render)
    return tmp_path / "clone"


@needs_fixtures
@pytest.mark.parametrize(
    "render,split,part", [("symbolic", "IID", "val"), ("text", "Comp", "test"), ("symbolic", "Sys", "test")]
)
def test_raw_acre_converts_to_the_benchmark_lines_exactly(tmp_path, render, split, part):
    root = _benchmark(tmp_path)
    records, errors = convert_raw_acre(root / "data" / "ACRE" / "raw" / split / f"{part}.json", render, None)
    expected = (LAR / "ACRE" / render / split / "test.jsonl").read_text().splitlines()
    assert not errors
    assert [dumps(r) for r in records] == expected


@needs_fixtures
def test_import_builds_the_paper_mixture_and_lists_what_is_absent(tmp_path):
    root = _benchmark(tmp_path)
    report = import_benchmark(root, tmp_path / "mix", max_train=16)
    files = {e.file: e for e in report.entries}
    assert files["acre-text-iid-train.jsonl"].source == "ACRE/raw/IID/val.json"  # no train part: val is used
    assert files["acre-text-iid-train.jsonl"].n == 16
    assert (
        files["acre-symbolic-comp-test.jsonl"].split == "ood"
        and files["acre-symbolic-comp-test.jsonl"].n == 24
    )
    assert files["raven-text-center_single-test.jsonl"].source == "RAVEN/text/center_single_test.jsonl"
    assert "RAVEN/text/center_single_train.jsonl or RAVEN/text/center_single_val.jsonl" in report.missing
    assert "ACRE/raw/IID/test.json or ACRE/text/IID/test.jsonl" in report.missing
    assert any("distribute_four_test.jsonl" in m for m in report.missing)
    assert [e.file for e in read_manifest(tmp_path / "mix")] == [e.file for e in report.entries]
    tests = load_mix(tmp_path / "mix", "test")
    sys_text = tests["acre-text-sys-test.jsonl"]
    assert len(sys_text.examples) == 24 and not sys_text.errors
    assert {ex.domain for ex in sys_text.examples} == {"acre-text"}
    # the same raw file gives both renderings of the same puzzles
    symbolic = tests["acre-symbolic-sys-test.jsonl"].examples
    assert [e.answer for e in symbolic] == [str(ANSWERS[e.answer]) for e in sys_text.examples]


@needs_fixtures
def test_bad_raw_trials_are_named_and_good_ones_kept(tmp_path):
    lines = (LAR / "ACRE" / "symbolic" / "IID" / "test.jsonl").read_text().splitlines()
    trials = raw_trials(lines, "symbolic")
    trials[1][7]["label"] = 5
    trials[2][0]["objects"] = [3, "x"]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(trials))
    records, errors = convert_raw_acre(path, "text", None)
    assert len(records) == 4 * (len(trials) - 2)
    assert [(e.line, e.field) for e in errors] == [(2, "label"), (3, "objects")]
    assert str(errors[0]).startswith(f"{path}:2: field 'label'")
    path.write_text("{not json")
    with pytest.raises(DataFileError, match="cannot read raw ACRE JSON"):
        convert_raw_acre(path, "text", None)


def test_a_folder_that_is_no_benchmark_is_refused(tmp_path):
    with pytest.raises(DataFileError, match="no data/ACRE or data/RAVEN"):
        import_benchmark(tmp_path, tmp_path / "out")


@needs_fixtures
def test_cli_imports_and_reports(tmp_path, capsys):
    root = _benchmark(tmp_path)
    assert main(["data", "mix", "--benchmark", str(root), "--max-train", "8", "-o", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "acre-text-iid-train.jsonl: 8 lines from ACRE/raw/IID/val.json" in out
    assert "absent: RAVEN/symbolic/center_single_train.jsonl" in out
    assert main(["data", "mix", "-o", str(tmp_path / "m2")]) == 2  # neither a config nor --benchmark
