"""iclm/fingerprints.py: the hashes that say two runs saw the same model and the same examples."""

from __future__ import annotations

import pytest
import torch

from iclm.data import acre
from iclm.data.evals_format import write_jsonl
from iclm.data.loader import load_examples
from iclm.fingerprints import examples_hash, model_hash


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    path = tmp_path_factory.mktemp("hashes") / "acre-symbolic-iid.jsonl"
    write_jsonl(path, acre.generate_acre(8, 3, "symbolic", "iid", "test"))
    return load_examples(path, domain="alpha").examples


def test_the_model_hash_follows_every_trained_weight(make_iclm):
    model = make_iclm(perturb=True, num_domains=2, dataset_names=["alpha"])
    before = model_hash(model)
    assert model_hash(model) == before
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "lora" in n).view(-1)[0] += 1e-6
    assert model_hash(model) != before


def test_the_examples_hash_follows_order_and_answers(examples):
    assert examples_hash(examples) == examples_hash(list(examples))
    assert examples_hash(examples) != examples_hash(examples[::-1])
    changed = [examples[0].__class__(**{**examples[0].__dict__, "answer": "other"})] + list(examples[1:])
    assert examples_hash(examples) != examples_hash(changed)
