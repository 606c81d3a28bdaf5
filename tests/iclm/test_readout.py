"""iclm.readout: readout_logits of the model's public module states equals forward's logits for every readout
and intervention; which modules a readout reads; the studio's labels; the model's public body."""

from __future__ import annotations

import pytest
import torch

from iclm.interventions import Intervention
from iclm.readout import (
    FIELD_READOUTS,
    Readout,
    available,
    from_label,
    label,
    modules_read,
    named,
    readout_logits,
    readouts,
)
from iclm.router import pool_prompt

VARIANTS = ["iclm", "no_invariant", "baseline"]


def _interventions(config) -> list[Intervention]:
    found = [Intervention()]
    if config.has_router:
        found += [Intervention(force_route=1), Intervention(route_shift=1)]
    if config.has_invariant:
        found += [Intervention(drop_module="invariant"), Intervention(drop_module="domain")]
        found += [Intervention(force_route=0, drop_module="invariant")]
    return found


def _cases(config) -> list[Readout]:
    """Every readout, and each output field under every intervention (but a dropped module's own field)."""
    cases = list(available(config))
    for intervention in _interventions(config):
        for field, base in FIELD_READOUTS.items():
            if field == "invariant_logits" and not config.has_invariant:
                continue
            if (field, intervention.drop_module) in (
                ("invariant_logits", "invariant"),
                ("domain_logits", "domain"),
            ):
                continue
            cases.append(Readout.under(base.name, field, intervention))
    return cases


@pytest.mark.parametrize("execution", ["sparse", "dense"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_readout_logits_equal_forward_for_every_readout_and_intervention(
    make_iclm, tiny_batch, variant, execution
):
    model = make_iclm(perturb=True, num_domains=3, variant=variant, execution=execution)
    ids, mask = tiny_batch["input_ids"], tiny_batch["attention_mask"]
    config = model.config
    router = model(ids, mask).routes.tolist()
    oracle = torch.tensor([(r + 2) % config.num_domains for r in router])  # differs from the router's
    with torch.no_grad():
        states = {name: model.module_states(name, ids, mask) for name in model.module_names}  # (B, T, H)
    for readout in _cases(config):
        kwargs = {"routes": oracle} if readout.oracle else {}
        with torch.no_grad():
            want = getattr(model(ids, mask, intervention=readout.intervention, **kwargs), readout.field)
            for row in range(ids.shape[0]):
                invariant, domain = modules_read(config, readout, router[row], int(oracle[row]))
                got = readout_logits(
                    model,
                    readout.field,
                    None if invariant is None else states[invariant][row],
                    None if domain is None else states[domain][row],
                )  # (T, V)
                torch.testing.assert_close(got, want[row], atol=1e-5, rtol=1e-5, msg=f"{readout} row {row}")


def test_modules_read(make_iclm):
    config = make_iclm(num_domains=3).config
    assert modules_read(config, named(config, "model"), route=2) == ("invariant", "domain_2")
    assert modules_read(config, named(config, "invariant"), route=2) == ("invariant", None)
    assert modules_read(config, named(config, "domain_0"), route=2) == (None, "domain_0")
    assert modules_read(config, named(config, "model_domain_1"), route=2) == ("invariant", "domain_1")
    assert modules_read(config, named(config, "oracle"), route=2, oracle=0) == ("invariant", "domain_0")
    shifted = Readout.under("model", "logits", Intervention(route_shift=2))
    assert modules_read(config, shifted, route=2) == ("invariant", "domain_1")
    dropped = Readout.under("model", "logits", Intervention(drop_module="invariant"))
    assert modules_read(config, dropped, route=1) == (None, "domain_1")
    no_invariant = make_iclm(num_domains=2, variant="no_invariant").config
    assert modules_read(no_invariant, named(no_invariant, "model"), route=1) == (None, "domain_1")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_evaluation_readouts(make_iclm, variant):
    config = make_iclm(num_domains=2, variant=variant, dataset_names=["a", "b"]).config
    names = [r.name for r in readouts(config)]
    expected = {
        "iclm": ["model", "invariant", "domain_0", "domain_1", "oracle"],
        "no_invariant": ["model", "domain_0", "domain_1", "oracle"],
        "baseline": ["model"],
    }
    assert names == expected[variant]


def test_unknown_readout_lists_the_valid_names(make_iclm):
    config = make_iclm(num_domains=2, variant="no_invariant").config
    with pytest.raises(
        ValueError, match=r"readout 'invariant' is invalid; choose one of \['model', 'domain'"
    ):
        named(config, "invariant")


def test_studio_labels():
    assert label("model") == "aggregated" and label("model_domain_1") == "aggregated_domain_1"
    assert label("invariant") == "invariant" and label("domain_0") == "domain_0"
    for name in ("model", "model_domain_3", "invariant", "domain", "domain_2", "oracle"):
        assert from_label(label(name)) == name


def test_module_states_of_none_is_the_frozen_base(make_iclm, tiny_batch):
    """name=None runs the base with every adapter off: the router's view of the prompt."""
    model = make_iclm(perturb=True, num_domains=2)
    ids, mask = tiny_batch["input_ids"], tiny_batch["attention_mask"]
    with torch.no_grad():
        base = model.module_states(None, ids, mask)
        invariant = model.module_states("invariant", ids, mask)
    torch.testing.assert_close(pool_prompt(base, mask.bool()), model.router_embeddings(ids, mask))
    assert not torch.allclose(base, invariant)


def test_domain_states_read_each_example_its_route(make_iclm, tiny_batch):
    model = make_iclm(perturb=True, num_domains=2)
    ids, mask = tiny_batch["input_ids"], tiny_batch["attention_mask"]
    routes = torch.tensor([1, 0, 0, 1])
    with torch.no_grad():
        got = model.domain_states(ids, mask, routes)
        for row, route in enumerate(routes.tolist()):
            want = model.module_states(f"domain_{route}", ids[row : row + 1], mask[row : row + 1])[0]
            torch.testing.assert_close(got[row], want, atol=1e-5, rtol=1e-5)


def test_aggregate_needs_an_invariant_module(make_iclm, tiny_batch):
    model = make_iclm(num_domains=2, variant="no_invariant")
    states = torch.zeros(2, model.base.config.hidden_size)
    with pytest.raises(ValueError, match="aggregate needs variant='iclm'"):
        model.aggregate(states, states)
