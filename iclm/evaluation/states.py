"""Last hidden states of every module of an ICLM for a batch of prompts and short continuations of them.

Every evaluation readout (see `iclm.readout`) is a cheap function of two modules' last hidden states: the
invariant module's and one domain module's (`iclm.readout.readout_logits`), read through the model's public
`module_states`.
So a batch costs one pass per module over its prompts (invariant, domain_0..K-1), each kept as a KV cache;
choice tokens and greedy tokens are then short continuations run on copies of the prompt cache rows.

`ModuleStates.state(module, row, prefix)` is the module's last hidden state (H,) after prompt `row`
followed by the token ids `prefix` (a tuple; () = the last prompt token). With shared contexts
(`iclm.evaluation.groups`) a row is a context and a member's own tokens are the start of every prefix.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import DynamicCache

from iclm.data.collate import pad_rows
from iclm.evaluation.groups import PromptGroup
from iclm.router import pool_prompt

# Rows x cached prompt tokens per continuation pass (bounds the copied KV cache: ~46 KB a token for SmolLM2).
CACHE_TOKEN_BUDGET = 16_384

StateKey = tuple[str, int, tuple[int, ...]]


def _select(cache: DynamicCache, index: Tensor) -> DynamicCache:
    """A new cache holding copies of the rows `index` (R,) of `cache` (the original is not modified)."""
    data = [(keys.index_select(0, index), values.index_select(0, index)) for keys, values, *_ in cache]
    return DynamicCache(ddp_cache_data=data)


class ModuleStates:
    """Prompt passes of `modules` over one right-padded batch of prompts, and continuations on their caches.

    prompts: token id lists (one per row). Runs each module once over the batch on construction. With
    `groups` (`iclm.evaluation.groups`), `prompts` is ignored and row i is the i-th member of the groups in
    order: each module runs once over the groups' contexts, then every member's own tokens on a copy of its
    context's cache rows, which becomes that row's prompt cache.

    `pooled[module]` (B, H) is each row's mean state over its prompt tokens (what the router and the
    analysis artifact pool), from the same passes.
    """

    def __init__(
        self,
        model,
        modules: list[str],
        prompts: list[list[int]],
        pad_id: int,
        groups: list[PromptGroup] | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = device if device is not None else next(model.parameters()).device
        self.caches: dict[str, DynamicCache] = {}
        self.states: dict[StateKey, Tensor] = {}
        self.pooled: dict[str, Tensor] = {}
        if groups is None:
            self.ids, self.mask = (t.to(self.device) for t in pad_rows(prompts, pad_id))  # (B, T)
            for name in modules:
                cache = DynamicCache()
                hidden = model.module_states(name, self.ids, self.mask, cache)  # (B, T, H)
                self.caches[name] = cache
                self._keep_last(name, hidden, self.mask)
            return
        context_ids, context_mask = (
            t.to(self.device) for t in pad_rows([list(g.context) for g in groups], pad_id)
        )
        index = torch.tensor([g for g, group in enumerate(groups) for _ in group.members], device=self.device)
        suffixes = [list(s) for group in groups for s in group.suffixes]
        self.ids, self.mask = context_ids.index_select(0, index), context_mask.index_select(0, index)
        tokens = None
        if any(suffixes):
            padded = pad_rows([s or [pad_id] for s in suffixes], pad_id)
            tokens, token_mask = (t.to(self.device) for t in padded)  # (B, L)
            token_mask[[i for i, s in enumerate(suffixes) if not s]] = 0  # empty suffix: nothing to attend
            self.mask = torch.cat([self.mask, token_mask], dim=1)  # (B, T + L)
            self.ids = torch.cat([self.ids, tokens], dim=1)
        for name in modules:
            cache = DynamicCache()
            hidden = model.module_states(name, context_ids, context_mask, cache)  # (G, T, H)
            hidden = hidden.index_select(0, index)  # (B, T, H): every member's context states
            members = _select(cache, index)
            if tokens is not None:
                extra = model.module_states(name, tokens, self.mask, members)  # (B, L, H)
                hidden = torch.cat([hidden, extra], dim=1)
            self.caches[name] = members
            self._keep_last(name, hidden, self.mask)

    def _keep_last(self, name: str, hidden: Tensor, mask: Tensor) -> None:
        """Store each row's state at its last attended position and its prompt mean (hidden (B, T, H),
        mask (B, T))."""
        self.pooled[name] = pool_prompt(hidden, mask.bool())
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask.bool(), positions, -1).max(-1).values  # (B,)
        rows = torch.arange(mask.shape[0], device=mask.device)
        for row, state in enumerate(hidden[rows, last]):
            self.states[(name, row, ())] = state

    def state(self, module: str, row: int, prefix: tuple[int, ...]) -> Tensor:
        """(H,) state after prompt `row` + `prefix`; `ensure` it first for a non-empty prefix."""
        return self.states[(module, row, prefix)]

    def ensure(self, keys: set[StateKey]) -> None:
        """Compute the states of `keys` not yet known (continuations, batched per module). A prefix that
        begins a longer missing prefix of the same row is not run on its own: the longer pass yields it."""
        missing = sorted(k for k in set(keys) if k not in self.states)
        by_module: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
        for i, (module, row, prefix) in enumerate(missing):
            following = missing[i + 1] if i + 1 < len(missing) else None  # sorted: an extension comes next
            if following and following[:2] == (module, row) and following[2][: len(prefix)] == prefix:
                continue
            by_module.setdefault(module, []).append((row, prefix))
        width = self.ids.shape[1]
        per_pass = max(1, CACHE_TOKEN_BUDGET // width)
        for module, queries in by_module.items():
            for start in range(0, len(queries), per_pass):
                self._continue(module, queries[start : start + per_pass])

    def _continue(self, module: str, queries: list[tuple[int, tuple[int, ...]]]) -> None:
        """One pass of `module` over the prefixes of `queries` on copies of their prompt cache rows."""
        index = torch.tensor([row for row, _ in queries], dtype=torch.long, device=self.device)  # (R,)
        padded = pad_rows([list(prefix) for _, prefix in queries], self.pad_id)
        tokens, token_mask = (t.to(self.device) for t in padded)  # (R, L)
        mask = torch.cat([self.mask.index_select(0, index), token_mask], dim=1)  # (R, T + L)
        cache = _select(self.caches[module], index)
        hidden = self.model.module_states(module, tokens, mask, cache)  # (R, L, H)
        for r, (row, prefix) in enumerate(queries):
            for i in range(len(prefix)):
                self.states[(module, row, prefix[: i + 1])] = hidden[r, i]


def _suffix_rows(groups: list[PromptGroup]) -> list[tuple[int, tuple[int, ...]]]:
    """(group row, suffix) of every member with tokens of its own after the shared context."""
    return [(g, suffix) for g, group in enumerate(groups) for suffix in group.suffixes if suffix]


@torch.no_grad()
def shared_router_embeddings(
    model, groups: list[PromptGroup], pad_id: int, device: torch.device | None = None
) -> Tensor:
    """The router's prompt-mean embedding (M, H) of every member of `groups`, in order: one base pass over
    the shared contexts, then each member's own tokens on a copy of its context's cache. Equals
    `model.router_embeddings` of each full prompt (tested)."""
    device = device if device is not None else next(model.parameters()).device
    ids, mask = (t.to(device) for t in pad_rows([list(g.context) for g in groups], pad_id))  # (G, T)
    cache = DynamicCache()
    hidden = model.module_states(None, ids, mask, cache)  # (G, T, H), the frozen base
    context_sum = (hidden * mask[..., None].to(hidden.dtype)).sum(1)  # (G, H)
    rows = _suffix_rows(groups)
    suffix_sum: dict[int, Tensor] = {}
    if rows:
        index = torch.tensor([g for g, _ in rows], dtype=torch.long, device=device)
        padded = pad_rows([list(s) for _, s in rows], pad_id)
        tokens, token_mask = (t.to(device) for t in padded)  # (R, L)
        full_mask = torch.cat([mask.index_select(0, index), token_mask], dim=1)
        extra = model.module_states(None, tokens, full_mask, _select(cache, index))  # (R, L, H)
        sums = (extra * token_mask[..., None].to(extra.dtype)).sum(1)  # (R, H)
        suffix_sum = {r: sums[r] for r in range(len(rows))}
    out, r = [], 0
    for g, group in enumerate(groups):
        for suffix in group.suffixes:
            total, count = context_sum[g], len(group.context) + len(suffix)
            if suffix:
                total, r = total + suffix_sum[r], r + 1
            out.append(total / max(count, 1))
    return torch.stack(out)
