"""Tests for iclm/metrics/routing.py: routing fractions and codebook perplexity (also codebook_usage's)."""

import numpy as np
import pytest
import torch

from iclm.metrics.routing import codebook_perplexity, routing_fractions
from iclm.router import codebook_usage


def test_perplexity_and_fractions_on_known_assignments():
    assert codebook_perplexity(np.array([0, 1, 0, 1]), 2) == pytest.approx(2.0)
    assert codebook_perplexity(np.array([1, 1, 1]), 2) == pytest.approx(1.0)
    assert routing_fractions(np.array([0, 1, 1, 1]), 3) == [0.25, 0.75, 0.0]


def test_perplexity_of_uniform_usage_is_the_number_of_codes():
    assert codebook_perplexity(np.arange(12) % 4, 4) == pytest.approx(4.0)
    assert codebook_perplexity(np.array([], dtype=np.int64), 4) == 0.0


def test_codebook_usage_reports_the_same_perplexity():
    routes = np.array([0, 0, 2, 1, 0, 2, 2, 2])
    usage = codebook_usage(torch.from_numpy(routes), 4)
    assert usage.perplexity == codebook_perplexity(routes, 4)
    assert usage.fractions.tolist() == pytest.approx(routing_fractions(routes, 4))
    assert usage.dead == (3,)
