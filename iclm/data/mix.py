"""The paper's training mixture and its test sets, built from a small YAML config, with a manifest.

Training files: ACRE iid and RAVEN center_single, in every chosen rendering. Test files: the i.i.d.
test sets of the same, ACRE comp and sys test parts and RAVEN distribute_four and
in_center_single_out_center_single (o.o.d.). `manifest.json` lists each file with its dataset name, its
domain (task-render: the oracle-routing key), role (train/test) and split (iid/ood).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from iclm.data.evals_format import write_json
from iclm.data.examples import DEFAULT_LIMITS, LoaderLimits, LoadResult
from iclm.data.generate import task_spec, write_task_file
from iclm.data.loader import load_examples
from iclm.data.task_spec import TaskSpec

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class MixConfig:
    """seed: base seed (each file derives its own); n_train / n_test: lines per file;
    renders: text and/or symbolic; tasks: acre and/or raven; raven_candidates: "iraven" (answer sets with
    no context-free shortcut) or "benchmark" (built as the public benchmark's, odd-one-out solves them)."""

    seed: int = 0
    n_train: int = 2000
    n_test: int = 400
    renders: tuple[str, ...] = ("text", "symbolic")
    tasks: tuple[str, ...] = ("acre", "raven")
    raven_candidates: str = "iraven"

    def __post_init__(self) -> None:
        if self.raven_candidates not in ("iraven", "benchmark"):
            raise ValueError(
                f"raven_candidates must be 'iraven' or 'benchmark', got {self.raven_candidates!r}"
            )
        for name in ("n_train", "n_test"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name, allowed in (("renders", ("text", "symbolic")), ("tasks", ("acre", "raven"))):
            values = getattr(self, name)
            if not values or any(v not in allowed for v in values):
                raise ValueError(f"{name} must be a non-empty list from {allowed}, got {list(values)}")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> MixConfig:
        """Read a config; unknown keys raise ValueError naming them and the file."""
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of options, got {type(raw).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; valid keys: {sorted(known)}")
        for key in ("renders", "tasks"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)


@dataclass(frozen=True)
class MixEntry:
    """One file of the mixture as listed in manifest.json."""

    file: str
    dataset: str
    domain: str
    role: str  # train | test
    split: str  # iid | ood
    task: str
    n: int
    seed: int
    source: str = ""  # the benchmark file an imported entry came from ("" for generated files)


def plan(config: MixConfig) -> list[tuple[MixEntry, TaskSpec]]:
    """Every file of the mixture with the spec that generates it."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    for render in config.renders:
        if "acre" in config.tasks:
            jobs += [("train", dict(task="acre", render=render, split="iid", part="train"))]
            jobs += [
                ("test", dict(task="acre", render=render, split=s, part="test"))
                for s in ("iid", "comp", "sys")
            ]
        if "raven" in config.tasks:
            raven = dict(task="raven", render=render, candidates=config.raven_candidates)
            jobs += [("train", dict(raven, config="center_single", part="train"))]
            for cfg in ("center_single", "distribute_four", "in_center_single_out_center_single"):
                jobs += [("test", dict(raven, config=cfg, part="test"))]
    out = []
    for role, kwargs in jobs:
        n = config.n_train if role == "train" else config.n_test
        probe = task_spec(n=n, **kwargs)
        seed = config.seed * 1_000_003 + zlib.crc32(f"{probe.dataset}-{role}".encode()) % 1_000_000
        spec = task_spec(n=n, seed=seed, **kwargs)
        split = "ood" if spec.is_ood else "iid"
        entry = MixEntry(
            f"{spec.dataset}-{role}.jsonl", spec.dataset, spec.domain, role, split, spec.task, n, seed
        )
        out.append((entry, spec))
    return out


def build_mix(config: MixConfig, out_dir: str | os.PathLike[str], progress: bool = False) -> list[MixEntry]:
    """Write every file and manifest.json into out_dir; returns the manifest entries."""
    out = Path(out_dir)
    jobs = plan(config)
    iterator = jobs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(jobs, desc="data mix", unit="file")
    for entry, spec in iterator:
        write_task_file(spec, out / entry.file)
    entries = [entry for entry, _ in jobs]
    write_json(out / MANIFEST, {"config": asdict(config), "files": [asdict(e) for e in entries]})
    return entries


def read_manifest(out_dir: str | os.PathLike[str]) -> list[MixEntry]:
    """Entries of a mixture folder's manifest.json; ValueError naming the file and field when it is not one
    (no `files`, an unknown or missing key, a wrong type, or a file name that leaves the folder)."""
    from iclm.json_files import read_json_object

    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out_dir} is not a `python -m iclm data mix` folder")
    raw = read_json_object(path, "data mix manifest")
    if not isinstance(raw.get("files"), list):
        raise ValueError(
            f"{path}: field 'files' must be a list of entries, got {type(raw.get('files')).__name__}"
        )
    return [_manifest_entry(path, index, item) for index, item in enumerate(raw["files"])]


def _manifest_entry(path: Path, index: int, item: Any) -> MixEntry:
    where = f"{path}: field 'files[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}' must be an object, got {type(item).__name__}")
    known = {f.name: f for f in fields(MixEntry)}
    unknown = sorted(set(item) - set(known))
    missing = sorted(name for name, f in known.items() if f.default is MISSING and name not in item)
    if unknown or missing:
        raise ValueError(f"{where}': unknown keys {unknown}, missing keys {missing}")
    for name, value in item.items():
        expected = int if known[name].type == "int" else str
        if type(value) is not expected:
            raise ValueError(f"{where}.{name}' must be a {expected.__name__}, got {value!r:.60}")
    name = item["file"]
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{where}.file' = {name!r:.60} must name a file inside the mix folder")
    return MixEntry(**item)


def load_mix(
    out_dir: str | os.PathLike[str], role: str, limits: LoaderLimits = DEFAULT_LIMITS
) -> dict[str, LoadResult]:
    """Load every file of a role ("train"/"test"), keyed by file name, with dataset/split/domain set."""
    results = {}
    for entry in read_manifest(out_dir):
        if entry.role == role:
            results[entry.file] = load_examples(
                Path(out_dir) / entry.file,
                dataset=entry.dataset,
                split=entry.split,
                domain=entry.domain,
                limits=limits,
            )
    return results
