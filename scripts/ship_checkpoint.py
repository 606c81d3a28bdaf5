"""Copy a training run's model into a shipped checkpoint folder, weights stored in bfloat16.

    python scripts/ship_checkpoint.py runs/ship/iclm-k2 checkpoints/iclm-k2            # the final model
    python scripts/ship_checkpoint.py runs/experiment/iclm-k2 checkpoints/iclm-k2 \\
        --step 300 --config configs/experiment/iclm-k2.yaml                           # a saved step

Copies the model (config, safetensors, tokenizer JSON), `metrics.jsonl` and `training_config.json`;
leaves out optimizer state, intermediate checkpoints and TensorBoard events. With `--step N` the model is
the complete checkpoint `checkpoints/checkpoint-N` of the run: under `lr_schedule: constant` that is the
N-step run itself, so the metrics are cut at step N and `training_config.json` (rebuilt from `--config`
when the run has not finished) says `max_steps: N`. Adapter and aggregation weights are cast to bfloat16
(half the size); the router stays float32 because routes are decided by nearest-code distances, which
rounding could flip. Evaluate and analyze the shipped folder afterwards, so that the precomputed numbers are
those of exactly the weights the studio loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from iclm.extension import LINEAGE_FILE, read_lineage, write_lineage
from iclm.file_modes import share_tree
from iclm.training import checkpoints
from iclm.training.config import load_train_config, save_train_config

KEEP_FLOAT32 = {"router.safetensors"}
MODEL_FILES = (
    "config.json",
    "adapters.safetensors",
    "router.safetensors",
    "aggregation.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def _copy_model_file(path: Path, target: Path) -> None:
    if path.suffix == ".safetensors" and path.name not in KEEP_FLOAT32:
        tensors = load_file(path)
        tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, target, metadata={"format": "pt"})
    else:
        shutil.copy2(path, target)


def _metrics_until(source: Path, target: Path, step: int | None) -> None:
    """metrics.jsonl, cut after `step` (a record without a step, e.g. a final summary, is kept only
    for the final model)."""
    if step is None:
        shutil.copy2(source, target)
        return
    lines = [
        line
        for line in source.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", step + 1) <= step
    ]
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _training_config(run_dir: Path, target: Path, step: int | None, config_path: Path | None) -> None:
    written = run_dir / "training_config.json"
    if step is None or (config_path is None and written.is_file()):
        if step is not None:
            payload = json.loads(written.read_text(encoding="utf-8"))
            payload["training"]["max_steps"] = step
            target.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        elif written.is_file():
            shutil.copy2(written, target)
        return
    if config_path is None:
        raise FileNotFoundError(
            f"{written} not found (the run has not finished): pass --config, the run's YAML"
        )
    config = load_train_config(config_path).replace_training(max_steps=step)
    names = json.loads((target.parent / "config.json").read_text(encoding="utf-8"))["dataset_names"]
    save_train_config(config, target, {"dataset_names": names})


def ship(
    run_dir: Path, destination: Path, step: int | None = None, config_path: Path | None = None
) -> list[str]:
    """Write the shipped folder atomically (temp folder + rename); returns the files written."""
    source = run_dir
    if step is not None:
        source = run_dir / "checkpoints" / f"checkpoint-{step}"
        reason = checkpoints.incomplete_reason(source) if source.is_dir() else "it does not exist"
        if reason is not None:
            raise FileNotFoundError(f"{source} cannot be shipped: {reason}")
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"{source}/config.json not found: is {run_dir} a finished training run?")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    written = []
    for name in MODEL_FILES:
        if (source / name).is_file():
            _copy_model_file(source / name, staging / name)
            written.append(name)
    if (run_dir / "metrics.jsonl").is_file():
        _metrics_until(run_dir / "metrics.jsonl", staging / "metrics.jsonl", step)
        written.append("metrics.jsonl")
    _training_config(run_dir, staging / "training_config.json", step, config_path)
    written.append("training_config.json")
    lineage = read_lineage(run_dir)  # an extended checkpoint (python -m iclm extend) keeps its ancestry
    if lineage is not None:
        steps = lineage.steps if step is None else step
        write_lineage(staging, dataclasses.replace(lineage, steps=steps))
        written.append(LINEAGE_FILE)
    share_tree(staging)  # mkdtemp's 0700 and safetensors' 0600 would keep other accounts out
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--step", type=int, help="ship the run's saved checkpoint of this step")
    parser.add_argument("--config", type=Path, help="the run's YAML (with --step, before the run finished)")
    args = parser.parse_args()
    try:
        files = ship(args.run_dir, args.destination, args.step, args.config)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"shipped {len(files)} files to {args.destination}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
