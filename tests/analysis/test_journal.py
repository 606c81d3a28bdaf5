"""analysis.journal: a collection stopped part-way continues from its journal folder and writes the same
artifact as one run straight through; a journal of another collection is refused; a cut line re-runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import analysis.collect as collect_module
from analysis.collect import collect
from analysis.journal import INDEX, JournalMismatch

SETTINGS = {"forced_sample": 3, "batch_size": 2, "progress": False}
REAL_BATCH_PASS = collect_module._batch_pass


class Stop(Exception):
    """The run killed part-way."""


def counting_batches(monkeypatch, stop_after: int | None = None) -> list[int]:
    """Count the real batch passes; raise Stop after `stop_after` of them."""
    calls: list[int] = []
    real = REAL_BATCH_PASS

    def batch_pass(*args, **kwargs):
        if stop_after is not None and len(calls) == stop_after:
            raise Stop
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(collect_module, "_batch_pass", batch_pass)
    return calls


def assert_same_artifact(a, b) -> None:
    pd.testing.assert_frame_equal(a.examples, b.examples)
    assert sorted(a.states) == sorted(b.states)
    for name in a.states:
        np.testing.assert_array_equal(a.states[name], b.states[name], err_msg=name)


def test_a_stopped_collection_resumes_from_its_journal_to_the_same_artifact(
    checkpoint, data_files, tmp_path, monkeypatch
):
    straight = collect(str(checkpoint), data_files, tmp_path / "straight", **SETTINGS)
    journal = tmp_path / "journal"
    counting_batches(monkeypatch, stop_after=2)
    with pytest.raises(Stop):
        collect(str(checkpoint), data_files, tmp_path / "resumed", journal=journal, **SETTINGS)
    assert not (tmp_path / "resumed").exists()  # nothing half-written where the artifact goes
    assert len((journal / INDEX).read_text().splitlines()) == 1 + 2  # header + the two finished batches
    calls = counting_batches(monkeypatch)
    resumed = collect(str(checkpoint), data_files, tmp_path / "resumed", journal=journal, **SETTINGS)
    total = len((journal / INDEX).read_text().splitlines()) - 1
    assert len(calls) == total - 2 > 0  # only the batches the first run had not finished
    assert_same_artifact(resumed, straight)
    # a journal holding every batch runs no batch at all
    calls = counting_batches(monkeypatch)
    again = collect(str(checkpoint), data_files, tmp_path / "again", journal=journal, **SETTINGS)
    assert calls == [] and len(again.examples) == len(straight.examples)
    assert_same_artifact(again, straight)


def test_a_journal_of_another_collection_is_refused_naming_the_field(checkpoint, data_files, tmp_path):
    journal = tmp_path / "journal"
    collect(str(checkpoint), data_files, tmp_path / "a", journal=journal, **SETTINGS)
    with pytest.raises(JournalMismatch, match="forced_sample: 3 there, 2 now"):
        collect(
            str(checkpoint), data_files, tmp_path / "b", journal=journal, **(SETTINGS | {"forced_sample": 2})
        )
    with pytest.raises(JournalMismatch, match="examples"):
        collect(str(checkpoint), data_files[:1], tmp_path / "c", journal=journal, **SETTINGS)


def test_a_cut_last_line_is_dropped_and_its_batch_runs_again(
    checkpoint, data_files, tmp_path, monkeypatch, caplog
):
    journal = tmp_path / "journal"
    straight = collect(str(checkpoint), data_files, tmp_path / "a", journal=journal, **SETTINGS)
    lines = (journal / INDEX).read_text().splitlines(keepends=True)
    (journal / INDEX).write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
    calls = counting_batches(monkeypatch)
    with caplog.at_level("WARNING"):
        resumed = collect(str(checkpoint), data_files, tmp_path / "b", journal=journal, **SETTINGS)
    assert "the last line was cut" in caplog.text
    assert len(calls) == 1
    assert_same_artifact(resumed, straight)
    last = json.loads((journal / INDEX).read_text().splitlines()[-1])
    assert last["kind"] == "batch" and (journal / last["tensors"]).is_file()


def test_the_analyze_cli_takes_a_journal(checkpoint, data_files, tmp_path):
    from iclm.__main__ import main

    journal, out = tmp_path / "journal", tmp_path / "art"
    args = ["analyze", str(checkpoint), "--data", *data_files, "--out", str(out), "--journal", str(journal)]
    assert main([*args, "--forced-sample", "2", "--batch-size", "2", "--no-progress"]) == 0
    header = json.loads((journal / INDEX).read_text().splitlines()[0])
    assert header["format"] == "iclm-analysis-journal/1" and header["forced_sample"] == 2
    assert (journal / "batch-000000.safetensors").is_file()
