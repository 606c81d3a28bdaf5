"""scripts/results_table.py: the experiment's tables and results.json from evaluated folders."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from iclm.evaluation.report import aggregate, write_outputs
from tests.helpers.paths import ROOT


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


def test_tables_and_json_carry_intervals_baselines_and_paired_tests(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts/results_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
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


def test_transfer_table_sets_each_ood_set_against_its_familys_iid_set(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts/results_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
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
