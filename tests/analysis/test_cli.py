"""`python -m analysis analyze` (and `python -m iclm analyze`, its engine plugin) on a `data mix` folder:
i.i.d. and o.o.d. rows, --limit, --max-length, reuse."""

from __future__ import annotations

import json
import logging

import pytest

from analysis.collect import load_artifact
from iclm.__main__ import main


@pytest.fixture(scope="module")
def mix_folder(tmp_path_factory):
    """A tiny `python -m iclm data mix` folder: symbolic ACRE + RAVEN, 3 test lines per file."""
    root = tmp_path_factory.mktemp("mix")
    config = root / "mix.yaml"
    config.write_text("seed: 0\nn_train: 2\nn_test: 3\nrenders: [symbolic]\ntasks: [acre, raven]\n")
    assert main(["data", "mix", str(config), "-o", str(root / "mix")]) == 0
    return root / "mix"


@pytest.fixture
def checkpoint(tmp_path, make_iclm):
    folder = tmp_path / "ckpt"
    make_iclm(perturb=True, num_domains=2).save_pretrained(str(folder))
    return folder


def _analyze(checkpoint, *extra: str) -> int:
    return main(
        ["analyze", str(checkpoint), "--forced-sample", "2", "--batch-size", "4", "--no-progress", *extra]
    )


def test_mix_folder_gives_iid_and_ood_rows_with_manifest_splits(checkpoint, mix_folder):
    from iclm.data.mix import read_manifest

    out = checkpoint / "art"
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out)) == 0
    frame = load_artifact(out).examples
    tests = [e for e in read_manifest(mix_folder) if e.role == "test"]
    assert len(frame) == sum(e.n for e in tests) == 18
    assert set(frame["split"]) == {"iid", "ood"}
    expected = {e.dataset: e.split for e in tests}
    assert dict(frame.groupby("dataset")["split"].first()) == expected
    assert (frame.loc[frame["dataset"] == "raven-symbolic-distribute_four", "split"] == "ood").all()


def test_limit_caps_rows_per_dataset_and_is_recorded(checkpoint, mix_folder):
    out = checkpoint / "art"
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "2") == 0
    artifact = load_artifact(out)
    counts = artifact.examples.groupby("dataset").size()
    assert (counts == 2).all() and len(counts) == 6
    assert artifact.manifest["limit"] == 2
    from iclm.data.loader import load_examples

    first = [e.id for e in load_examples(mix_folder / "acre-symbolic-iid-test.jsonl").examples[:2]]
    assert list(artifact.examples.loc[artifact.examples["dataset"] == "acre-symbolic-iid", "id"]) == first
    created = artifact.manifest["created"]
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "3") == 0
    assert load_artifact(out).manifest["limit"] == 3 and len(load_artifact(out).examples) == 18
    assert load_artifact(out).manifest["created"] >= created


def test_same_inputs_reuse_the_artifact(checkpoint, mix_folder):
    out = checkpoint / "art"
    args = ("--data", str(mix_folder), "--out", str(out), "--limit", "1")
    assert _analyze(checkpoint, *args) == 0
    mtime = (out / "examples.parquet").stat().st_mtime_ns
    assert _analyze(checkpoint, *args) == 0
    assert (out / "examples.parquet").stat().st_mtime_ns == mtime


def test_max_length_defaults_to_training_config_and_warns(checkpoint, mix_folder, caplog):
    (checkpoint / "training_config.json").write_text(json.dumps({"training": {"max_length": 48}}))
    out = checkpoint / "art"
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1") == 0
    assert load_artifact(out).manifest["max_length"] == 48
    assert "6 of 6 prompts do not fit max_length=48" in caplog.text
    assert (
        _analyze(
            checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1", "--max-length", "4096"
        )
        == 0
    )
    assert load_artifact(out).manifest["max_length"] == 4096


def test_max_length_without_training_config_is_2048(checkpoint, mix_folder):
    out = checkpoint / "art"
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1") == 0
    assert load_artifact(out).manifest["max_length"] == 2048


def test_folder_without_manifest_is_an_error(checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _analyze(checkpoint, "--data", str(tmp_path / "empty")) == 2
    assert "without manifest.json" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--limit", "--max-length"])
def test_non_positive_option_is_an_error(checkpoint, mix_folder, option, capsys):
    assert _analyze(checkpoint, "--data", str(mix_folder), option, "0") == 2
    assert f"{option}=0 is invalid" in capsys.readouterr().err


def test_out_folder_of_other_files_is_refused_and_left_alone(checkpoint, mix_folder, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1") == 2
    assert "non-empty folder without an analysis manifest.json" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me\n"
    args = ("--data", str(mix_folder), "--out", str(out), "--limit", "1")
    assert _analyze(checkpoint, *args, "--overwrite") == 0
    assert len(load_artifact(out).examples) == 6


def test_out_mix_folder_is_refused(checkpoint, mix_folder):
    """A `data mix` folder has a manifest.json too, but not an analysis one."""
    before = sorted(p.name for p in mix_folder.iterdir())
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(mix_folder), "--limit", "1") == 2
    assert sorted(p.name for p in mix_folder.iterdir()) == before


def test_out_regular_file_is_refused_and_kept(checkpoint, mix_folder, tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("keep me\n")
    for extra in ((), ("--overwrite",)):
        assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1", *extra) == 2
        assert "is a file, not an artifact folder" in capsys.readouterr().err
        assert out.read_text() == "keep me\n" and sorted(p.name for p in tmp_path.iterdir()) == [
            "ckpt",
            "results.txt",
        ]


def test_empty_out_folder_is_used(checkpoint, mix_folder, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1") == 0
    assert len(load_artifact(tmp_path / "empty").examples) == 6


def test_python_m_analysis_writes_the_artifact_python_m_iclm_writes(checkpoint, mix_folder):
    """The analysis' own entry (`python -m analysis analyze`) and the engine's plugin are one command."""
    from analysis.cli import main as analysis_main

    args = [
        "--data",
        str(mix_folder),
        "--limit",
        "1",
        "--forced-sample",
        "2",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    assert analysis_main(["analyze", str(checkpoint), "--out", str(checkpoint / "a"), *args]) == 0
    assert main(["analyze", str(checkpoint), "--out", str(checkpoint / "b"), *args]) == 0
    a, b = load_artifact(checkpoint / "a"), load_artifact(checkpoint / "b")
    assert a.manifest["checkpoint_hash"] == b.manifest["checkpoint_hash"]
    assert a.examples.equals(b.examples)


def test_the_artifact_folder_and_files_get_a_plain_mkdir_and_open_modes(checkpoint, mix_folder, tmp_path):
    """Staged in mkdtemp (0700), written by safetensors (0600), renamed: another account could not read it."""
    from iclm.file_modes import current_umask

    out = tmp_path / "analysis"
    assert _analyze(checkpoint, "--data", str(mix_folder), "--out", str(out), "--limit", "1") == 0
    assert out.stat().st_mode & 0o777 == 0o777 & ~current_umask()
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~current_umask() for p in out.iterdir() if p.is_file())
