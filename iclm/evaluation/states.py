"""Last hidden states of every module of an ICLM for a batch of prompts and short continuations of them.

Every evaluation readout (see `iclm.evaluation.scoring`) is a cheap function of two modules' last hidden
states: the invariant module's and one domain module's (aggregated, or one of them through the LM head).
So a batch costs one pass per module over its prompts (invariant, domain_0..K-1), each kept as a KV cache;
choice tokens and greedy tokens are then short continuations run on copies of the prompt cache rows.

`ModuleStates.state(module, row, prefix)` is the module's last hidden state (H,) after prompt `row`
followed by the token ids `prefix` (a tuple; () = the last prompt token).
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import DynamicCache

# Rows x cached prompt tokens per continuation pass (bounds the copied KV cache: ~46 KB a token for SmolLM2).
CACHE_TOKEN_BUDGET = 16_384

StateKey = tuple[str, int, tuple[int, ...]]


def pad_rows(rows: list[list[int]], value: int) -> tuple[Tensor, Tensor]:
    """Right-pad token rows: -> ids (N, L) long, mask (N, L) long."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids, mask


def _select(cache: DynamicCache, index: Tensor) -> DynamicCache:
    """A new cache holding copies of the rows `index` (R,) of `cache` (the original is not modified)."""
    data = [(keys.index_select(0, index), values.index_select(0, index)) for keys, values, *_ in cache]
    return DynamicCache(ddp_cache_data=data)


class ModuleStates:
    """Prompt passes of `modules` over one right-padded batch of prompts, and continuations on their caches.

    prompts: token id lists (one per row). Runs each module once over the batch on construction.
    """

    def __init__(self, model, modules: list[str], prompts: list[list[int]], pad_id: int) -> None:
        self.model = model
        self.ids, self.mask = pad_rows(prompts, pad_id)  # (B, T)
        self.pad_id = pad_id
        self.caches: dict[str, DynamicCache] = {}
        self.states: dict[StateKey, Tensor] = {}
        last = self.mask.sum(-1) - 1  # (B,) last prompt position
        rows = torch.arange(len(prompts))
        for name in modules:
            cache = DynamicCache()
            hidden = model._decode(name, self.ids, self.mask, cache)[0]  # (B, T, H)
            self.caches[name] = cache
            for row, state in enumerate(hidden[rows, last]):
                self.states[(name, row, ())] = state

    def state(self, module: str, row: int, prefix: tuple[int, ...]) -> Tensor:
        """(H,) state after prompt `row` + `prefix`; `ensure` it first for a non-empty prefix."""
        return self.states[(module, row, prefix)]

    def ensure(self, keys: set[StateKey]) -> None:
        """Compute the states of `keys` not yet known (continuations, batched per module)."""
        missing = sorted(k for k in set(keys) if k not in self.states)
        by_module: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
        for module, row, prefix in missing:
            by_module.setdefault(module, []).append((row, prefix))
        width = self.ids.shape[1]
        per_pass = max(1, CACHE_TOKEN_BUDGET // width)
        for module, queries in by_module.items():
            for start in range(0, len(queries), per_pass):
                self._continue(module, queries[start : start + per_pass])

    def _continue(self, module: str, queries: list[tuple[int, tuple[int, ...]]]) -> None:
        """One pass of `module` over the prefixes of `queries` on copies of their prompt cache rows."""
        index = torch.tensor([row for row, _ in queries], dtype=torch.long)  # (R,)
        tokens, token_mask = pad_rows([list(prefix) for _, prefix in queries], self.pad_id)  # (R, L)
        mask = torch.cat([self.mask.index_select(0, index), token_mask], dim=1)  # (R, T + L)
        cache = _select(self.caches[module], index)
        hidden = self.model._decode(module, tokens, mask, cache)[0]  # (R, L, H)
        for r, (row, prefix) in enumerate(queries):
            for i in range(len(prefix)):
                self.states[(module, row, prefix[: i + 1])] = hidden[r, i]
