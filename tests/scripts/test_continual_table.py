"""scripts/continual_table.py: continual learning's tables and JSON from an extension, its parent's eval/ and
the parent's scores on the new task kept in the extension's eval-parent/."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from iclm.evaluation.report import aggregate, write_outputs
from iclm.extension import Lineage, write_lineage
from tests.helpers.paths import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("continual_table", ROOT / "scripts/continual_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _write_eval(folder: Path, sets: dict[str, list[bool]]) -> None:
    rows = [
        {
            "id": f"{dataset}:{i}",
            "dataset": dataset,
            "split": "iid",
            "gold": "on",
            "num_choices": 3,
            "readouts": {"model": {"choice_correct": flag, "greedy_correct": flag}},
        }
        for dataset, flags in sets.items()
        for i, flag in enumerate(flags)
    ]
    write_outputs(rows, aggregate(rows, ["model"]), folder, folder.parent.name)


def _checkpoint(folder: Path, variant: str = "iclm") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"variant": variant}))
    return folder


def test_forgetting_new_task_gain_and_routing_from_an_extension(tmp_path, capsys):
    parent = _checkpoint(tmp_path / "checkpoints" / "iclm")
    child = _checkpoint(tmp_path / "checkpoints" / "iclm-pvr")
    _write_eval(parent / "eval", {"acre": [True] * 8 + [False] * 2, "raven": [True] * 5 + [False] * 5})
    _write_eval(child / "eval-parent", {"pvr": [False] * 40})
    _write_eval(
        child / "eval",
        {
            "acre": [True] * 4 + [False] * 6,
            "raven": [True] * 5 + [False] * 5,
            "pvr": [True] * 36 + [False] * 4,
        },
    )
    frozen = ("domain_0", "domain_1", "invariant")
    lineage = Lineage(
        parent="/moved/away/iclm", added_domain=2, datasets=("pvr",), frozen=frozen,
        plan={"invariant": "frozen"}, steps=200,
    )  # fmt: skip
    write_lineage(child, lineage)
    records = [
        {"step": 100, "probe_routing_by_dataset": {"pvr": {"domain_2": 0.5, "domain_0": 0.5}}},
        {"step": 200, "probe_routing_by_dataset": {"pvr": {"domain_2": 1.0}, "acre": {"domain_0": 1.0}}},
    ]
    (child / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "continual.json"
    assert _script().main([str(child), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (run,) = json.loads(out.read_text())
    assert run["parent"] == "iclm" and run["how"].startswith("grown by domain_2")
    pooled = run["pooled_forgetting"]
    assert (pooled["n"], pooled["datasets"]) == (20, 2)
    assert pooled["forgetting"] == pytest.approx(0.2)  # 13 -> 9 of 20 old examples right
    by_set = {d["dataset"]: d for d in run["datasets"]}
    assert by_set["pvr"]["role"] == "new" and (by_set["pvr"]["before"], by_set["pvr"]["after"]) == (0.0, 0.9)
    assert by_set["acre"]["change"] == pytest.approx(-0.4) and by_set["raven"]["change"] == 0.0
    assert run["routing_at_last_probe"]["pvr"] == {"domain_2": 1.0}
    assert run["invariant_drift"] is None  # no analysis artifacts here
    assert by_set["pvr"]["McNemar p"] == pytest.approx(2 * 0.5**36, rel=1e-9)  # not rounded to 0 in JSON
    assert "pvr: 0.0 → 90.0 [76.9, 96.0] (n = 40, choice)" in printed
    assert "| `iclm-pvr` | pvr | domain_2 1.00 |" in printed


def test_an_extension_without_its_parent_is_one_clear_error(tmp_path):
    child = _checkpoint(tmp_path / "iclm-pvr")
    write_lineage(
        child, Lineage(parent="/gone/iclm", added_domain=None, datasets=("pvr",), frozen=(), plan={}, steps=1)
    )
    with pytest.raises(SystemExit, match="parent /gone/iclm is not found"):
        _script().main([str(child)])


def test_a_baseline_extension_has_no_routing_rows(tmp_path, capsys):
    parent = _checkpoint(tmp_path / "baseline", variant="baseline")
    child = _checkpoint(tmp_path / "baseline-pvr", variant="baseline")
    _write_eval(parent / "eval", {"acre": [True, False]})
    _write_eval(child / "eval", {"acre": [False, False]})
    write_lineage(
        child, Lineage(parent=str(parent), added_domain=None, datasets=("pvr",), frozen=(), plan={}, steps=1)
    )
    record = {"step": 1, "probe_routing_by_dataset": {"acre": {"domain_0": 1.0}}}
    (child / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    assert _script().main([str(child)]) == 0
    out = capsys.readouterr().out
    assert "Routing" not in out and "| `baseline-pvr` | fine-tuned as it is" in out
