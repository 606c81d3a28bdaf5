"""A learnable toy training run on the tiny backbone: two datasets and the training config that reads them."""

from __future__ import annotations

import json
import random
from pathlib import Path


def write_toy_data(folder: Path, n: int = 48) -> list[str]:
    """Two learnable toy datasets: the first word of the prompt decides the answer."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    paths = []
    for name, answer in (("alpha", "x"), ("beta", "y")):
        path = folder / f"{name}.jsonl"
        lines = []
        for _ in range(n):
            digits = " ".join(str(rng.randint(0, 9)) for _ in range(4))
            lines.append(
                json.dumps({"prompt": f"{name} {digits} ->", "answer": answer, "choices": ["x", "y"]})
            )
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def toy_config(tmp_path: Path, **training) -> dict:
    return {
        "model": {"variant": "iclm", "num_domains": 2, "backbone": "tiny", "adapters": {"r": 4, "alpha": 8}},
        "data": {"train": write_toy_data(tmp_path / "data"), "probe_size": 16},
        "training": {
            "learning_rate": 5e-3,
            "batch_size": 8,
            "max_steps": 20,
            "log_every": 5,
            "save_every": 10,
            "max_length": 48,
            "output_dir": str(tmp_path / "run"),
            "router_init_examples": 32,
            "tensorboard": False,
        }
        | training,
    }
