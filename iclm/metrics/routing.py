"""How a router spreads examples over its K codes: the share each code gets and the codebook perplexity.

`iclm.router.codebook_usage` and the training probes both read these, so the perplexity in
`metrics.jsonl` and the model's `codebook_usage` are one computation.
"""

from __future__ import annotations

import numpy as np


def routing_fractions(routes: np.ndarray, num_domains: int) -> list[float]:
    """Fraction of examples sent to each domain module. routes: (N,) ints in [0, K); 0s when N == 0."""
    routes = np.asarray(routes, dtype=np.int64)
    counts = np.bincount(routes, minlength=num_domains)[:num_domains].astype(np.float64)
    return (counts / max(len(routes), 1)).tolist()


def codebook_perplexity(routes: np.ndarray, num_domains: int) -> float:
    """exp(entropy of codebook usage): 1 = one code used, K = all codes used equally, 0 = no routes.
    routes: (N,) ints in [0, K)."""
    p = np.asarray(routing_fractions(routes, num_domains))
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0
