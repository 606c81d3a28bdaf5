"""Mutual-information penalty between invariant and domain-specific hidden states (the paper's estimator).

Each answer-token state s is turned into a distribution over its D features with a softmax:
p(x|s) for the invariant module, q(y|s) for the domain module. With N states,
P(X) = mean_s p(x|s), P(Y) = mean_s q(y|s), and the joint P(X, Y) = mean_s p(x|s) q(y|s)^T = P^T Q / N,
one (D, N) @ (N, D) matmul (the N x D x D tensor of per-sample outer products is never built).
MI = KL(P(X, Y) || P(X) P(Y)), with clamping so the logs stay finite.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = 1e-10


def batch_mi(x: Tensor, y: Tensor, eps: float = _EPS) -> Tensor:
    """Batch MI estimate between two sets of paired states.

    Args:
        x: (N, D) invariant-module states (one row per answer token).
        y: (N, D) domain-module states, row i paired with x[i].
    Returns:
        scalar tensor >= 0 (up to rounding); 0 when N == 0. Differentiable in x and y.
    """
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(
            f"batch_mi expects two (N, D) tensors of the same shape, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    n = x.shape[0]
    if n == 0:
        return x.sum() * 0.0
    p = torch.softmax(x.float(), dim=-1)  # (N, D) p(x|s)
    q = torch.softmax(y.float(), dim=-1)  # (N, D) q(y|s)
    joint = (p.transpose(0, 1) @ q) / n  # (D, D) P(X, Y)
    marg_x = p.mean(dim=0)  # (D,) P(X)
    marg_y = q.mean(dim=0)  # (D,) P(Y)
    product = marg_x[:, None] * marg_y[None, :]  # (D, D) P(X) P(Y)
    joint_c = joint.clamp_min(eps)
    return (joint_c * (joint_c.log() - product.clamp_min(eps).log())).sum()


def answer_token_mi(invariant_hidden: Tensor, domain_hidden: Tensor, labels: Tensor) -> Tensor:
    """MI between the two modules' states at answer tokens (labels != -100).

    Args:
        invariant_hidden: (B, T, H); domain_hidden: (B, T, H); labels: (B, T) with -100 on prompt/padding.
    Returns:
        scalar tensor (0 when there is no answer token).
    """
    mask = labels != -100  # (B, T)
    return batch_mi(invariant_hidden[mask], domain_hidden[mask])  # (N, H) each
