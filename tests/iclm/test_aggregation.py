"""The aggregation registry (iclm/aggregation.py): names build their classes; unknown ones list them."""

from __future__ import annotations

import pytest
import torch

from iclm.aggregation import AGGREGATIONS, build_aggregation

# Parameter names and shapes at H = 8, V = 11, as aggregation.safetensors holds them (checkpoints load).
SHAPES = {
    "projected": {"proj.weight": (8, 16), "norm.weight": (16,)},
    "fresh_head": {"head.weight": (11, 16)},
}


@pytest.mark.parametrize("kind", list(AGGREGATIONS))
def test_each_registered_aggregation_builds_with_its_parameters(kind):
    module = build_aggregation(kind, 8, torch.randn(11, 8))
    assert isinstance(module, AGGREGATIONS[kind])
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == SHAPES[kind]


def test_unknown_aggregation_lists_the_registered_ones():
    with pytest.raises(
        ValueError, match=r"aggregation='sum' is invalid; choose one of \['projected', 'fresh_head'\]"
    ):
        build_aggregation("sum", 8, torch.randn(11, 8))
