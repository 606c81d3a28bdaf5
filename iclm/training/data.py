"""Training data of a run: examples from the config's files, the dataset-name -> domain-id map, and the
fixed probe set. A data row's domain is `Example.domain` when set (an o.o.d. file names the training
domain it belongs to), else `Example.dataset`."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from iclm.training.config import DataSection
from iclm.training.probe import ProbeSet

logger = logging.getLogger(__name__)


def domain_of(example) -> str:
    return example.domain or example.dataset


class ExampleDataset(torch.utils.data.Dataset):
    """A list of `iclm.data.Example` as a torch Dataset (the collator tokenises)."""

    def __init__(self, examples: list) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        return self.examples[index]


def load_files(
    paths: list[str] | tuple[str, ...], split: str | None = None, dataset: str | None = None
) -> list:
    """Examples of several files; line errors are logged (file, line, field) and skipped."""
    from iclm.data.loader import load_examples

    examples = []
    for path in paths:
        if not Path(path).exists() and not Path(path).is_symlink():  # the loader names folders, loops...
            raise FileNotFoundError(f"data file {path} does not exist (run `python -m iclm data ...` first)")
        result = load_examples(path, dataset=dataset, split=split)
        for error in result.errors[:10]:
            logger.warning("skipped %s", error)
        if len(result.errors) > 10:
            logger.warning("%s: %d more invalid lines skipped", path, len(result.errors) - 10)
        examples.extend(result.examples)
    return examples


def load_mix_role(folder: str, role: str) -> list:
    """Examples of one role ("train"/"test") of a `python -m iclm data mix` folder (or its manifest.json),
    with dataset, split and domain from the manifest."""
    from iclm.data.mix import MANIFEST, load_mix

    path = Path(folder)
    path = path.parent if path.name == MANIFEST else path
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path / MANIFEST} does not exist (run `python -m iclm data mix` first)")
    examples = []
    for result in load_mix(path, role).values():
        for error in result.errors[:10]:
            logger.warning("skipped %s", error)
        examples.extend(result.examples)
    return examples


@dataclass
class RunData:
    train: list
    dataset_names: list[str]

    @property
    def dataset_ids(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.dataset_names)}


def load_run_data(section: DataSection, seed: int) -> RunData:
    examples = load_files(section.train) if section.train else load_mix_role(section.mix, "train")
    if section.limit_per_dataset:
        counts: dict[str, int] = {}
        kept = []
        for example in examples:
            counts[domain_of(example)] = counts.get(domain_of(example), 0) + 1
            if counts[domain_of(example)] <= section.limit_per_dataset:
                kept.append(example)
        examples = kept
    if not examples:
        raise ValueError(f"no valid training examples in {section.train or section.mix}")
    names = sorted({domain_of(e) for e in examples})
    return RunData(train=examples, dataset_names=names)


def load_probe_pool(paths: tuple[str, ...]) -> list:
    """Probe candidates: files, or `data mix` folders whose training files (with their domains) are read;
    a mix built with another seed gives held-out examples of the training distribution."""
    pool = []
    for path in paths:
        pool += load_mix_role(path, "train") if Path(path).is_dir() else load_files([path])
    return pool


def probe_examples(section: DataSection, data: RunData, seed: int) -> list:
    """A fixed, seeded probe set: `probe_size` examples stratified by domain (probe files or train)."""
    pool = load_probe_pool(section.probe) if section.probe else data.train
    by_domain: dict[str, list] = {}
    for example in pool:
        by_domain.setdefault(domain_of(example), []).append(example)
    rng = random.Random(seed)
    per_domain = max(section.probe_size // max(len(by_domain), 1), 1)
    chosen = []
    for name in sorted(by_domain):
        items = list(by_domain[name])
        rng.shuffle(items)
        chosen.extend(items[:per_domain])
    return chosen


def build_probe(examples: list, collator, dataset_ids: dict[str, int], batch_size: int) -> ProbeSet:
    batches = [collator(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]
    names = tuple(domain_of(e) for e in examples)
    index = with_unseen(dataset_ids, examples)
    labels = np.array([index[name] for name in names], dtype=np.int64)
    return ProbeSet(batches=batches, labels=labels, names=names)


def with_unseen(dataset_ids: dict[str, int], examples: list) -> dict[str, int]:
    """`dataset_ids` plus an index of its own for each dataset of `examples` the run does not train on (a
    probe of an extension run's old tasks), numbered after the trained ones in name order."""
    unseen = sorted({domain_of(e) for e in examples} - set(dataset_ids))
    return dataset_ids | {name: len(dataset_ids) + i for i, name in enumerate(unseen)}
