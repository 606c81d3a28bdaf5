import torch

from iclm.mi import answer_token_mi, batch_mi


def reference_mi(x, y, eps=1e-10):
    """The reference's N x D x D formulation, for small inputs only."""
    p, q = torch.softmax(x, -1), torch.softmax(y, -1)
    joint = torch.einsum("nd,ne->nde", p, q).mean(0)
    prod = p.mean(0)[:, None] * q.mean(0)[None, :]
    joint = joint.clamp_min(eps)
    return (joint * (joint.log() - prod.clamp_min(eps).log())).sum()


def test_matches_outer_product_formulation():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 12, generator=g), torch.randn(50, 12, generator=g)
    torch.testing.assert_close(batch_mi(x, y), reference_mi(x, y), rtol=1e-5, atol=1e-7)


def test_dependent_states_have_more_mi_than_independent():
    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(400, 8, generator=g)
    independent = batch_mi(x, 3 * torch.randn(400, 8, generator=g))
    assert batch_mi(x, x) > 10 * independent >= 0


def test_identical_rows_carry_no_information():
    x = torch.randn(1, 6).repeat(30, 1)
    assert batch_mi(x, torch.randn(1, 6).repeat(30, 1)).abs() < 1e-6


def test_gradients_flow_and_empty_batch_is_zero():
    x = torch.randn(10, 5, requires_grad=True)
    batch_mi(x, torch.randn(10, 5)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert batch_mi(torch.zeros(0, 5), torch.zeros(0, 5)) == 0


def test_answer_token_mi_uses_only_labelled_positions():
    g = torch.Generator().manual_seed(0)
    inv, dom = torch.randn(2, 5, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    labels = torch.full((2, 5), -100)
    labels[:, 3:] = 1
    expected = batch_mi(inv[:, 3:].reshape(-1, 8), dom[:, 3:].reshape(-1, 8))
    torch.testing.assert_close(answer_token_mi(inv, dom, labels), expected)
