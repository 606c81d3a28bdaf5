"""scripts/experiment_state.py: a run's newest checkpoint saved with big files in parts, restored whole."""

from __future__ import annotations

import sys

from iclm.training import checkpoints
from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import experiment_state  # noqa: E402


def test_save_splits_big_files_and_restore_gives_the_same_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    staged = checkpoints.staging_folder(run / "checkpoints", 7) / "checkpoint-7"
    staged.mkdir(parents=True)
    payload = bytes(range(256)) * 1000  # 256,000 bytes: three parts at 100,000
    (staged / "optimizer.safetensors").write_bytes(payload)
    (staged / "config.json").write_text("{}")
    checkpoints.commit(staged, run / "checkpoints" / "checkpoint-7")  # complete: manifest of every file
    (run / "metrics.jsonl").write_text('{"step": 7}\n')
    monkeypatch.setattr(experiment_state, "PART_BYTES", 100_000)
    state = tmp_path / "state"
    experiment_state.save(run, state)
    kept = sorted(p.name for p in (state / "checkpoint-7").iterdir())
    assert "optimizer.safetensors" not in kept and sum(".part" in n for n in kept) == 3
    assert "already holds step 7" in experiment_state.save(run, state)
    fresh = tmp_path / "fresh"
    assert "restored checkpoint-7" in experiment_state.restore(state, fresh)
    restored = fresh / "checkpoints" / "checkpoint-7"
    assert (restored / "optimizer.safetensors").read_bytes() == payload
    assert checkpoints.incomplete_reason(restored) is None and checkpoints.latest_complete(
        fresh / "checkpoints"
    )


def test_a_newer_save_replaces_the_checkpoint_and_keeps_the_evaluation_journal(tmp_path):
    run, state = tmp_path / "run", tmp_path / "state"
    for step in (7, 9):
        staged = checkpoints.staging_folder(run / "checkpoints", step) / f"checkpoint-{step}"
        staged.mkdir(parents=True)
        (staged / "config.json").write_text(f'{{"step": {step}}}')
        checkpoints.commit(staged, run / "checkpoints" / f"checkpoint-{step}")
        (run / "metrics.jsonl").write_text(f'{{"step": {step}}}\n')
        experiment_state.save(run, state)
        if step == 7:
            journal = state / "eval-journal.jsonl"
            journal.write_text('{"header": 1}\n')
            handle = journal.open("a")  # an evaluation still appending to it
    handle.write('{"batch": 0}\n')
    handle.close()
    assert sorted(p.name for p in state.iterdir()) == ["checkpoint-9", "eval-journal.jsonl", "metrics.jsonl"]
    assert journal.read_text() == '{"header": 1}\n{"batch": 0}\n'  # the same file, not a copy left behind
    assert (state / "metrics.jsonl").read_text() == '{"step": 9}\n'
