"""scripts/results_table.py: the experiment's tables and results.json from evaluated folders."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from iclm.evaluation.report import aggregate, write_outputs
from tests.helpers.paths import ROOT


@pytest.fixture
def script():
    """scripts/results_table.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts/results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluated(folder: Path, flags: list[bool]) -> Path:
    rows = [
        {
            "id": f"acre:{i}",
            "dataset": "acre",
            "split": "iid",
            "gold": "on" if i % 3 else "off",
            "num_choices": 3,
            "readouts": {"model": {"choice_correct": flag, "greedy_correct": flag}},
        }
        for i, flag in enumerate(flags)
    ]
    write_outputs(rows, aggregate(rows, ["model"]), folder / "eval", folder.name)
    return folder


def test_tables_and_json_carry_intervals_baselines_and_paired_tests(script, tmp_path, monkeypatch, capsys):
    a = _evaluated(tmp_path / "iclm", [True] * 9 + [False])
    b = _evaluated(tmp_path / "baseline", [True, False] * 5)
    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", ["results_table.py", str(a), str(b), "--json", str(out)])
    assert script.main() == 0
    printed = capsys.readouterr().out
    assert "| acre | iid | 10 | 33.3 | 60.0 | 90.0 [59.6, 98.2] | 50.0 [23.7, 76.3] |" in printed
    payload = json.loads(out.read_text())
    (pair,) = [r for r in payload["paired"]["iclm vs baseline"] if r["dataset"] == "acre"]
    assert (pair["test"]["only_a"], pair["test"]["only_b"]) == (4, 0)
    assert payload["runs"]["iclm"]["datasets"][0]["intervals"]["choice"]["model"]["n"] == 10


def test_transfer_table_sets_each_ood_set_against_its_familys_iid_set(script, tmp_path, monkeypatch, capsys):
    sets = {  # (dataset, split): outcomes; raven-text has no i.i.d. set here, so no row
        ("acre-text-iid", "iid"): [True] * 56 + [False] * 14,
        ("acre-text-comp", "ood"): [True] * 48 + [False] * 32,
        ("raven-text-distribute_four", "ood"): [True, False],
    }
    rows = [
        {
            "id": f"{dataset}:{i}",
            "dataset": dataset,
            "split": split,
            "gold": "on",
            "num_choices": 3,
            "readouts": {"model": {"choice_correct": flag, "greedy_correct": flag}},
        }
        for (dataset, split), flags in sets.items()
        for i, flag in enumerate(flags)
    ]
    folder = tmp_path / "baseline"
    write_outputs(rows, aggregate(rows, ["model"]), folder / "eval", folder.name)
    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", ["results_table.py", str(folder), "--json", str(out)])
    assert script.main() == 0
    # 48/80 - 56/70 = -0.2: Newcombe's interval mirrored from his published [0.0524, 0.3339]
    assert (
        "| baseline | acre-text-comp | 80.0 (70) | 60.0 (80) | -20.0 [-33.4, -5.2] |"
        in capsys.readouterr().out
    )
    (row,) = json.loads(out.read_text())["transfer"]["baseline"]
    assert row["dataset"] == "acre-text-comp" and row["iid"]["n"] == 70 and row["ood"]["correct"] == 48


def test_a_pair_adds_a_comparison_between_two_other_runs(script, tmp_path, monkeypatch, capsys):
    a = _evaluated(tmp_path / "iclm", [True] * 9 + [False])
    b = _evaluated(tmp_path / "baseline", [True, False] * 5)
    c = _evaluated(tmp_path / "oracle", [True] * 10)
    out = tmp_path / "results.json"
    argv = ["results_table.py", str(a), str(b), str(c), "--json", str(out), "--pair", "oracle", "baseline"]
    monkeypatch.setattr(sys, "argv", argv)
    assert script.main() == 0
    paired = json.loads(out.read_text())["paired"]
    assert sorted(paired) == ["iclm vs baseline", "iclm vs oracle", "oracle vs baseline"]
    (pair,) = [r for r in paired["oracle vs baseline"] if r["dataset"] == "acre"]
    assert (pair["test"]["only_a"], pair["test"]["only_b"]) == (5, 0)
    assert "| oracle vs baseline | acre | 10 | 100.0 | 50.0 | 5 | 0 |" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", [*argv[:-2], "oracle", "nobody"])
    assert script.main() == 2


def test_the_routed_domain_readout_is_each_examples_oracle_module_alone(
    script, tmp_path, monkeypatch, capsys
):
    """claim (c): `routed_domain` answers each example with the domain module of its oracle route; a pair
    may name it (run:readout)."""
    rows = []
    for i in range(8):  # route 0 for acre, 1 for raven; domain_0 right on acre only, domain_1 on raven only
        dataset, route = ("acre", 0) if i < 4 else ("raven", 1)
        readouts = {
            "model": {"choice_correct": False, "greedy_correct": False},
            "domain_0": {"choice_correct": route == 0, "greedy_correct": route == 0},
            "domain_1": {"choice_correct": route == 1, "greedy_correct": route == 1},
        }
        rows.append(
            {"id": f"{dataset}:{i}", "dataset": dataset, "split": "iid", "gold": "on", "num_choices": 3}
            | {"oracle_route": route, "route": route, "readouts": readouts}
        )
    oracle = tmp_path / "oracle"
    write_outputs(rows, aggregate(rows, ["model", "domain_0", "domain_1"]), oracle / "eval", "oracle")
    plain = [  # the same examples; the single LoRA right on every other one
        r | {"readouts": {"model": {"choice_correct": i % 2 == 0, "greedy_correct": i % 2 == 0}}}
        for i, r in enumerate(rows)
    ]
    baseline = tmp_path / "baseline"
    write_outputs(plain, aggregate(plain, ["model"]), baseline / "eval", "baseline")
    out = tmp_path / "results.json"
    argv = ["results_table.py", str(oracle), str(baseline), "--json", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--pair", "oracle:routed_domain", "baseline"])
    assert script.main() == 0
    payload = json.loads(out.read_text())
    cells = {
        e["dataset"]: e["intervals"]["choice"]["routed_domain"] for e in payload["runs"]["oracle"]["datasets"]
    }
    assert cells["acre"]["accuracy"] == cells["raven"]["accuracy"] == 1.0
    (pair,) = [r for r in payload["paired"]["oracle:routed_domain vs baseline"] if r["dataset"] == "acre"]
    assert (pair["test"]["only_a"], pair["test"]["only_b"]) == (2, 0)
    monkeypatch.setattr(sys, "argv", [*argv, "--pair", "baseline:routed_domain", "oracle"])
    assert script.main() == 2  # the single LoRA has no such readout
