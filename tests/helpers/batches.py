"""Batches built by hand from (prompt, answer) pairs for the tiny tokenizer."""

from __future__ import annotations

import torch


def make_batch(tokenizer, pairs: list[tuple[str, str]], domain_ids: list[int] | None = None) -> dict:
    """Right-padded batch from (prompt, answer) pairs; labels are -100 outside the answer tokens."""
    rows, labels = [], []
    for prompt, answer in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"]
        rows.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    lab = torch.tensor([lb + [-100] * (width - len(lb)) for lb in labels])
    dom = torch.tensor(domain_ids if domain_ids is not None else [i % 2 for i in range(len(rows))])
    return {"input_ids": ids, "attention_mask": mask, "labels": lab, "domain_ids": dom}
