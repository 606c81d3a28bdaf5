"""PVR (pointer-value retrieval) task profile from the prompt text alone.

A prompt is an instruction, in-context examples "[p, v0, ..., v9] -> d" and a query "[p, v0, ..., v9] -> ".
Whether a window wraps around cannot be told from the text for complexities 1/2, so only the largest
pointer is reported (the benchmark draws pointers in 0..9-complexity, so it shows 9 / 8 / 7).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from iclm.data.examples import Example
from iclm.data.profile_stats import MetricTable

logger = logging.getLogger(__name__)

SEQUENCE_LENGTH = 11  # the pointer and 10 values
DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))
_EXAMPLE = re.compile(r"^\[(\d(?:, \d){10})\] -> (\d)$")
_QUERY = re.compile(r"^\[(\d(?:, \d){10})\] ->$")


@dataclass(frozen=True)
class PvrPrompt:
    examples: tuple[tuple[tuple[int, ...], int], ...]  # (sequence, label) per in-context example
    query: tuple[int, ...]


def parse_pvr_prompt(prompt: str) -> PvrPrompt | None:
    """In-context examples and query of a PVR prompt, or None when it is not one."""
    lines = [line.strip() for line in prompt.split("\n") if line.strip()]
    query = _QUERY.match(lines[-1]) if lines else None
    if query is None:
        return None
    examples = tuple(
        (_digits(m.group(1)), int(m.group(2))) for line in lines[:-1] if (m := _EXAMPLE.match(line))
    )
    return PvrPrompt(examples, _digits(query.group(1))) if examples else None


def _digits(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(", "))


def pvr_metrics(examples: Sequence[Example]) -> tuple[dict[str, float], dict[str, int]]:
    """(metrics, counts) of the PVR examples among `examples` (others are skipped)."""
    parsed = [(p, ex.answer.strip()) for ex in examples if (p := parse_pvr_prompt(ex.prompt))]
    sequences = [seq for p, _ in parsed for seq in (*(s for s, _ in p.examples), p.query)]
    if len(parsed) < len(examples):
        logger.info(
            "%d of %d examples are no PVR prompt; skipped", len(examples) - len(parsed), len(examples)
        )
    table = MetricTable()
    table.shares("label_share", [gold for _, gold in parsed if gold], DIGITS)
    table.mean("examples_per_prompt", [len(p.examples) for p, _ in parsed])
    table.shares("pointer_share", [seq[0] for seq in sequences], DIGITS)
    table.maximum("pointer_max", [seq[0] for seq in sequences])
    table.shares("example_label_share", [label for p, _ in parsed for _, label in p.examples], DIGITS)
    return table.metrics, table.counts
