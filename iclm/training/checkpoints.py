"""A run's checkpoint folders (`<run>/checkpoints/checkpoint-<step>/`): written atomically, resumed complete.

Writing: every process writes its files into `<checkpoints>/.tmp-checkpoint-<step>/checkpoint-<step>/`;
then the main process fsyncs them, writes `checkpoint_manifest.json` (every file's size) last and renames
the folder into place. A kill at any moment leaves the complete checkpoint or a `.tmp-*` folder that
nothing reads (it is removed by the next save or run), never a half-written `checkpoint-<step>`.

Reading: a checkpoint is complete when its manifest is readable, names its step and every file it lists
is there with its size, and no temp file was left behind. Folders written before manifests existed count
as complete when `trainer_state.json` (the Trainer's last file) is there and no temp file was left.
Resume takes the newest complete checkpoint and logs every newer incomplete one it skipped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from iclm.file_modes import share_tree
from iclm.json_files import read_json_object

logger = logging.getLogger(__name__)

MANIFEST = "checkpoint_manifest.json"
TRAINER_STATE = "trainer_state.json"
STAGING_PREFIX = ".tmp-"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def staging_folder(checkpoints: str | os.PathLike, step: int) -> Path:
    """The temp parent a checkpoint of `step` is written into (same filesystem as its final place)."""
    return Path(checkpoints) / f"{STAGING_PREFIX}checkpoint-{step}"


def step_of(folder: str | os.PathLike) -> int:
    """The step of a `checkpoint-<step>` folder."""
    match = _CHECKPOINT.match(Path(folder).name)
    if match is None:
        raise ValueError(f"{folder} is not a checkpoint-<step> folder")
    return int(match.group(1))


def _is_temp(name: str) -> bool:
    """Names our atomic writers use before their rename: `.x-*`, `tmp*` folders, `*.tmp`."""
    return name.startswith((".", "tmp")) or name.endswith(".tmp")


def _files(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file below folder, the manifest excluded."""
    sizes = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            relative = path.relative_to(folder).as_posix()
            if relative != MANIFEST:
                sizes[relative] = path.stat().st_size
    return sizes


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(staged: Path, target: Path) -> None:
    """Make the fully written folder `staged` the checkpoint `target`: fsync its files, write the manifest
    last, rename it into place (an older folder of the same name is moved aside, then removed)."""
    files = _files(staged)
    share_tree(staged)  # the Trainer's and safetensors' writers leave 0600 files
    for parent, _, names in os.walk(staged):
        for name in names:
            _fsync(Path(parent) / name)
    step = step_of(target)
    manifest = json.dumps({"format": 1, "step": step, "files": files}, indent=1, sort_keys=True)
    (staged / MANIFEST).write_text(manifest, encoding="utf-8")
    _fsync(staged / MANIFEST)
    _fsync(staged)
    old = staged.parent / f"old-{target.name}"
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    _fsync(target.parent)
    shutil.rmtree(staged.parent, ignore_errors=True)


def incomplete_reason(folder: Path) -> str | None:
    """None when `folder` is a complete checkpoint, else why it is not (one line)."""
    leftovers = sorted(name for name in os.listdir(folder) if _is_temp(name))
    if leftovers:
        return f"temp files left by an interrupted save: {leftovers[:3]}"
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return None if (folder / TRAINER_STATE).is_file() else f"no {MANIFEST} and no {TRAINER_STATE}"
    try:
        manifest = read_json_object(manifest_path, "checkpoint manifest")
        step, files = int(manifest["step"]), dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as error:  # JsonFileError is a ValueError
        return f"{MANIFEST} is unreadable: {error}"
    if step != step_of(folder):
        return f"{MANIFEST} says step {step}, the folder is {folder.name}"
    for name, size in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {MANIFEST} says {size}"
    return None


def _numbered(checkpoints: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `checkpoint-<step>` folder, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = []
    for entry in checkpoints.iterdir():
        match = _CHECKPOINT.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_complete(checkpoints: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in `checkpoints` (None if there is none); every newer incomplete
    one is logged with the reason it was skipped."""
    for _, folder in reversed(_numbered(Path(checkpoints))):
        reason = incomplete_reason(folder)
        if reason is None:
            return folder
        logger.warning("skipping incomplete checkpoint %s: %s", folder, reason)
    return None


def rotate(checkpoints: str | os.PathLike, keep: int | None) -> None:
    """Keep the newest `keep` complete checkpoints; remove the older ones and incomplete ones older than
    the oldest kept (newer incomplete ones are replaced when training reaches their step)."""
    if not keep or keep <= 0:
        return
    numbered = _numbered(Path(checkpoints))
    complete = [(step, folder) for step, folder in numbered if incomplete_reason(folder) is None]
    if len(complete) <= keep:
        return
    oldest_kept = complete[-keep][0]
    for step, folder in numbered:
        if step < oldest_kept:
            logger.info("removing checkpoint %s (keep_last=%d)", folder, keep)
            shutil.rmtree(folder, ignore_errors=True)


def remove_staging(checkpoints: str | os.PathLike) -> None:
    """Remove the temp folders of saves that were interrupted (only ever written by `commit`'s callers)."""
    folder = Path(checkpoints)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(f"{STAGING_PREFIX}checkpoint-") and entry.is_dir():
            logger.info("removing %s, left by an interrupted checkpoint save", entry)
            shutil.rmtree(entry, ignore_errors=True)
