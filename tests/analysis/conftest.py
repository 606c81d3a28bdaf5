"""Fixtures shared by the analysis tests: small task files and a saved tiny ICLM checkpoint."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """Two small task files: ACRE (choices: choice scoring) and PVR (no choices: greedy)."""
    from iclm.data.generate import task_spec, write_task_file

    root = tmp_path_factory.mktemp("data")
    files = []
    for task, split in (("acre", "iid"), ("pvr", "holdout")):
        spec = task_spec(task=task, n=5, seed=1, render="symbolic", split=split, part="test")
        files.append(str(write_task_file(spec, root / f"{spec.dataset}.jsonl")))
    return files


@pytest.fixture
def checkpoint(tmp_path, make_iclm):
    model = make_iclm(perturb=True, num_domains=2)
    folder = tmp_path / "ckpt"
    model.save_pretrained(str(folder))
    return folder
