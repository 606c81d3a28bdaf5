"""A model whose router is the oracle (it routes a prompt by its true dataset) in the studio's live paths:
it loads (the warm-up gives a dataset), a prompt of one of its datasets routes to that domain module, and a
typed prompt is routed as the dataset the page's picker names, never silently."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from analysis.live_model import load_live_model
from analysis.predict import oracle_domain, routes_by_dataset
from iclm.data import Example
from studio.live import run_prompts

NAMES = ["acre-symbolic", "acre-text", "raven-symbolic"]


@pytest.fixture
def oracle_folder(make_iclm, tmp_path):
    model = make_iclm(perturb=True, num_domains=3, router={"kind": "oracle"}, dataset_names=NAMES)
    model.save_pretrained(str(tmp_path / "oracle"))
    return tmp_path / "oracle"


def test_the_oracle_domain_of_a_dataset_and_a_clear_error_for_any_other(oracle_folder, make_iclm):
    model = load_live_model(str(oracle_folder), "cpu")  # the warm-up routes: it must give a dataset
    assert routes_by_dataset(model)
    assert oracle_domain(model, "acre-text") == 1
    assert oracle_domain(model, "acre-symbolic-comp") == 0  # a test set of a training dataset
    assert oracle_domain(model, "raven-symbolic-in_center_single_out_center_single") == 2
    with pytest.raises(ValueError, match=r"routes by the true dataset .* 'typed' is none of its datasets"):
        oracle_domain(model, "typed")
    vq = make_iclm(perturb=True, num_domains=2)
    assert not routes_by_dataset(vq) and oracle_domain(vq, "typed") is None


def test_live_prompts_route_to_their_datasets_module(oracle_folder):
    model = load_live_model(str(oracle_folder), "cpu")
    prompt = "If the red cube is on, is the light on?"
    examples = [Example(f"p{i}", prompt, "on", ("on", "off"), name, "iid") for i, name in enumerate(NAMES)]
    with torch.no_grad():
        rows, _, details = run_prompts(model, model.tokenizer, examples)
    assert list(rows["route"]) == [0, 1, 2]  # the same text, routed by the dataset it is given
    typed = Example("typed", prompt, "", None, "typed", "iid")
    with pytest.raises(ValueError, match="none of its datasets"):
        run_prompts(model, model.tokenizer, [typed])
    rows, _, _ = run_prompts(model, model.tokenizer, [dataclasses.replace(typed, domain="raven-symbolic")])
    assert list(rows["route"]) == [2]


def test_the_custom_prompts_page_routes_a_typed_prompt_as_the_picked_dataset(oracle_folder, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.helpers.paths import ROOT

    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(oracle_folder.parent))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.session_state["sidebar_checkpoint"] = "oracle"
    at.run()
    at.switch_page("views/6_custom_prompts.py").run()
    at.text_area(key="prompts_text").input("If the red cube is on, is the light on?").run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    picker = at.selectbox(key="prompts_routed_as")
    assert picker.options == NAMES and picker.value == NAMES[0]
    assert any("Route: domain_0" in c.value for c in at.caption)
    picker.select("raven-symbolic").run()
    assert not at.exception and not at.error
    assert any("Route: domain_2" in c.value for c in at.caption)
