"""Atomically written files and folders get the modes a plain open / mkdir gives (mkstemp's 0600 and
mkdtemp's 0700 used to come through the rename)."""

from __future__ import annotations

import os

from iclm.data.evals_format import write_json, write_jsonl
from iclm.file_modes import current_umask, share_folder


def test_current_umask_is_the_process_umask():
    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
    finally:
        os.umask(previous)


def test_data_files_and_manifests_are_readable_by_others(tmp_path):
    previous = os.umask(0o022)
    try:
        written = [write_jsonl(tmp_path / "a.jsonl", [{"x": 1}]), write_json(tmp_path / "m.json", {"x": 1})]
        assert [p.stat().st_mode & 0o777 for p in written] == [0o644, 0o644]
    finally:
        os.umask(previous)


def test_a_stricter_umask_is_respected(tmp_path):
    previous = os.umask(0o077)
    try:
        assert write_jsonl(tmp_path / "a.jsonl", [{"x": 1}]).stat().st_mode & 0o777 == 0o600
        folder = tmp_path / "f"
        folder.mkdir(mode=0o700)
        share_folder(folder)
        assert folder.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(previous)
