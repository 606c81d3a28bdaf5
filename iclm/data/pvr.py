"""Pointer value retrieval (Zhang et al., 2021), symbolic, as the benchmark's ``gen_data_pvr.py`` builds it.

Follows Strong-AI-Lab/Logical-and-abstract-reasoning ``data/PVR/gen_data_pvr.py`` (itself after
OfirKedem/Pointer-Value-Retrieval); the code here is written from its rules, not copied.

Sequence. An 11-element list ``[p, v0, ..., v9]``: the ten values are uniform over 0..9 and the pointer p
is uniform over ``0 .. 9 - complexity``, so the window ``values[p : p + complexity + 1]`` (a plain slice,
no wrap-around) always lies inside the list. The label aggregates that window with ``sum`` (mod 10),
``min``, ``max``, ``median`` (lower median for even windows, so ``min`` at complexity 1) or ``majority``
(most frequent value, smallest on ties); at complexity 0 every aggregation gives ``values[p]``.
Complexity may be 0..9 (the benchmark script has no cap; at 9 the pointer is always 0 and the window
is the whole list). Our aggregation names map to the benchmark's CLI values ``mod_sum``, ``min``, ``max``,
``median``, ``maj_vote`` and to its file-name suffixes ``sum``, ``min``, ``max``, ``median``, ``majvote``.

Line. One system-role instruction, ``n_examples`` solved examples ``"[p, v0, ..., v9] -> label"`` and one
query ``"[p, v0, ..., v9] -> "`` (trailing space), all drawn independently, as system messages; ``ideal`` is
the query's integer label; no choice_strings. The benchmark's default is 3 examples (``--nb_trials_ex 3``),
which is ours too; its ``_{N}ex`` files use N examples.

Split ``iid``: no restriction (the benchmark's ``--holdout 0``, directory ``symbolic/IID``).

Split ``holdout`` with ``holdout=K`` (the benchmark's ``--holdout K``; K=1 is ``symbolic/Holdout1``): the
held-out set is the first K permutations of ``(0, 1, ..., complexity)`` in ``itertools.permutations``
order, matched against the whole window, so 1 <= K <= (complexity + 1)!.

* ``part="train"`` (the benchmark's default side, the shipped Holdout1 files): for every example and the
  query, each held-out permutation is taken in turn and, if the window currently equals it, all ten
  values are shifted +1 mod 10 (the pointer is left alone). This is not rejection sampling: it skews the
  distribution (complexity 0, K=1: value 0 never sits at the pointer and value 1 sits there twice as often
  as any other value). For complexity < 9 no held-out window survives; at complexity 9 a shift can turn
  one permutation into another that was already handled, exactly as in the benchmark.
* ``part="test"`` (the benchmark's ``--adversarial`` o.o.d. side, never committed upstream): the window of
  every example and of the query is overwritten with a held-out permutation chosen uniformly at random,
  so the in-context examples are out of distribution too.

Files. The benchmark names its (evaluation) files ``train_complexity{c}[_{agg}][_{N}ex].jsonl`` under
``data/PVR/symbolic/IID`` and ``data/PVR/symbolic/Holdout1``: the aggregation suffix only for c >= 1, the
``_{N}ex`` suffix only when N differs from 3 (see `benchmark_file_name`). The benchmark's ``--is_algo``
instruction variant and its hand-edited chain-of-thought file are not generated here.

Randomness. The benchmark draws with torch's global RNG and never seeds it, so its files cannot be
reproduced. We use a ``random.Random`` keyed on the whole spec instead: the same arguments always give
the same records, with the benchmark's format and distribution but not its sequences.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from iclm.data.evals_format import message, record
from iclm.data.task_spec import TaskSpec

Aggregation = Literal["sum", "min", "max", "median", "majority"]
PvrSplit = Literal["iid", "holdout"]
PVR_SPLITS: tuple[str, ...] = ("iid", "holdout")
MAX_COMPLEXITY = 9
DEFAULT_N_EXAMPLES = 3
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
BENCHMARK_AGGREGATION: dict[str, str] = {  # our name -> the benchmark's --aggregation_method value
    "sum": "mod_sum",
    "min": "min",
    "max": "max",
    "median": "median",
    "majority": "maj_vote",
}
BENCHMARK_FILE_SUFFIX: dict[str, str] = {  # our name -> the benchmark's file-name suffix
    "sum": "sum",
    "min": "min",
    "max": "max",
    "median": "median",
    "majority": "majvote",
}


def _check_complexity(complexity: int) -> None:
    if (
        isinstance(complexity, bool)
        or not isinstance(complexity, int)
        or not 0 <= complexity <= MAX_COMPLEXITY
    ):
        raise ValueError(f"complexity must be an integer in 0..{MAX_COMPLEXITY}, got {complexity!r}")


def held_out_permutations(complexity: int, holdout: int = 1) -> list[tuple[int, ...]]:
    """The benchmark's held-out windows: the first `holdout` permutations of (0, ..., complexity)."""
    _check_complexity(complexity)
    n_perms = math.factorial(complexity + 1)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or not 1 <= holdout <= n_perms:
        raise ValueError(
            f"holdout must be an integer in 1..{n_perms} ((complexity + 1)!) for complexity {complexity}, "
            f"got {holdout!r}"
        )
    return list(itertools.islice(itertools.permutations(range(complexity + 1)), holdout))


def window(seq: list[int], complexity: int) -> list[int]:
    """The pointed window ``values[p : p + complexity + 1]`` of an 11-element sequence (never wraps)."""
    if len(seq) != 11:
        raise ValueError(f"a PVR sequence has 11 elements (pointer + 10 values), got {len(seq)}")
    pointer, values = seq[0], seq[1:]
    if not 0 <= pointer <= MAX_COMPLEXITY - complexity:
        raise ValueError(
            f"pointer must be in 0..{MAX_COMPLEXITY - complexity} at complexity {complexity}, got {pointer}"
        )
    return values[pointer : pointer + complexity + 1]


def pvr_label(seq: list[int], complexity: int, aggregation: Aggregation) -> int:
    """Label of an 11-element sequence (pointer + 10 values): the aggregated window."""
    w = window(seq, complexity)
    return w[0] if complexity == 0 else AGGREGATIONS[aggregation](w)


def benchmark_file_name(
    complexity: int, aggregation: Aggregation = "sum", n_examples: int = DEFAULT_N_EXAMPLES
) -> str:
    """The benchmark's file name for these settings, e.g. ``train_complexity2_sum.jsonl``."""
    agg = "" if complexity == 0 else f"_{BENCHMARK_FILE_SUFFIX[aggregation]}"
    ex = "" if n_examples == DEFAULT_N_EXAMPLES else f"_{n_examples}ex"
    return f"train_complexity{complexity}{agg}{ex}.jsonl"


def _remove_held_out(
    values: list[int], pointer: int, complexity: int, index: dict[tuple[int, ...], int]
) -> list[int]:
    """The benchmark's train side: for each held-out permutation in order, shift all values +1 mod 10 if
    the window equals it. Permutations are distinct, so after the shift for permutation i only one later
    permutation (the new window, if its index is > i) can still apply."""
    last = -1
    while True:
        i = index.get(tuple(values[pointer : pointer + complexity + 1]), -1)
        if i <= last:
            return values
        values = [(v + 1) % 10 for v in values]
        last = i


def _line(seq: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in seq) + "] -> "


@dataclass(frozen=True, kw_only=True)
class PvrSpec(TaskSpec):
    """A PVR file (symbolic only): complexity 0-9, aggregation of the window, n_examples in-context
    examples per line, split iid | holdout (holdout: how many permutations the holdout split holds out)."""

    task = "pvr"

    render: Literal["text", "symbolic"] = "symbolic"
    split: str = "iid"
    complexity: int = 0
    aggregation: str = "sum"
    n_examples: int = DEFAULT_N_EXAMPLES
    holdout: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.render != "symbolic":
            raise ValueError(f"render must be 'symbolic' for pvr, got {self.render!r}")
        if self.split not in PVR_SPLITS:
            raise ValueError(f"split must be one of {PVR_SPLITS} for pvr, got {self.split!r}")

    @property
    def dataset(self) -> str:
        """e.g. "pvr-symbolic-c2-sum-holdout" (no aggregation at complexity 0)."""
        agg = "" if self.complexity == 0 else f"-{self.aggregation}"
        return f"pvr-symbolic-c{self.complexity}{agg}-{self.split}"

    @property
    def is_ood(self) -> bool:
        return self.part == "test" and self.split != "iid"

    def generate(self) -> list[dict]:
        return generate_pvr(
            self.n,
            self.seed,
            self.complexity,
            self.aggregation,  # type: ignore[arg-type]
            self.n_examples,
            self.split,  # type: ignore[arg-type]
            self.part,  # type: ignore[arg-type]
            holdout=self.holdout,
        )


def generate_pvr(
    n: int,
    seed: int,
    complexity: int = 0,
    aggregation: Aggregation = "sum",
    n_examples: int = DEFAULT_N_EXAMPLES,
    split: PvrSplit = "iid",
    part: Literal["train", "test"] = "train",
    holdout: int = 1,
) -> list[dict]:
    """`n` evals records (no choice_strings; integer ideal); `holdout` (K) is used by split "holdout" only."""
    _check_complexity(complexity)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {sorted(AGGREGATIONS)}, got {aggregation!r}")
    if split not in PVR_SPLITS:
        raise ValueError(f"split must be one of {PVR_SPLITS}, got {split!r}")
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    if n_examples < 0:
        raise ValueError(f"n_examples must be >= 0, got {n_examples}")
    perms = held_out_permutations(complexity, holdout)  # validates holdout whatever the split
    key = f"pvr|{seed}|{complexity}|{aggregation}|{n_examples}|{split}|{part}"
    if split == "holdout":
        key += f"|{holdout}"
    rng = random.Random(key)
    index = {perm: i for i, perm in enumerate(perms)}
    width = complexity + 1

    def draw() -> list[int]:
        pointer = rng.randrange(10 - complexity)
        values = [rng.randrange(10) for _ in range(10)]
        if split == "holdout":
            if part == "train":
                values = _remove_held_out(values, pointer, complexity, index)
            else:
                values[pointer : pointer + width] = perms[rng.randrange(len(perms))]
        return [pointer, *values]

    out = []
    for _ in range(n):
        msgs = [message("system", INSTRUCTION)]
        for _ in range(n_examples):
            seq = draw()
            msgs.append(message("system", _line(seq) + str(pvr_label(seq, complexity, aggregation))))
        query = draw()
        msgs.append(message("system", _line(query)))
        out.append(record(msgs, pvr_label(query, complexity, aggregation)))
    return out
