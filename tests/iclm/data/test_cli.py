"""`python -m iclm data make|mix|check` end to end, plus the mixture config and manifest."""

from __future__ import annotations

import json

import pytest

from iclm.__main__ import main
from iclm.data.mix import MixConfig, load_mix, read_manifest
from tests.helpers.paths import LAR, ROOT

needs_fixtures = pytest.mark.skipif(not LAR.is_dir(), reason=f"benchmark samples not found at {LAR}")


def test_make_writes_a_loadable_file(tmp_path):
    out = tmp_path / "acre-text-comp-train.jsonl"
    args = ["data", "make", "--task", "acre", "--render", "text", "--split", "comp", "--part", "train"]
    assert main(args + ["--n", "40", "--seed", "0", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 40
    out2 = tmp_path / "again.jsonl"
    assert main(args + ["--n", "40", "--seed", "0", "-o", str(out2)]) == 0
    assert out.read_bytes() == out2.read_bytes()


@pytest.mark.parametrize(
    "extra",
    [
        ["--task", "raven", "--config", "distribute_four"],
        ["--task", "pvr", "--render", "symbolic", "--complexity", "2"],
    ],
)
def test_make_other_tasks(tmp_path, extra):
    out = tmp_path / "f.jsonl"
    assert main(["data", "make", *extra, "--n", "5", "-o", str(out)]) == 0
    assert all("input" in json.loads(line) for line in out.read_text().splitlines())


def test_make_with_invalid_option_fails_cleanly(tmp_path, capsys):
    assert (
        main(["data", "make", "--task", "acre", "--split", "bogus", "--n", "5", "-o", str(tmp_path / "x")])
        == 2
    )
    assert "split must be one of" in capsys.readouterr().err


def test_mix_builds_files_and_manifest(tmp_path):
    assert main(["data", "mix", str(ROOT / "configs" / "data-mix-cpu.yaml"), "-o", str(tmp_path)]) == 0
    entries = read_manifest(tmp_path)
    assert len(entries) == 16 and all((tmp_path / e.file).is_file() for e in entries)
    train = {e.dataset for e in entries if e.role == "train"}
    assert train == {
        "acre-text-iid",
        "acre-symbolic-iid",
        "raven-text-center_single",
        "raven-symbolic-center_single",
    }
    ood = {e.dataset for e in entries if e.split == "ood"}
    assert {"acre-text-comp", "acre-symbolic-sys", "raven-text-distribute_four"} <= ood
    assert all(e.role == "test" for e in entries if e.split == "ood")
    loaded = load_mix(tmp_path, "train")
    assert {ex.domain for r in loaded.values() for ex in r.examples} == {
        "acre-text", "acre-symbolic", "raven-text", "raven-symbolic"
    }  # fmt: skip


def test_paper_mix_config_parses():
    config = MixConfig.from_yaml(ROOT / "configs" / "data-mix.yaml")
    assert config.n_train > config.n_test and set(config.renders) == {"text", "symbolic"}


def test_mix_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("seed: 0\nn_trian: 5\n")
    with pytest.raises(ValueError, match="unknown keys \\['n_trian'\\]"):
        MixConfig.from_yaml(path)


def test_mix_config_rejects_bad_values():
    with pytest.raises(ValueError, match="renders"):
        MixConfig(renders=("pictures",))
    with pytest.raises(ValueError, match="n_test"):
        MixConfig(n_test=0)


@needs_fixtures
def test_check_reports_stats_and_flags_public_raven_shortcut(capsys):
    files = [
        LAR / "RAVEN" / "text" / "center_single_test.jsonl",
        LAR / "ACRE" / "symbolic" / "IID" / "test.jsonl",
    ]
    assert main(["data", "check", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert (
        "examples=24" in out
        and "odd-one-out accuracy: 100.0%" in out
        and "solvable without the context" in out
    )
    assert "majority-label accuracy: 45.8%" in out and "labels: {'0': 5, '1': 11, '2': 8}" in out


def test_check_reports_bad_lines_and_unreadable_files(tmp_path, capsys):
    good = tmp_path / "mixed.jsonl"
    good.write_text('{"prompt": "p", "answer": "a"}\nnot json\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["data", "check", str(good), str(empty)]) == 1
    out = capsys.readouterr().out
    assert "bad_lines=1" in out and "mixed.jsonl:2" in out and "empty.jsonl: cannot read" in out
