"""Checkpoint folders of a run (iclm/training/checkpoints.py): atomic saves, resume from the newest complete
one, and real SIGKILLs at several points (inside a save too) that still end in the uninterrupted weights."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

from iclm.training import checkpoints
from iclm.training.config import config_from_dict
from iclm.training.metrics_log import read_metrics
from iclm.training.run import run_training
from tests.helpers.paths import ROOT
from tests.helpers.toy_training import toy_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real 4-step tiny run with complete checkpoint-2 and checkpoint-4."""
    root = tmp_path_factory.mktemp("run")
    raw = toy_config(root, max_steps=4, log_every=2, save_every=2)
    run_training(config_from_dict(raw))
    return raw, Path(raw["training"]["output_dir"])


def _copy_run(finished_run, tmp_path) -> tuple[dict, Path]:
    raw, run = finished_run
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return raw | {"training": raw["training"] | {"output_dir": str(target)}}, target


def _missing_file(folder: Path) -> None:
    (folder / "optimizer.safetensors").unlink()


def _truncated(folder: Path) -> None:
    path = folder / "adapters.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _hidden_temp_file(folder: Path) -> None:  # `_atomic_write` killed between write and rename
    (folder / ".router.safetensors-k2j3h4").write_bytes(b"partial")


def _tmp_suffix_file(folder: Path) -> None:  # state_io's writer killed between write and rename
    (folder / "trainable_state.tmp").write_bytes(b"partial")


def _tokenizer_temp_folder(folder: Path) -> None:  # save_pretrained killed while saving the tokenizer
    (folder / "tmpa1b2c3").mkdir()


def _legacy_mid_save(folder: Path) -> None:
    """What the old non-atomic save left when killed in the middle: no manifest, no trainer_state.json,
    no RNG files, a half-written router temp file."""
    for name in (checkpoints.MANIFEST, "trainer_state.json", "rng_state_0.json", "rng_state_0.safetensors"):
        (folder / name).unlink()
    (folder / ".router.safetensors-x8y9z0").write_bytes(b"partial")


def _no_manifest_no_state(folder: Path) -> None:
    (folder / checkpoints.MANIFEST).unlink()
    (folder / "trainer_state.json").unlink()


def _manifest_of_another_step(folder: Path) -> None:
    path = folder / checkpoints.MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"step": 2}))


def _unreadable_manifest(folder: Path) -> None:
    (folder / checkpoints.MANIFEST).write_text('{"files": {"config.js')


INCOMPLETE = [
    _missing_file,
    _truncated,
    _hidden_temp_file,
    _tmp_suffix_file,
    _tokenizer_temp_folder,
    _legacy_mid_save,
    _no_manifest_no_state,
    _manifest_of_another_step,
    _unreadable_manifest,
]


def test_a_save_leaves_a_manifest_and_no_temp_folder(finished_run):
    _, run = finished_run
    folder = run / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    manifest = json.loads((folder / "checkpoint-4" / checkpoints.MANIFEST).read_text())
    assert manifest["step"] == 4
    listed = set(manifest["files"])
    assert {"trainer_state.json", "trainable_state.safetensors", "optimizer.safetensors"} <= listed
    assert all(checkpoints.incomplete_reason(p) is None for p in folder.iterdir())


@pytest.mark.parametrize("damage", INCOMPLETE, ids=lambda f: f.__name__.strip("_"))
def test_the_newest_complete_checkpoint_is_picked_and_the_skipped_one_logged(
    finished_run, tmp_path, damage, caplog
):
    _, run = _copy_run(finished_run, tmp_path)
    damage(run / "checkpoints" / "checkpoint-4")
    with caplog.at_level(logging.WARNING, logger="iclm.training.checkpoints"):
        found = checkpoints.latest_complete(run / "checkpoints")
    assert found == run / "checkpoints" / "checkpoint-2"
    assert "skipping incomplete checkpoint" in caplog.text and "checkpoint-4" in caplog.text


def test_a_checkpoint_written_before_manifests_existed_is_complete(finished_run, tmp_path):
    _, run = _copy_run(finished_run, tmp_path)
    (run / "checkpoints" / "checkpoint-4" / checkpoints.MANIFEST).unlink()
    assert checkpoints.latest_complete(run / "checkpoints") == run / "checkpoints" / "checkpoint-4"


def test_resume_skips_a_half_written_checkpoint_and_retrains_to_the_same_weights(
    finished_run, tmp_path, caplog
):
    raw, run = _copy_run(finished_run, tmp_path)
    reference = load_file(run / "adapters.safetensors")
    _legacy_mid_save(run / "checkpoints" / "checkpoint-4")
    (run / "checkpoints" / ".tmp-checkpoint-4").mkdir()  # a staging folder left by a kill
    with caplog.at_level(logging.INFO):
        result = run_training(config_from_dict(raw))
    assert result.resumed_from == str(run / "checkpoints" / "checkpoint-2")
    assert result.global_step == 4
    assert "skipping incomplete checkpoint" in caplog.text
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert checkpoints.incomplete_reason(run / "checkpoints" / "checkpoint-4") is None  # replaced whole
    for name, tensor in load_file(run / "adapters.safetensors").items():
        torch.testing.assert_close(tensor, reference[name], rtol=1e-5, atol=1e-7)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [2, 4]


def test_rotation_keeps_the_newest_complete_checkpoints(finished_run, tmp_path):
    _, run = _copy_run(finished_run, tmp_path)
    folder = run / "checkpoints"
    for step in (6, 8):
        shutil.copytree(folder / "checkpoint-4", folder / f"checkpoint-{step}")
        path = folder / f"checkpoint-{step}" / checkpoints.MANIFEST
        path.write_text(json.dumps(json.loads(path.read_text()) | {"step": step}))
    _missing_file(folder / "checkpoint-8")  # incomplete: does not count towards keep_last
    checkpoints.rotate(folder, keep=2)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-4", "checkpoint-6", "checkpoint-8"]


_CHILD = """
import json, os, signal, sys
sys.path.insert(0, {repo!r})
import torch
torch.set_num_threads(1)
from transformers import TrainerCallback
from iclm.training import state_io
from iclm.training.config import config_from_dict
from iclm.training.run import run_training

raw, where, step = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
callbacks = []
if where == "save":  # inside the save of checkpoint-<step>: model and optimizer written, RNG and state not
    real_save_rng = state_io.save_rng

    def save_rng(folder, rank):
        if f"checkpoint-{{step}}" in str(folder):
            os.kill(os.getpid(), signal.SIGKILL)
        real_save_rng(folder, rank)

    state_io.save_rng = save_rng
elif where == "step":  # between two optimizer steps

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks.append(Kill())
run_training(config_from_dict(raw), callbacks=callbacks)
"""


def _killed_run(script: Path, raw: dict, where: str, step: int) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(raw), where, str(step)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def test_sigkill_anywhere_then_rerun_gives_the_uninterrupted_weights(tmp_path, caplog):
    overrides = {"max_steps": 8, "log_every": 2, "save_every": 2}
    whole = run_training(config_from_dict(toy_config(tmp_path / "a", **overrides)))
    raw = toy_config(tmp_path / "b", **overrides)
    run = Path(raw["training"]["output_dir"])
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(repo=str(ROOT)))

    _killed_run(script, raw, "save", 4)  # inside the save of checkpoint-4
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [".tmp-checkpoint-4", "checkpoint-2"]
    _killed_run(script, raw, "step", 7)  # resumed from checkpoint-2, killed between two steps
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-4", "checkpoint-6"]
    resumed = run_training(config_from_dict(raw))
    assert resumed.resumed_from == str(run / "checkpoints" / "checkpoint-6")
    assert resumed.global_step == 8

    expected = load_file(whole.run_dir / "adapters.safetensors")
    for name, tensor in load_file(run / "adapters.safetensors").items():
        torch.testing.assert_close(tensor, expected[name], rtol=1e-5, atol=1e-7)
    a, b = read_metrics(whole.run_dir / "metrics.jsonl"), read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [2, 4, 6, 8]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]

    final = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    with caplog.at_level(logging.INFO, logger="iclm.training.run"):
        again = run_training(config_from_dict(raw))  # a finished run trains nothing
    assert again.global_step == 8 and "already finished" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()} == final
    assert read_metrics(run / "metrics.jsonl") == b


def test_resume_refuses_a_nan_weight_naming_file_and_tensor(finished_run, tmp_path):
    from safetensors.torch import save_file

    from iclm.checkpoint import CheckpointError

    raw, run = _copy_run(finished_run, tmp_path)
    path = run / "checkpoints" / "checkpoint-4" / "trainable_state.safetensors"
    tensors = load_file(path)
    key = sorted(k for k in tensors if "lora_A" in k)[0]
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, path)
    raw = raw | {"training": raw["training"] | {"max_steps": 6}}
    expected = re.escape(f"trainable_state.safetensors: tensor '{key}' has ") + r"\d+ non-finite"
    with pytest.raises(CheckpointError, match=expected):
        run_training(config_from_dict(raw))


def test_a_tied_output_head_is_not_saved_as_trainable(make_iclm):
    """SmolLM2 ties lm_head to embed_tokens: the state dict lists the frozen matrix under a second name,
    which a name-based filter saved in every checkpoint (113 MB each). Only trainable tensors go."""
    from iclm.training import state_io

    model = make_iclm(num_domains=2)
    model.base.lm_head.weight = model.base.model.embed_tokens.weight  # tie, as SmolLM2's config does
    assert "base.lm_head.weight" in model.state_dict()
    saved = state_io.trainable_state(model)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable <= set(saved)
    assert not [name for name in saved if "lm_head" in name or "embed_tokens" in name]
    frozen_bytes = sum(t.numel() for n, t in saved.items() if n not in trainable)
    assert frozen_bytes < 0.01 * sum(t.numel() for t in saved.values()), frozen_bytes


class _SignalAt(transformers.TrainerCallback):
    """Sends this process `signum` during step `step` (as `kill -TERM` from a shell would)."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_the_current_step_and_a_rerun_resumes_to_the_same_weights(tmp_path, signum):
    """save_every 10, signal during step 3: checkpoint-3 is written and complete, no final model is
    written, the handler is restored, and the rerun ends where an uninterrupted run does."""
    raw = toy_config(tmp_path, max_steps=6, log_every=2, save_every=10)
    previous = signal.getsignal(signum)
    stopped = run_training(config_from_dict(raw), callbacks=[_SignalAt(3, signum)])
    assert stopped.stopped and stopped.global_step == 3
    assert signal.getsignal(signum) == previous
    run = stopped.run_dir
    assert checkpoints.latest_complete(run / "checkpoints").name == "checkpoint-3"
    assert not (run / "adapters.safetensors").exists()  # no "final" model of a run that did not finish
    resumed = run_training(config_from_dict(raw))
    assert not resumed.stopped and resumed.resumed_from.endswith("checkpoint-3") and resumed.global_step == 6
    straight_raw = toy_config(tmp_path / "b", max_steps=6, log_every=2, save_every=10)
    straight = run_training(config_from_dict(straight_raw))
    ours, theirs = (load_file(r.run_dir / "adapters.safetensors") for r in (resumed, straight))
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name], tensor)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [2, 4, 6]


def test_checkpoint_files_get_a_plain_open_mode(finished_run):
    """safetensors' save_file and mkstemp leave 0600: a studio run by another account could not read."""
    from iclm.file_modes import current_umask

    _, run_dir = finished_run
    files = [p for p in run_dir.rglob("*") if p.is_file() and "checkpoint-" in str(p)]
    assert files and all(p.stat().st_mode & 0o777 == 0o666 & ~current_umask() for p in files)
