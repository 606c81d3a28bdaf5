"""Two processes through `accelerate launch` on CPU (torchrun + gloo) with the tiny backbone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from iclm.training import checkpoints
from iclm.training.metrics_log import read_metrics
from tests.helpers.paths import ROOT
from tests.helpers.toy_training import toy_config


def test_two_process_run_completes_and_only_rank_zero_writes(tmp_path):
    raw = toy_config(tmp_path, max_steps=4, log_every=2, save_every=2)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(raw))
    accelerate = Path(sys.executable).parent / "accelerate"
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "iclm", "train", str(path)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("training finished at step 4") == 2  # both ranks ran
    run = tmp_path / "run"
    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4]  # one writer: no duplicated lines
    assert records[0]["epoch"] == 2 * 2 * 8 / 96  # world size 2: 2 steps x 2 ranks x batch 8 of 96 examples
    assert (run / "config.json").is_file() and (run / "checkpoints" / "checkpoint-4").is_dir()
    # both ranks wrote their RNG state into the temp folder before rank 0 committed it
    assert checkpoints.incomplete_reason(run / "checkpoints" / "checkpoint-4") is None
    manifest = json.loads((run / "checkpoints" / "checkpoint-4" / checkpoints.MANIFEST).read_text())
    assert {"rng_state_0.json", "rng_state_1.json"} <= set(manifest["files"])
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
