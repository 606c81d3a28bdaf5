"""Pointer value retrieval (Zhang et al., 2021), symbolic, in the benchmark's evals format.

A sequence is 11 digits: a pointer p then 10 values. Complexity 0: the label is value[p]. Complexity
c >= 1: the label aggregates the window value[p], ..., value[p + c] (indices wrap around mod 10) with
``sum`` (mod 10), ``min``, ``max``, ``median`` (lower median for even windows) or ``majority`` (most
frequent, smallest on ties). A line shows ``n_examples`` solved sequences and one query, all as system
messages, exactly as the benchmark's PVR files.

Split ``holdout``: for every pointer p one value (3p + 1) mod 10 is held out at the pointed position;
``part="train"`` never shows a held-out (pointer, value) pair, ``part="test"`` asks only about held-out
pairs (with in-context examples from the training distribution). Split ``iid`` has no restriction.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Literal

from iclm.data.evals_format import message, record

Aggregation = Literal["sum", "min", "max", "median", "majority"]
PvrSplit = Literal["iid", "holdout"]
PVR_SPLITS: tuple[str, ...] = ("iid", "holdout")
INSTRUCTION = (
    "Figure out the pattern in the following examples and apply it to the test case. Your answer must follow "
    "the format of the examples."
)
AGGREGATIONS: dict[str, Callable[[list[int]], int]] = {
    "sum": lambda w: sum(w) % 10,
    "min": min,
    "max": max,
    "median": lambda w: int(statistics.median_low(w)),
    "majority": lambda w: min(Counter(w).items(), key=lambda kv: (-kv[1], kv[0]))[0],
}


def held_out(pointer: int, value: int) -> bool:
    """Whether (pointer, value at the pointer) is held out of the holdout split's training part."""
    return value == (3 * pointer + 1) % 10


def pvr_label(seq: list[int], complexity: int, aggregation: Aggregation) -> int:
    """Label of an 11-digit sequence (pointer + 10 values)."""
    pointer, values = seq[0], seq[1:]
    window = [values[(pointer + i) % 10] for i in range(complexity + 1)]
    return window[0] if complexity == 0 else AGGREGATIONS[aggregation](window)


def _sequence(rng: random.Random, holdout: bool | None) -> list[int]:
    """Random sequence; holdout=True forces a held-out pair, False forbids one, None leaves it free."""
    while True:
        seq = [rng.randrange(10) for _ in range(11)]
        if holdout is None or held_out(seq[0], seq[1 + seq[0]]) == holdout:
            return seq


def _line(seq: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in seq) + "] -> "


def generate_pvr(
    n: int,
    seed: int,
    complexity: int = 0,
    aggregation: Aggregation = "sum",
    n_examples: int = 4,
    split: PvrSplit = "iid",
    part: Literal["train", "test"] = "train",
) -> list[dict]:
    """`n` evals records (no choice_strings; integer ideal)."""
    if complexity not in (0, 1, 2):
        raise ValueError(f"complexity must be 0, 1 or 2, got {complexity!r}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {sorted(AGGREGATIONS)}, got {aggregation!r}")
    if split not in PVR_SPLITS:
        raise ValueError(f"split must be one of {PVR_SPLITS}, got {split!r}")
    if n_examples < 0:
        raise ValueError(f"n_examples must be >= 0, got {n_examples}")
    rng = random.Random(f"pvr|{seed}|{complexity}|{aggregation}|{n_examples}|{split}|{part}")
    context_holdout = False if split == "holdout" else None
    query_holdout = None if split == "iid" else part == "test"
    out = []
    for _ in range(n):
        msgs = [message("system", INSTRUCTION)]
        for _ in range(n_examples):
            seq = _sequence(rng, context_holdout)
            msgs.append(message("system", _line(seq) + str(pvr_label(seq, complexity, aggregation))))
        query = _sequence(rng, query_holdout)
        msgs.append(message("system", _line(query)))
        out.append(record(msgs, pvr_label(query, complexity, aggregation)))
    return out
