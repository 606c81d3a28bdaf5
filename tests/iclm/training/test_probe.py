"""The training probe (iclm/training/probe.py): its cheap passes give what the full forwards gave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iclm.training.data import ProbeSet
from iclm.training.probe import _pool, probe_metrics


def test_probe_metrics_equal_those_of_full_forwards(make_iclm, tiny_batch):
    """The probe runs the model once with loss_only and only the forced domain module per route; the
    numbers equal full forwards' (the natural pass and one force_route pass per domain, as it ran before:
    ~3x the work on SmolLM2, most of it LM heads over every position)."""
    from iclm.metrics.similarity import linear_cka

    model = make_iclm(num_domains=2, perturb=True, seed=3)
    probe = ProbeSet(batches=[tiny_batch, tiny_batch], labels=np.array([0, 1, 0, 1, 0, 1, 0, 1]))
    record = probe_metrics(model, probe)
    with torch.no_grad():
        full = [model(**tiny_batch) for _ in probe.batches]
        tokens = sum(int((tiny_batch["labels"][:, 1:] != -100).sum()) for _ in full)
        loss = sum(float(o.loss_terms.lm) * tokens / len(full) for o in full) / tokens
        assert record["probe_loss"] == pytest.approx(loss, rel=1e-5)
        inv = torch.cat([_pool(o.invariant_hidden, tiny_batch["labels"])[0] for o in full]).numpy()
        for d in range(2):
            forced = [model(**tiny_batch, force_route=d) for _ in probe.batches]
            dom = torch.cat([_pool(o.domain_hidden, tiny_batch["labels"])[0] for o in forced]).numpy()
            assert record["cka"][f"domain_{d}"] == pytest.approx(linear_cka(inv, dom), rel=1e-5)
    assert set(record["mi_ksg"]) == {"domain_0", "domain_1"}


def test_the_router_base_pass_runs_once_per_probe_example_for_the_whole_run(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, perturb=True, seed=4)
    probe = ProbeSet(batches=[tiny_batch], labels=np.array([0, 1, 0, 1]))
    first = probe_metrics(model, probe)
    assert (probe.router_cache.misses, probe.router_cache.hits) == (4, 0)
    again = probe_metrics(model, probe)
    assert (probe.router_cache.misses, probe.router_cache.hits) == (4, 4)
    assert again == first


def test_the_probe_follows_how_the_router_assigns_each_dataset(make_iclm, tiny_batch):
    """Per dataset, the share of its probe examples routed to each domain: the curve an extension run
    needs (old vs new tasks); the routes are the model's own."""
    from iclm.training.probe import routing_by_dataset

    assert routing_by_dataset(np.array([0, 1, 1, 2]), ("a", "a", "b", "b"), 3) == {
        "a": {"domain_0": 0.5, "domain_1": 0.5, "domain_2": 0.0},
        "b": {"domain_0": 0.0, "domain_1": 0.5, "domain_2": 0.5},
    }
    model = make_iclm(num_domains=2, perturb=True, seed=5)
    names = ("old", "new", "old", "new")
    probe = ProbeSet(batches=[tiny_batch], labels=np.array([0, 1, 0, 1]), names=names)
    record = probe_metrics(model, probe)
    with torch.no_grad():
        routes = model(**tiny_batch).routes.numpy()
    assert record["probe_routing_by_dataset"] == routing_by_dataset(routes, names, 2)
    assert "probe_routing_by_dataset" not in probe_metrics(model, ProbeSet([tiny_batch], np.zeros(4, int)))


def test_a_probe_dataset_the_run_does_not_train_on_gets_its_own_label(tiny_tokenizer):
    from iclm.data.collate import ICLMCollator
    from iclm.data.examples import Example
    from iclm.training.data import build_probe

    examples = [
        Example(f"{d}:{i}", f"{d} {i} ->", "x", None, d, "iid") for d in ("new", "old") for i in range(2)
    ]
    probe = build_probe(examples, ICLMCollator(tiny_tokenizer, {"new": 0, "old": 1}, 32), {"new": 0}, 2)
    assert probe.labels.tolist() == [0, 0, 1, 1] and probe.names == ("new", "new", "old", "old")


def test_probe_every_runs_the_probe_at_its_multiples_and_the_last_step(tmp_path):
    """On SmolLM2 a 32-example probe costs minutes against seconds for a record: `probe_every` keeps the
    loss curve at every `log_every` and the probe at fewer steps (and always at the last)."""
    import json

    from iclm.training.config import config_from_dict
    from iclm.training.run import run_training
    from tests.helpers.toy_training import toy_config

    raw = toy_config(tmp_path, max_steps=6, log_every=1, save_every=6)
    raw["training"]["probe_every"] = 4
    run = run_training(config_from_dict(raw)).run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in records if "loss" in r]
    probed = [r["step"] for r in records if "probe_loss" in r]
    assert logged == [1, 2, 3, 4, 5, 6] and probed == [4, 6]
    raw["training"]["probe_every"] = 3
    raw["training"]["log_every"] = 2
    with pytest.raises(ValueError, match="multiple of log_every=2"):
        config_from_dict(raw)
