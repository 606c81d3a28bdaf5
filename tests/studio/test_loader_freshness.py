"""studio/loaders.py caches what it reads per file and modification time: a file that changes while the studio
is open (a training run appending to metrics.jsonl, an evaluation or extension adding a part) is read again.
Streamlit leaves parameters whose names start with "_" out of the cache key, so a stamp named that way would
never invalidate anything: these tests fail with one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from studio import loaders
from studio.checkpoints import CheckpointFiles


def _record(step: int) -> str:
    return json.dumps({"step": step, "loss": 1.0 / step}) + "\n"


def _touch_later(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


def test_a_growing_training_log_is_read_again(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text(_record(1))
    files = CheckpointFiles(
        folder=tmp_path, config={}, metrics=log, results=None, predictions=None, artifact=None,
        training_config=None,
    )  # fmt: skip
    assert [r["step"] for r in loaders.metrics(files)] == [1]
    with log.open("a") as handle:
        handle.write(_record(2))
    _touch_later(log, 5)  # a coarse file system may not have moved the stamp yet
    assert [r["step"] for r in loaders.metrics(files)] == [1, 2]


def test_a_part_added_to_a_checkpoint_is_listed(tmp_path):
    from bench.tiny_checkpoints import build_checkpoints

    folder = build_checkpoints(tmp_path) / "iclm-tiny"
    assert loaders.inspect_checkpoint(str(folder)).parent_predictions is None
    (folder / "eval-parent").mkdir()
    (folder / "eval-parent" / "predictions.jsonl").write_text("")
    _touch_later(folder / "eval-parent", 5)
    listed = loaders.inspect_checkpoint(str(folder)).parent_predictions
    assert listed == folder / "eval-parent" / "predictions.jsonl"
