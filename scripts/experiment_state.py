"""Carry an unfinished experiment run across machines: its newest complete checkpoint, committed.

    python scripts/experiment_state.py save iclm-k2      # runs/experiment/iclm-k2 -> experiment-state/iclm-k2
    python scripts/experiment_state.py restore iclm-k2   # the reverse, only where the run is behind

A run of the experiment takes longer than one working session on a 2-core machine, and the next session may
start on a fresh clone where `runs/` (ignored) is empty. `save` copies the newest complete checkpoint
(weights, optimizer, scheduler and RNG state: everything resume reads) and `metrics.jsonl` into the tracked
folder `experiment-state/<run>/`, replacing an older copy; `restore` copies them back when the run folder
has no checkpoint at least as new, so `iclm train` resumes exactly where the saved run stopped.
scripts/experiment.sh restores before it trains.

Files over PART_BYTES (the optimizer state: 27 MB at K = 2) are stored as numbered parts (`<name>.part000`,
...) so no tracked file is large; `restore` joins them and checks the checkpoint against its manifest.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from iclm.training import checkpoints

REPO = Path(__file__).resolve().parents[1]
PART_BYTES = 16 * 2**20
PART = ".part"


def _newest_step(folder: Path) -> int:
    found = checkpoints.latest_complete(folder) if folder.is_dir() else None
    return -1 if found is None else checkpoints.step_of(found)


def _saved(state: Path) -> Path | None:
    """The checkpoint folder kept in `state` (its big files in parts, so not checked until joined)."""
    found = sorted(state.glob("checkpoint-*"), key=checkpoints.step_of) if state.is_dir() else []
    return found[-1] if found else None


def _split(folder: Path) -> None:
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.stat().st_size > PART_BYTES):
        with path.open("rb") as source:
            for index, chunk in enumerate(iter(lambda s=source: s.read(PART_BYTES), b"")):
                (folder / f"{path.name}{PART}{index:03d}").write_bytes(chunk)
        path.unlink()


def _join(folder: Path) -> None:
    parts = sorted(p for p in folder.iterdir() if PART in p.name)
    for name in sorted({p.name.rsplit(PART, 1)[0] for p in parts}):
        with (folder / name).open("wb") as target:
            for part in (p for p in parts if p.name.rsplit(PART, 1)[0] == name):
                target.write(part.read_bytes())
                part.unlink()


def save(run: Path, state: Path) -> str:
    newest = checkpoints.latest_complete(run / "checkpoints") if (run / "checkpoints").is_dir() else None
    if newest is None:
        raise FileNotFoundError(f"{run}/checkpoints holds no complete checkpoint to save")
    held = _saved(state)
    if held is not None and checkpoints.step_of(held) >= checkpoints.step_of(newest):
        return f"{state} already holds step {checkpoints.step_of(held)}"
    # Only the checkpoint and metrics.jsonl are replaced: whatever else the folder holds (an evaluation's
    # journal, perhaps still being appended to) stays where it is.
    state.mkdir(parents=True, exist_ok=True)
    staging = state / f".{newest.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(newest, staging)
    _split(staging)
    shutil.copy2(run / "metrics.jsonl", state / ".metrics.jsonl.tmp")
    for old in state.glob("checkpoint-*"):
        shutil.rmtree(old)
    staging.rename(state / newest.name)
    (state / ".metrics.jsonl.tmp").replace(state / "metrics.jsonl")
    return f"saved {newest.name} of {run} to {state}"


def restore(state: Path, run: Path) -> str:
    saved = _saved(state)
    if saved is None:
        return f"{state} holds no saved checkpoint: nothing to restore"
    if _newest_step(run / "checkpoints") >= checkpoints.step_of(saved):
        return f"{run} is already at step {_newest_step(run / 'checkpoints')}: nothing to restore"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    target = run / "checkpoints" / saved.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(saved, target)
    _join(target)
    reason = checkpoints.incomplete_reason(target)
    if reason is not None:
        shutil.rmtree(target)
        raise FileNotFoundError(f"{saved} does not restore to a complete checkpoint: {reason}")
    shutil.copy2(state / "metrics.jsonl", run / "metrics.jsonl")
    return f"restored {saved.name} into {run}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("run", help="the run's name under configs/experiment/ (e.g. iclm-k2)")
    args = parser.parse_args()
    run, state = REPO / "runs/experiment" / args.run, REPO / "experiment-state" / args.run
    try:
        print(save(run, state) if args.action == "save" else restore(state, run))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
