"""Router embeddings cached per prompt during training.

The router reads the FROZEN base (adapters off), so an example's router embedding never changes while the
adapters train (DESIGN: "its embeddings can be cached per example"). With the cache, the router's base pass
runs once per distinct prompt: from the second epoch on a training step costs the module passes only.
Keys are the prompt's token ids (after the collator's truncation), so the cache needs no example indices
and stays exact when the sampler or the batch composition changes, packed (`packed_embeddings`) or not.
"""

from __future__ import annotations

import torch
from torch import Tensor

from iclm.packing import PackedBatch
from iclm.router import default_prompt_mask


class RouterEmbeddingCache:
    """prompt token ids -> router embedding (H,), kept on the model's device. ~2.3 KB per prompt at H=576
    in fp32, so 100k training prompts hold about 230 MB."""

    def __init__(self) -> None:
        self._store: dict[bytes, Tensor] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    @torch.no_grad()
    def embeddings(
        self,
        model,
        input_ids: Tensor,
        attention_mask: Tensor,
        prompt_mask: Tensor | None,
        labels: Tensor | None,
    ) -> Tensor:
        """Router embeddings (B, H) of a batch; only the prompts not seen before go through the base."""
        pooled = prompt_mask.bool() & attention_mask.bool() if prompt_mask is not None else None
        pooled = pooled if pooled is not None else default_prompt_mask(attention_mask, labels)
        keys = [row[mask].cpu().numpy().tobytes() for row, mask in zip(input_ids, pooled, strict=True)]
        missing = [i for i, key in enumerate(keys) if key not in self._store]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            index = torch.tensor(missing, device=input_ids.device)
            fresh = model.router_embeddings(input_ids[index], attention_mask[index], pooled[index])  # (M, H)
            for i, embedding in zip(missing, fresh, strict=True):
                self._store[keys[i]] = embedding.detach()
        return torch.stack([self._store[key] for key in keys])

    @torch.no_grad()
    def packed_embeddings(self, model, packed: PackedBatch) -> Tensor:
        """Router embeddings (S, H) of a packed batch's examples, keyed like `embeddings` (each example's
        prompt = its row's context + its query), so packed and unpacked batches share entries. On any miss the
        whole packed batch goes through the base once (its rows share their context's pass)."""
        keys = [
            torch.tensor(packed.prompt_ids(i), dtype=torch.long).numpy().tobytes()
            for i in range(packed.num_examples)
        ]
        missing = [i for i, key in enumerate(keys) if key not in self._store]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = model.packed_router_embeddings(packed)  # (S, H)
            for i in missing:
                self._store[keys[i]] = fresh[i].detach()
        return torch.stack([self._store[key] for key in keys])
