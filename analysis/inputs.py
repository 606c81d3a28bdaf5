"""What `analysis.collect` runs on: data files or `data mix` folders -> Examples + manifest entries, the
per-dataset limit, the prompt length budget (`max_length`) and the count of prompts it cuts.

The rules are those of `python -m iclm evaluate`: a folder is a `python -m iclm data mix` folder whose test
files are read with dataset, split (iid/ood) and domain from its manifest.json; `limit` keeps the first N
examples of every dataset in file order; `max_length` defaults to the checkpoint's training max_length, so
prompts are cut (from the left, BOS kept) exactly as the router and modules saw them in training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from iclm.checkpoint import max_length_for
from iclm.data.examples import limit_per_dataset
from iclm.data.tokens import longest_answer
from iclm.fingerprints import examples_hash

logger = logging.getLogger(__name__)


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(examples: list) -> dict:
    datasets = sorted({e.dataset for e in examples})
    splits = sorted({e.split for e in examples})
    return {"dataset": ",".join(datasets), "split": ",".join(splits)}


def _log_errors(result) -> None:
    for error in result.errors[:10]:
        logger.warning("skipped %s", error)
    if len(result.errors) > 10:
        logger.warning("%d more invalid lines skipped", len(result.errors) - 10)


def _load_path(path: str | os.PathLike) -> list[tuple[Path, list]]:
    """[(file, examples)] of one data argument: a data file, or every test file of a data-mix folder."""
    from iclm.data.loader import load_examples
    from iclm.data.mix import MANIFEST, load_mix

    folder = Path(path)
    folder = folder.parent if folder.name == MANIFEST else folder
    if folder.is_dir():
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(
                f"{folder} is a folder without {MANIFEST}; "
                "give data files or a `python -m iclm data mix` folder"
            )
        out = []
        for name, result in load_mix(folder, "test").items():
            _log_errors(result)
            out.append((folder / name, result.examples))
        return out
    if not folder.exists() and not folder.is_symlink():  # the loader names folders, loops...
        raise FileNotFoundError(f"data file {path} does not exist")
    result = load_examples(folder)
    _log_errors(result)
    return [(folder, result.examples)]


def resolve_data(data: Sequence, limit: int | None = None) -> tuple[list, list[dict]]:
    """Data files / mix folders, or Examples -> (examples, manifest "data" entries).

    File entries: {"path", "sha256" (of the whole file), "dataset", "split"} (dataset/split of the rows kept
    after `limit`); Example entries: path null, sha256 of the Examples' JSON, one per (dataset, split)."""
    if not data:
        raise ValueError("data is empty; give data files, a data-mix folder or Examples")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit={limit} is invalid; expected a positive number (or None for all)")
    if all(isinstance(d, str | os.PathLike) for d in data):
        loaded = [pair for path in data for pair in _load_path(path)]
        kept = limit_per_dataset([e for _, examples in loaded for e in examples], limit)
        ids = {id(e) for e in kept}
        entries = [
            {"path": str(path), "sha256": file_hash(path), **_describe([e for e in ex if id(e) in ids])}
            for path, ex in loaded
        ]
        return kept, entries
    examples = limit_per_dataset(list(data), limit)
    groups: dict[tuple[str, str], list] = {}
    for example in examples:
        groups.setdefault((example.dataset, example.split), []).append(example)
    entries = [
        {"path": None, "sha256": examples_hash(group), "dataset": name, "split": split}
        for (name, split), group in groups.items()
    ]
    return examples, entries


def artifact_max_length(checkpoint: str | os.PathLike | None) -> int | None:
    """`max_length` recorded in the checkpoint's analysis artifact manifest (None if absent or unreadable)."""
    if checkpoint is None:
        return None
    try:
        value = json.loads((Path(checkpoint) / "analysis" / "manifest.json").read_text(encoding="utf-8"))
        value = value.get("max_length")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 1 else None


def resolve_max_length(max_length: int | None, checkpoint: str | os.PathLike | None) -> int:
    """max_length if given, else the checkpoint's training max_length, else the default
    (`iclm.checkpoint.max_length_for`)."""
    if max_length is not None:
        if max_length < 2:
            raise ValueError(f"max_length={max_length} is invalid; expected >= 2")
        return max_length
    return max_length_for(checkpoint)


def with_longest_answer(example, tokenizer):
    """The example with its answer replaced by the longest (in tokens) of its gold answer and choices: the
    prompt is then cut exactly as `iclm.evaluation.run` cuts it (one prompt that fits every answer,
    `iclm.data.tokens.longest_answer`)."""
    if not example.choices:
        return example
    answers = [example.answer, *example.choices]
    longest = longest_answer(answers, lambda a: len(tokenizer(a, add_special_tokens=False)["input_ids"]))
    return dataclasses.replace(example, answer=longest)


def warn_truncated(examples: list, encoded: list, max_length: int) -> int:
    """Log a warning about the prompts `iclm.evaluation.prompts.encode_prompts` cut from the left (`encoded`,
    one per example) to fit max_length together with their longest answer + EOS. Returns their count."""
    from iclm.evaluation.prompts import cut_count

    count = cut_count(examples, encoded)
    if count.cut:
        logger.warning(
            "%d of %d prompts do not fit max_length=%d with their answers and lose tokens from the left "
            "(longest prompt: %d tokens); raise --max-length to keep them whole",
            count.cut,
            count.total,
            max_length,
            count.longest,
        )
    return count.cut
