"""Bounded readers of the project's own JSON and YAML files (#17 items 6-8): every bad file is a one-line
error naming it, never a RecursionError, a bare ValueError or an unbounded expansion."""

from __future__ import annotations

import json
import logging
import re

import pytest

from iclm.checkpoint import CheckpointError, read_config
from iclm.data.mix import read_manifest
from iclm.evaluation.report import load_results
from iclm.json_files import JsonFileError, read_json
from iclm.training import checkpoints
from iclm.training.config import load_train_config
from iclm.training.metrics_log import read_metrics
from tests.helpers.paths import ROOT

DEEP = "[" * 5000 + "]" * 5000
HUGE_NUMBER = '{"step": ' + "9" * 5000 + "}"


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (DEEP, "nested more than 64 levels"),
        (HUGE_NUMBER, "a number with 5000 characters"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_bad_json_files_are_one_line_errors_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "x.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(JsonFileError) as error:
        read_json(path, "test file")
    assert str(path) in _one_line(error.value) and reason in str(error.value)


def test_checkpoint_config_that_is_deep_or_a_list_is_a_checkpoint_error(tmp_path):
    (tmp_path / "config.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match="nested more than 64") as error:
        read_config(tmp_path)
    assert str(tmp_path / "config.json") in _one_line(error.value)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="holds a JSON list, expected an object"):
        read_config(tmp_path)


def test_results_json_shaped_as_a_list_names_the_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="holds a JSON list, expected an object") as error:
        load_results(path)
    assert str(path) in _one_line(error.value)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"readouts": [], "datasets": []}, "field 'splits' missing"),
        ({"readouts": [], "datasets": {}, "splits": {}}, "field 'datasets' must be a JSON array"),
        ({"readouts": [], "datasets": [1], "splits": {}}, "datasets[0] is not an object"),
        ({"readouts": [], "datasets": [{"dataset": "a"}], "splits": {}}, "strings dataset, split"),
        ({"readouts": [], "datasets": [], "splits": {"iid": []}}, "splits['iid'] is not a JSON object"),
    ],
)
def test_results_json_of_the_wrong_shape_names_the_field(tmp_path, results, message):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(JsonFileError, match=re.escape(message)) as error:
        load_results(path)
    assert str(path) in _one_line(error.value)


def test_metrics_lines_that_are_bad_are_skipped_by_name_and_u2028_stays_inside_a_record(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    good = {"step": 1, "note": "a\u2028b\u0085c"}
    lines = [json.dumps(good, ensure_ascii=False), DEEP, HUGE_NUMBER, "[1]", '{"step": 2', '{"step": 3}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        records = read_metrics(path)
    assert records == [good, {"step": 3}]
    for number in (2, 3, 4, 5):
        assert f"{path}:{number}:" in caplog.text


def test_a_checkpoint_whose_manifest_is_hostile_is_incomplete_not_a_crash(tmp_path):
    folder = tmp_path / "checkpoint-4"
    folder.mkdir()
    (folder / checkpoints.MANIFEST).write_text(DEEP)
    assert "unreadable" in checkpoints.incomplete_reason(folder)
    (folder / checkpoints.MANIFEST).write_text('{"step": 4, "files": {}, "step": 5}')
    assert "duplicate key 'step'" in checkpoints.incomplete_reason(folder)


ENTRY = {
    "file": "acre-text-iid-train.jsonl", "dataset": "acre-text-iid", "domain": "acre-text", "role": "train",
    "split": "iid", "task": "acre", "n": 4, "seed": 1,
}  # fmt: skip


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"config": {}}, "field 'files' must be a list"),
        ({"files": [["a"]]}, "field 'files[0]' must be an object"),
        ({"files": [{"file": "a.jsonl"}]}, "missing keys ['dataset'"),
        ({"files": [ENTRY | {"extra": 1}]}, "unknown keys ['extra']"),
        ({"files": [ENTRY, ENTRY | {"n": "12"}]}, "field 'files[1].n' must be a int"),
        ({"files": [ENTRY | {"file": "../../../../etc/passwd"}]}, "must name a file inside the mix folder"),
    ],
)
def test_data_mix_manifests_are_validated_field_by_field(tmp_path, manifest, message):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError) as error:
        read_manifest(tmp_path)
    assert message in _one_line(error.value) and str(tmp_path / "manifest.json") in str(error.value)


def test_a_valid_manifest_reads_back(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {}, "files": [ENTRY]}))
    (entry,) = read_manifest(tmp_path)
    assert (entry.file, entry.n, entry.source) == (ENTRY["file"], 4, "")


def test_yaml_aliases_cannot_expand_without_bound(tmp_path):
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(laughs) + "\n")
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match="more than 100,000 values once YAML anchors") as error:
        load_train_config(path)
    assert str(path) in _one_line(error.value)


def test_yaml_that_is_not_utf8_or_too_large_names_the_file(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model: {variant: iclm}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.yaml: not UTF-8 text \(byte \d+\)"):
        load_train_config(latin)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2**20) + "\n")
    with pytest.raises(ValueError, match="a training config has at most"):
        load_train_config(big)


def test_the_shipped_and_experiment_training_configs_still_load():
    found = [p for p in sorted((ROOT / "configs").rglob("*.yaml")) if "training:" in p.read_text()]
    assert len(found) >= 4
    for path in found:
        load_train_config(path)
