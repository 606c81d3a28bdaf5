"""configs/experiment/: every run loads, and the runs differ only in the model they train (docs/results.md:
"the same data, steps, learning rate and seed as every run")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from iclm.training.config import load_train_config

ROOT = Path(__file__).resolve().parents[2]
RUNS = sorted(p for p in (ROOT / "configs" / "experiment").glob("*.yaml") if not p.name.startswith("data-"))


def test_the_experiment_has_its_runs():
    names = {p.stem for p in RUNS}
    assert {"iclm-k2", "no-invariant-k2", "baseline", "oracle-k4", "iclm-k2-kmeans"} <= names


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_each_run_trains_what_every_run_trains_into_its_own_folder(path):
    reference = load_train_config(ROOT / "configs" / "experiment" / "iclm-k2.yaml")
    config = load_train_config(path)
    assert config.data == reference.data
    # how often a run logs is not what it trains (runs started after iclm-k2 and baseline log every 5 steps)
    shared = {f.name for f in dataclasses.fields(config.training)} - {"output_dir", "log_every"}
    for name in sorted(shared):
        assert getattr(config.training, name) == getattr(reference.training, name), name
    assert config.training.output_dir == f"runs/experiment/{path.stem}"
    assert config.model.backbone == reference.model.backbone
    assert config.model.adapters == reference.model.adapters


def test_the_kmeans_run_differs_from_iclm_k2_only_in_its_router_kind():
    folder = ROOT / "configs" / "experiment"
    vq, kmeans = load_train_config(folder / "iclm-k2.yaml"), load_train_config(folder / "iclm-k2-kmeans.yaml")
    assert (vq.model.router.kind, kmeans.model.router.kind) == ("vq", "kmeans")
    assert dataclasses.replace(kmeans.model.router, kind="vq") == vq.model.router
    assert dataclasses.replace(kmeans.model, router=vq.model.router) == vq.model
