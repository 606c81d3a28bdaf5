"""Files and folders the project writes get the modes a plain `open` or `mkdir` gives them (0644 and 0755
under the usual umask 022).

`tempfile.mkstemp` and `mkdtemp` create 0600 / 0700 on purpose (private temporary files), and an atomic
write renames such a temporary into place: without this, checkpoints, data files, figure sets and analysis
folders came out readable by their owner only, so a studio served by another account (a team's shared
server) could not open them.
"""

from __future__ import annotations

import os
from pathlib import Path

FALLBACK_UMASK = 0o022


def current_umask() -> int:
    """The process umask, read from /proc (setting it to read it back, as `os.umask` requires, would race
    with the studio's other threads creating files); 022 where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_UMASK


def share_file(path: str | os.PathLike) -> None:
    """Give a file made by `mkstemp` the mode `open(path, "w")` would have given it."""
    os.chmod(path, 0o666 & ~current_umask())


def share_folder(path: str | os.PathLike) -> None:
    """Give a folder made by `mkdtemp` the mode `mkdir` would have given it."""
    os.chmod(path, 0o777 & ~current_umask())


def share_tree(folder: str | os.PathLike) -> None:
    """`share_folder` on `folder` and the folders under it, `share_file` on every file (links are left
    alone). safetensors' `save_file` creates its files 0600 too, so a folder staged for an atomic rename
    (a training checkpoint, an analysis artifact, a shipped checkpoint) is shared as a whole."""
    umask = current_umask()
    os.chmod(folder, 0o777 & ~umask)
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs:
            if not os.path.islink(os.path.join(parent, name)):
                os.chmod(os.path.join(parent, name), 0o777 & ~umask)
        for name in files:
            if not os.path.islink(os.path.join(parent, name)):
                os.chmod(os.path.join(parent, name), 0o666 & ~umask)
