"""The bad-input corpus (tests/fixtures/bad_inputs/, written by its make_corpus.py) through every entry point
a user reaches: `python -m iclm data check`, `evaluate`, `analyze`, `train` and the studio's upload.

What each command must do with each case:
- a whole-file problem (`fatal`): one line `error: ...` naming the file and the problem, exit status 2
  (`data check` reports it on its own line and exits 1; the upload shows it as its one message);
- one bad line among valid ones (`line`, `field`): the command names file, line and field and keeps every
  valid line (check and upload report it; evaluate and analyze warn and run the valid examples);
- a bad config or checkpoint: one line naming that file and what is wrong, exit status 2, before any model
  is built (the configs' cases run in milliseconds because they never reach one).
No traceback ever reaches the user; `--debug` brings it back.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from iclm.__main__ import main as iclm_main
from tests.helpers.paths import ROOT

CORPUS = ROOT / "tests" / "fixtures" / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())
MIN_CASES = 60


def _cases(kind: str, *, fatal: bool | None = None) -> list[dict]:
    found = [c for c in CASES if c["kind"] == kind]
    if fatal is not None:
        found = [c for c in found if ("fatal" in c) == fatal]
    return found


def _ids(cases: list[dict]) -> list[str]:
    return [c["path"] for c in cases]


@pytest.fixture(autouse=True)
def _in_corpus(monkeypatch):
    """The corpus' paths (a config's data files, a checkpoint's backbone) are relative to its folder."""
    monkeypatch.chdir(CORPUS)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A valid, untrained tiny checkpoint for the data cases (built by the corpus' own recipe)."""
    from tests.fixtures.bad_inputs.make_corpus import tiny_checkpoint

    folder = tmp_path_factory.mktemp("valid") / "checkpoint"
    tiny_checkpoint(folder)
    return folder


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = iclm_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *texts: str) -> str:
    """Exit status 2 and exactly one `error:` line holding every text; no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    for text in texts:
        assert text in errors[0], (text, errors[0])
    return errors[0]


def line_mark(case: dict) -> str:
    """How LineError prints a line's place: `FILE:LINE: field 'FIELD':`."""
    return f"{case['path']}:{case['line']}: field '{case['field']}':"


def valid_lines(case: dict) -> int:
    return case.get("valid", 2)


def test_the_corpus_is_complete_and_large_enough():
    written = {
        str(p.relative_to(CORPUS))
        for sub in ("data", "configs", "checkpoints")
        for p in (CORPUS / sub).iterdir()
    }
    assert written == {c["path"] for c in CASES}  # every file a case, every case a file
    assert len(CASES) >= MIN_CASES


# --- data files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("data"), ids=_ids(_cases("data")))
def test_data_check(case, capsys):
    code, out, _ = _run(["data", "check", case["path"]], capsys)
    if "fatal" in case:
        assert code == 1
        assert f"{case['path']}: cannot read: " in out and case["fatal"] in out
    else:
        assert code == 0
        assert f"examples={valid_lines(case)} bad_lines=1" in out
        marked = [line for line in out.splitlines() if line_mark(case) in line]
        assert len(marked) == 1 and case["error"] in marked[0], out


@pytest.mark.parametrize("case", _cases("data"), ids=_ids(_cases("data")))
def test_studio_upload(case):
    from studio.uploads import load_bytes

    name = Path(case["path"]).name
    loaded = load_bytes(name, (CORPUS / case["path"]).read_bytes() if "symlink" not in name else b"\x00")
    if "symlink" in name:  # a browser uploads bytes, never a link: nothing to test beyond the loader
        assert loaded.fatal is not None and loaded.fatal.startswith(name)
    elif "fatal" in case:
        assert loaded.fatal is not None and loaded.fatal.startswith(f"{name}: ")
        assert case.get("upload", case["fatal"]) in loaded.fatal and not loaded.examples
    else:
        assert loaded.fatal is None and len(loaded.examples) == valid_lines(case)
        row = loaded.errors.iloc[0]
        assert len(loaded.errors) == 1
        assert (row["file"], row["line"], row["field"]) == (name, case["line"], case["field"])
        assert case["error"] in row["reason"]


@pytest.mark.parametrize("case", _cases("data"), ids=_ids(_cases("data")))
def test_evaluate(case, checkpoint, tmp_path, capsys, caplog):
    argv = [
        "evaluate",
        str(checkpoint),
        "--data",
        case["path"],
        "--out",
        str(tmp_path / "eval"),
        "--threads",
        "1",
    ]
    with caplog.at_level(logging.WARNING):
        code, _, err = _run(argv, capsys)
    if "fatal" in case:
        assert_one_line_error(code, err, case["path"], case["fatal"])
        return
    assert code == 0, err
    assert any(line_mark(case) in r.getMessage() and case["error"] in r.getMessage() for r in caplog.records)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert [d["n"] for d in results["datasets"]] == [valid_lines(case)]


@pytest.mark.parametrize("case", _cases("data"), ids=_ids(_cases("data")))
def test_analyze(case, checkpoint, tmp_path, capsys, caplog):
    from analysis.cli import main as analysis_main

    argv = ["analyze", str(checkpoint), "--data", case["path"], "--out", str(tmp_path / "analysis")]
    with caplog.at_level(logging.WARNING):
        code = analysis_main([*argv, "--no-progress", "--forced-sample", "1", "--limit", "3"])
    err = capsys.readouterr().err
    if "fatal" in case:
        assert_one_line_error(code, err, case["path"], case["fatal"])
        return
    assert code == 0, err
    assert any(line_mark(case) in r.getMessage() for r in caplog.records)
    examples = pd.read_parquet(tmp_path / "analysis" / "examples.parquet")
    assert len(examples) == min(3, valid_lines(case))


@pytest.mark.parametrize("case", _cases("data", fatal=True), ids=_ids(_cases("data", fatal=True)))
def test_train_on_an_unreadable_data_file(case, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({"model": {"backbone": "tiny"}, "data": {"train": [case["path"]]}}))
    code, _, err = _run(["train", str(config), "--output-dir", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, str(config), case["path"], case["fatal"])
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


# --- configs and checkpoints ----------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("config"), ids=_ids(_cases("config")))
def test_train_refuses_a_bad_config(case, tmp_path, capsys):
    own_output = "output-dir" in case["path"]  # that case is about the config's own output_dir
    extra = [] if own_output else ["--output-dir", str(tmp_path / "run")]
    code, _, err = _run(["train", case["path"], *extra], capsys)
    assert_one_line_error(code, err, case["path"], case["error"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", _cases("checkpoint"), ids=_ids(_cases("checkpoint")))
def test_evaluate_refuses_a_bad_checkpoint(case, tmp_path, capsys):
    argv = ["evaluate", case["path"], "--data", "valid/train.jsonl", "--out", str(tmp_path / "eval")]
    code, _, err = _run([*argv, "--threads", "1"], capsys)
    assert_one_line_error(code, err, case["path"], case["error"])
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("case", _cases("checkpoint"), ids=_ids(_cases("checkpoint")))
def test_analyze_refuses_a_bad_checkpoint(case, tmp_path, capsys):
    from analysis.cli import main as analysis_main

    argv = ["analyze", case["path"], "--data", "valid/train.jsonl", "--out", str(tmp_path / "analysis")]
    code = analysis_main([*argv, "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, case["path"], case["error"])
    assert not (tmp_path / "analysis").exists()


# --- --debug ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_instead(where, tmp_path):
    """`--debug` before the command or after its arguments: the error propagates with its traceback."""
    from iclm.data.examples import DataFileError

    argv = ["data", "check", "data/empty.jsonl"]
    argv = ["--debug", *argv] if where == "before" else [*argv[:2], "--debug", argv[2]]
    code = iclm_main(argv)  # data check reports unreadable files itself: its status says so
    assert code == 1
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({"model": {"backbone": "tiny"}, "data": {"train": ["data/binary.jsonl"]}}))
    argv = ["train", str(config)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(ValueError, match="binary") as raised:
        iclm_main(argv)
    assert isinstance(raised.value.__cause__, DataFileError)
