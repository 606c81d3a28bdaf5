"""Every readout's choice scores and greedy answer for a batch of prompts, from shared module states.

A readout (`iclm.readout.Readout`) reads, for example `row`, the invariant module and/or one domain module
(`iclm.readout.modules_read`: its oracle route, or the router's route as its intervention changes it) and
turns their states into logits with `iclm.readout.readout_logits`, the function `ICLMForCausalLM.forward`
uses; but one pass per module serves every readout (see `iclm.evaluation.states`).

Scores follow the collator's tokenisation: the prompt with special tokens, each choice without, then EOS;
a choice's score is the summed log-probability of its tokens and EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from iclm.evaluation.states import ModuleStates, StateKey
from iclm.readout import NO_ROUTE, Readout, modules_read, readout_logits

LOGIT_ROWS = 256  # rows of (rows, V) log-probabilities computed at once


@dataclass(frozen=True)
class BatchItem:
    """One example of a batch: token ids of its choices (each ending in EOS; empty without choices),
    its greedy length, its router route and its oracle route (NO_ROUTE if none)."""

    choices: tuple[tuple[int, ...], ...]
    greedy_length: int
    route: int
    oracle: int


def applies(readout: Readout, item: BatchItem) -> bool:
    """The oracle readout exists only for examples whose domain has a module."""
    return not readout.oracle or item.oracle != NO_ROUTE


def module_names(config, readout: Readout, item: BatchItem) -> tuple[str | None, str | None]:
    """(invariant module or None, domain module or None) that `readout` reads for `item`."""
    return modules_read(config, readout, item.route, item.oracle)


class Scorer:
    """Log-probabilities of readouts at (row, prefix) points of one batch's `ModuleStates`."""

    def __init__(self, model, states: ModuleStates, items: list[BatchItem]) -> None:
        self.model, self.states, self.items = model, states, items
        self._read: dict[tuple[Readout, int], tuple[str | None, str | None]] = {}

    def modules(self, readout: Readout, row: int) -> tuple[str | None, str | None]:
        """`module_names` of (readout, row), kept: it is asked at every scored point."""
        key = (readout, row)
        if key not in self._read:
            self._read[key] = module_names(self.model.config, readout, self.items[row])
        return self._read[key]

    def keys(self, readout: Readout, row: int, prefix: tuple[int, ...]) -> set[StateKey]:
        return {(m, row, prefix) for m in self.modules(readout, row) if m is not None}

    def logprobs(self, readout: Readout, points: list[tuple[int, tuple[int, ...]]]) -> Tensor:
        """(N, V) next-token log-probabilities of `readout` after each (row, prefix) (states ensured)."""
        out = []
        for start in range(0, len(points), LOGIT_ROWS):
            chunk = points[start : start + LOGIT_ROWS]
            inv, dom = [], []
            for row, prefix in chunk:
                i, d = self.modules(readout, row)
                inv.append(self.states.state(i, row, prefix) if i else None)
                dom.append(self.states.state(d, row, prefix) if d else None)
            logits = readout_logits(self.model, readout.field, _stack(inv), _stack(dom))  # (n, V)
            out.append(torch.log_softmax(logits.float(), dim=-1))
        return torch.cat(out)


def _stack(states: list[Tensor | None]) -> Tensor | None:
    """n states (H,) of one readout's module -> (n, H); None where the readout does not read the module (the
    same for every row of a readout)."""
    return torch.stack(states) if states[0] is not None else None


def choice_scores(scorer: Scorer, readouts: list[Readout]) -> dict[str, dict[int, list[float]]]:
    """{readout name: {row: summed log-prob of each choice (+ EOS)}} for rows with choices."""
    rows = [r for r, item in enumerate(scorer.items) if item.choices]
    needed: set[StateKey] = set()
    for readout in readouts:
        for row in rows:
            if applies(readout, scorer.items[row]):
                for choice in scorer.items[row].choices:
                    needed |= scorer.keys(readout, row, tuple(choice[:-1]))
    scorer.states.ensure(needed)
    found: dict[str, dict[int, list[float]]] = {}
    for readout in readouts:
        points, targets, owners = [], [], []
        for row in rows:
            if not applies(readout, scorer.items[row]):
                continue
            for j, choice in enumerate(scorer.items[row].choices):
                for i, token in enumerate(choice):
                    points.append((row, tuple(choice[:i])))
                    targets.append(token)
                    owners.append((row, j))
        if not points:
            continue
        logprobs = scorer.logprobs(readout, points)  # (N, V)
        picked = logprobs.gather(-1, torch.tensor(targets, device=logprobs.device)[:, None])[:, 0]
        totals: dict[int, list[float]] = {}
        for (row, j), value in zip(owners, picked.tolist(), strict=True):
            scores = totals.setdefault(row, [0.0] * len(scorer.items[row].choices))
            scores[j] += value
        found[readout.name] = totals
    return found


def greedy(scorer: Scorer, readouts: list[Readout]) -> dict[str, dict[int, list[int]]]:
    """{readout name: {row: greedy token ids}}: `greedy_length` argmax steps each, continuations on the
    prompt caches (the first token comes from the prompt pass)."""
    tracks = {
        (readout.name, row): (readout, [])
        for readout in readouts
        for row, item in enumerate(scorer.items)
        if applies(readout, item)
    }
    longest = max((item.greedy_length for item in scorer.items), default=0)
    for step in range(longest):
        live = [
            (readout, row, tokens)
            for (_, row), (readout, tokens) in tracks.items()
            if step < scorer.items[row].greedy_length
        ]
        needed: set[StateKey] = set()
        for readout, row, tokens in live:
            needed |= scorer.keys(readout, row, tuple(tokens))
        scorer.states.ensure(needed)
        for readout in readouts:
            mine = [(row, tokens) for r, row, tokens in live if r is readout]
            if mine:
                best = scorer.logprobs(readout, [(row, tuple(t)) for row, t in mine]).argmax(-1)
                for (_, tokens), token in zip(mine, best.tolist(), strict=True):
                    tokens.append(int(token))
    found: dict[str, dict[int, list[int]]] = {}
    for (name, row), (_, tokens) in tracks.items():
        found.setdefault(name, {})[row] = tokens
    return found
