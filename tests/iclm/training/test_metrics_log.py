"""The atomic metrics.jsonl writer (iclm.training.metrics_log)."""

from __future__ import annotations

import json

import numpy as np

from iclm.training.metrics_log import MetricsWriter, read_metrics, read_metrics_log


def test_metrics_writer_appends_whole_lines_and_writes_nan_as_null(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    writer.write({"step": 1, "loss": float("nan"), "nested": {"a": np.float32(0.5)}})
    writer.write({"step": 2, "loss": 1.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert json.loads(lines[0])["loss"] is None and json.loads(lines[0])["nested"]["a"] == 0.5


def test_metrics_truncate_after_keeps_earlier_steps_and_skips_a_torn_line(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    for step in (5, 10, 15):
        writer.write({"step": step})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write(
            '{"step": 20, "lo'
        )  # a process killed mid-line (cannot happen with write(), tested anyway)
    writer.truncate_after(10)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [5, 10]


def test_disabled_writer_writes_nothing(tmp_path):
    MetricsWriter(tmp_path / "metrics.jsonl", enabled=False).write({"step": 1})
    assert not (tmp_path / "metrics.jsonl").exists()


def test_records_without_a_whole_number_step_are_skipped_by_line(tmp_path):
    """Every record has a step (the studio's Overview crashed on int("x")): one without is a bad line."""
    path = tmp_path / "metrics.jsonl"
    lines = ['{"step": 2, "loss": 1.0}', '{"step": "x"}', '{"loss": 1.0}', '{"step": true}', '{"step": -1}']
    path.write_text("\n".join(lines) + "\n")
    log = read_metrics_log(path)
    assert log.records == [{"step": 2, "loss": 1.0}] and read_metrics(path) == log.records
    assert [str(e).split(": ", 1)[0] for e in log.skipped] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    assert "step is 'x', expected a whole number" in str(log.skipped[0])
