"""scripts/results_figures.py: the experiment's figures, exported with the studio's figure set."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

from bench.tiny_checkpoints import build_checkpoints
from tests.helpers.paths import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("results_figures", ROOT / "scripts/results_figures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.mark.slow
def test_every_checkpoint_gets_its_figures_with_data_and_manifest(tmp_path_factory, tmp_path):
    checkpoints = build_checkpoints(tmp_path_factory.mktemp("figures"))
    iclm, baseline = checkpoints / "iclm-tiny", checkpoints / "baseline-tiny"
    out = tmp_path / "figures"
    assert _script().main([str(iclm), str(baseline), "--out", str(out), "--formats", "csv", "json"]) == 0
    written = json.loads((out / "iclm-tiny" / "manifest.json").read_text())
    figures = set(written["figures"])
    # the four figures docs/results.md needs: accuracy per split and readout, router clusters, MI and CKA
    # over training, module similarity at inference
    assert {"accuracy_choice", "projection_pca_router_projected_dataset", "contingency_all"} <= figures
    assert {"dynamics_mi_ksg", "dynamics_cka", "similarity_cka"} <= figures
    accuracy = pd.read_csv(out / "iclm-tiny" / "accuracy_choice.csv")
    assert "baseline-tiny" in set(accuracy["module"])  # the other run's model beside this one's readouts
    for name in figures:
        records = json.loads((out / "iclm-tiny" / f"{name}.json").read_text())
        assert len(records) == len(pd.read_csv(out / "iclm-tiny" / f"{name}.csv", keep_default_na=False))
    baseline_manifest = json.loads((out / "baseline-tiny" / "manifest.json").read_text())
    assert "similarity_cka" not in baseline_manifest["figures"]


def test_a_folder_without_anything_to_draw_is_a_one_line_error(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert _script().main([str(folder), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(folder) in error and "config.json" in error
    assert not (tmp_path / "out").exists()
