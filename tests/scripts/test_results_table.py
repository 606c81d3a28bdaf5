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
