"""Copy a finished training run into a shipped checkpoint folder, weights stored in bfloat16.

    python scripts/ship_checkpoint.py runs/ship/iclm-k2 checkpoints/iclm-k2

Copies the final model (config, safetensors, tokenizer JSON), `metrics.jsonl` and `training_config.json`;
leaves out intermediate checkpoints and TensorBoard events. Adapter and aggregation weights are cast to
bfloat16 (half the size); the router stays float32 because routes are decided by nearest-code distances,
which rounding could flip. Evaluate and analyze the shipped folder afterwards, so that the precomputed
numbers are those of exactly the weights the studio loads.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

KEEP_FLOAT32 = {"router.safetensors"}
SKIP_DIRS = {"checkpoints", "tensorboard", "eval", "analysis"}


def ship(run_dir: Path, destination: Path) -> list[str]:
    """Write the shipped folder atomically (temp folder + rename); returns the files written."""
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir}/config.json not found: is {run_dir} a finished training run?")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    written = []
    for path in sorted(run_dir.iterdir()):
        if path.is_dir() or path.name in SKIP_DIRS:
            continue
        if path.suffix == ".safetensors" and path.name not in KEEP_FLOAT32:
            tensors = {
                k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in load_file(path).items()
            }
            save_file(tensors, staging / path.name, metadata={"format": "pt"})
        else:
            shutil.copy2(path, staging / path.name)
        written.append(path.name)
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args()
    files = ship(args.run_dir, args.destination)
    print(f"shipped {len(files)} files to {args.destination}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
