"""A real, tiny checkpoint folder for the studio tests and `bench/app_latency.py --build-tiny`: engine-built,
trained, evaluated and analysed.

Built once per process (the studio's AppTests, tests/e2e/test_browser.py and tests/analysis/test_collect.py
use it) from the `tiny` backbone with the real trainer, evaluator and analysis collector; nothing is mocked.
It lives in bench/ so the benchmark and the tests share it and bench/ imports nothing from tests/.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

_BUILT: dict[str, Path] = {}  # "root" -> the checkpoints folder built first in this process

TRAIN_SPECS = (  # (task, render, split) of the training files
    ("acre", "symbolic", "iid"),
    ("pvr", "symbolic", "iid"),
)
TEST_SPECS = (
    ("acre", "symbolic", "iid"),
    ("acre", "symbolic", "comp"),
    ("pvr", "symbolic", "iid"),
    ("pvr", "symbolic", "holdout"),
)


def _write_data(root: Path) -> tuple[list[str], list[str]]:
    from iclm.data.generate import task_spec, write_task_file

    train, test = [], []
    for part, specs, n, out in (("train", TRAIN_SPECS, 32, train), ("test", TEST_SPECS, 8, test)):
        for task, render, split in specs:
            spec = task_spec(task=task, n=n, seed=1, render=render, split=split, part=part)
            path = root / "data" / f"{spec.dataset}-{part}.jsonl"
            write_task_file(spec, path)
            out.append(str(path))
    return train, test


def _train(root: Path, name: str, variant: str, train: list[str], test: list[str]) -> Path:
    from iclm.training.config import config_from_dict
    from iclm.training.run import run_training

    run_dir = root / "checkpoints" / name
    config = config_from_dict(
        {
            "model": {"variant": variant, "num_domains": 2, "backbone": "tiny"},
            "data": {
                "train": train,
                "eval": [
                    {"path": p, "split": "ood" if ("comp" in p or "holdout" in p) else "iid"} for p in test
                ],
                "probe_size": 16,
            },
            "training": {
                "batch_size": 8,
                "max_steps": 6,
                "log_every": 2,
                "save_every": 100,
                "max_length": 192,
                "output_dir": str(run_dir),
                "router_init_examples": 32,
                "tensorboard": False,
            },
        }
    )
    run_training(config)
    return run_dir


def _evaluate_and_analyze(run_dir: Path, test: list[str]) -> None:
    from analysis.collect import collect
    from iclm.data import load_examples
    from iclm.evaluation.run import evaluate, write_evaluation
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_pretrained(str(run_dir))
    examples = [e for path in test for e in load_examples(path).examples]
    evaluation = evaluate(model, model.tokenizer, examples, batch_size=16, max_length=192)  # as trained
    write_evaluation(evaluation, run_dir / "eval", name=run_dir.name)
    collect(str(run_dir), test, out_dir=run_dir / "analysis", forced_sample=8, progress=False)


def build_checkpoints(root: Path) -> Path:
    """Write data, an `iclm-tiny` and a `baseline-tiny` checkpoint under `root/checkpoints`; return that.
    Built once per process: later calls return the first folder (whatever `root` they pass)."""
    key = "root"
    if key in _BUILT:
        return _BUILT[key]
    import torch

    torch.set_num_threads(1)
    train, test = _write_data(root)
    for name, variant in (("iclm-tiny", "iclm"), ("baseline-tiny", "baseline")):
        run_dir = _train(root, name, variant, train, test)
        _evaluate_and_analyze(run_dir, test)
    _BUILT[key] = root / "checkpoints"
    return _BUILT[key]
