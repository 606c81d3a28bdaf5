"""iclm.interventions: the Intervention value a run takes (validation, routes, keeps) and forward /
generate applying it; forward's force_route= / drop_module= keywords build the same value."""

from __future__ import annotations

import pytest
import torch

from iclm.interventions import Intervention, from_keywords


def test_routes_forced_shifted_or_kept():
    routes = torch.tensor([0, 1, 2, 1])
    assert Intervention().routes(routes, 3) is routes
    assert Intervention(force_route=2).routes(routes, 3).tolist() == [2, 2, 2, 2]
    assert Intervention(route_shift=1).routes(routes, 3).tolist() == [1, 2, 0, 2]
    for intervention in (Intervention(), Intervention(force_route=1), Intervention(route_shift=2)):
        batch = intervention.routes(routes, 3).tolist()
        assert batch == [intervention.route(r, 3) for r in routes.tolist()]


def test_keeps_and_needs_router():
    assert Intervention(drop_module="invariant").keeps("domain")
    assert not Intervention(drop_module="invariant").keeps("invariant")
    assert Intervention().needs_router and not Intervention(force_route=0).needs_router


def test_unknown_drop_module():
    with pytest.raises(ValueError, match="drop_module='router' is invalid"):
        Intervention(drop_module="router")


def test_forced_and_shifted_routes_at_once():
    with pytest.raises(ValueError, match="force_route=1 with route_shift=1 is invalid"):
        Intervention(force_route=1, route_shift=1)


def test_forced_route_out_of_range(make_iclm):
    with pytest.raises(ValueError, match=r"force_route=2 is invalid; expected an int in \[0, 2\)"):
        Intervention(force_route=2).check(make_iclm(num_domains=2).config)


def test_drop_needs_an_invariant_module(make_iclm):
    with pytest.raises(ValueError, match="drop_module='domain' needs variant='iclm'"):
        Intervention(drop_module="domain").check(make_iclm(variant="no_invariant").config)


def test_keywords_and_value_at_once():
    assert from_keywords(None, 1, "invariant") == Intervention(force_route=1, drop_module="invariant")
    with pytest.raises(ValueError, match="intervention= with force_route= or drop_module= is invalid"):
        from_keywords(Intervention(), 1, None)


def test_forward_keywords_build_the_value(make_iclm, tiny_batch):
    model = make_iclm(perturb=True, num_domains=2)
    with torch.no_grad():
        by_keyword = model(**tiny_batch, force_route=1, drop_module="invariant")
        by_value = model(**tiny_batch, intervention=Intervention(force_route=1, drop_module="invariant"))
    torch.testing.assert_close(by_keyword.logits, by_value.logits, atol=0, rtol=0)
    assert by_value.routes.tolist() == [1, 1, 1, 1] and by_value.invariant_hidden is None


def test_forward_shifts_the_routers_routes_not_given_ones(make_iclm, tiny_batch):
    model = make_iclm(perturb=True, num_domains=3)
    shift = Intervention(route_shift=1)
    with torch.no_grad():
        routed = model(**tiny_batch).routes
        shifted = model(**tiny_batch, intervention=shift)
        given = model(**tiny_batch, routes=routed, intervention=shift)  # given routes are final
        same = model(**tiny_batch, routes=(routed + 1) % 3)
    assert shifted.routes.tolist() == ((routed + 1) % 3).tolist()
    assert given.routes.tolist() == routed.tolist()
    torch.testing.assert_close(shifted.logits, same.logits, atol=0, rtol=0)


@pytest.mark.parametrize("keywords", [{"drop_module": "invariant"}, {"drop_module": "domain"}])
def test_generate_keeps_a_dropped_module_dropped(make_iclm, tiny_tokenizer, keywords):
    """Every generation step runs without the dropped module (its KV cache was never built)."""
    model = make_iclm(num_domains=2, perturb=True)
    ids = tiny_tokenizer("The blicket is", return_tensors="pt")["input_ids"]
    generated = model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=None, **keywords)
    expected = ids
    with torch.no_grad():
        routes = model(ids).routes
        for _ in range(6):
            logits = model(expected, routes=routes, **keywords).logits
            expected = torch.cat([expected, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated, expected)
