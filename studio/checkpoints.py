"""Find checkpoint folders and read their small JSON files (no streamlit).

A checkpoint folder holds `config.json` (see docs/api.md "Checkpoint folder"). Shipped checkpoints live
under `checkpoints/<name>/`; the root can be moved with the environment variable ICLM_CHECKPOINTS_DIR.
A bad folder raises the engine's `CheckpointError` (`iclm.checkpoint_format`, shared with its loader).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclm import json_files
from iclm.checkpoint_format import (
    CONFIG_FILE,
    CheckpointError,
    check_model_type,
    variant_has_invariant,
    weight_files,
)

ENV_VAR = "ICLM_CHECKPOINTS_DIR"
DEFAULT_ROOT = "checkpoints"


@dataclass(frozen=True)
class CheckpointFiles:
    """Which optional parts a checkpoint folder has (paths are None where absent)."""

    folder: Path
    config: dict[str, Any]
    metrics: Path | None
    results: Path | None
    predictions: Path | None
    artifact: Path | None
    training_config: Path | None
    # an extension's parent scored on the new task's test files (`eval-parent/`): the parent's own eval/
    # predates the new task, so the new task's "before" accuracy lives with the child
    parent_predictions: Path | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    def missing_weights(self) -> list[str]:
        """Weight files the engine needs to load this checkpoint that the folder lacks (names only)."""
        needed = weight_files(variant_has_invariant(self.config.get("variant")))
        return [name for name in needed if not (self.folder / name).is_file()]


def checkpoints_root() -> Path:
    """The folder searched for shipped checkpoints: $ICLM_CHECKPOINTS_DIR or ./checkpoints."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_ROOT)


def discover(root: Path | None = None) -> list[Path]:
    """Checkpoint folders directly under `root` (those holding a config.json), sorted by name."""
    root = checkpoints_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def default_checkpoint(folders: list[Path]) -> Path | None:
    """The checkpoint to open first: a folder named `iclm-*`, else a full ICLM (with an invariant module),
    else the first."""
    named = [f for f in folders if f.name.lower().startswith("iclm")]
    if named:
        return named[0]
    for folder in folders:
        try:
            if variant_has_invariant(read_json_object(folder / CONFIG_FILE).get("variant")):
                return folder
        except CheckpointError:
            continue
    return folders[0] if folders else None


def read_json(path: Path, what: str = "JSON file") -> Any:
    """Parse one JSON file with the project's bounded reader (`iclm.json_files`); raise CheckpointError
    naming the file on a missing, oversized or invalid one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return json_files.read_json(path, what)
    except json_files.JsonFileError as exc:
        raise CheckpointError(str(exc)) from exc


def read_json_object(path: Path, what: str = "JSON file") -> dict[str, Any]:
    """`read_json`, and the value must be an object (a list-shaped file is refused by name)."""
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: the {what} holds a JSON {type(value).__name__}, expected an object")
    return value


MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: a longer typed path cannot name a folder


def folder_path(text: str) -> Path:
    """The absolute folder a typed path names (symlinks resolved); CheckpointError saying what is wrong
    with the text itself (a NUL byte, too long, a symlink loop) without quoting thousands of characters."""
    if "\x00" in text:
        raise CheckpointError("the folder path contains a NUL byte, which no path can hold")
    if len(text) > MAX_PATH_CHARS:
        raise CheckpointError(
            f"the folder path is {len(text):,} characters, more than a path may have ({MAX_PATH_CHARS:,})"
        )
    try:
        return Path(text).expanduser().resolve()
    except RuntimeError as exc:  # pathlib before Python 3.13: "Symlink loop from ...", an unknown ~user
        raise CheckpointError(f"{text}: cannot be opened ({exc})") from exc
    except OSError as exc:  # ELOOP from Python 3.13 on
        raise CheckpointError(f"{text}: cannot be opened ({exc.strerror or exc})") from exc


def parent_folder(written: str, child: Path) -> Path | None:
    """The folder a lineage's `parent` names: as written (absolute, or relative to where `extend` ran,
    usually the project root), else a folder of that name beside the child or in the checkpoints root;
    None when none of them is a checkpoint (the parent was moved or not shipped)."""
    path = Path(written)
    candidates = [path, child.parent / path.name, checkpoints_root() / path.name]
    return next((c for c in candidates if (c / CONFIG_FILE).is_file()), None)


def inspect(folder: str | Path) -> CheckpointFiles:
    """Check that `folder` is a checkpoint and list its optional parts; raise CheckpointError otherwise."""
    folder = Path(folder).expanduser()
    try:
        is_folder = folder.is_dir()
    except OSError as exc:  # a name over 255 bytes, no permission to look, ...
        raise CheckpointError(f"{folder}: cannot be opened ({exc.strerror or exc})") from exc
    if not is_folder:
        raise CheckpointError(f"{folder}: no such folder")
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder}: not a checkpoint (config.json is missing)")
    config = check_model_type(folder / CONFIG_FILE, read_json(folder / CONFIG_FILE, "checkpoint config"))

    def present(relative: str) -> Path | None:
        path = folder / relative
        return path if path.exists() else None

    artifact = present("analysis")
    if artifact is not None and not (artifact / "manifest.json").is_file():
        artifact = None
    return CheckpointFiles(
        folder=folder,
        config=config,
        metrics=present("metrics.jsonl"),
        results=present("eval/results.json"),
        predictions=present("eval/predictions.jsonl"),
        artifact=artifact,
        training_config=present("training_config.json"),
        parent_predictions=present("eval-parent/predictions.jsonl"),
    )
