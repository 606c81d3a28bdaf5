"""analysis.precision: bf16 autocast of live runs keeps predictions and attributions close to fp32."""

from __future__ import annotations

import pytest
import torch

from analysis.attribution import attribute
from analysis.interventions import predict_all_modules
from analysis.precision import autocast, default_precision, native_bf16, store_linear_weights_in_bf16

PROMPT = "The cube is on. The ball is off. Is the"


def test_fp32_is_a_no_op_and_bf16_autocasts_matmuls():
    a = torch.randn(8, 8)
    with autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="precision='fp8' is invalid"):
        autocast("cpu", "fp8")


def test_default_follows_native_bf16():
    assert default_precision("cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    if not torch.cuda.is_available():
        assert not native_bf16("cuda") and default_precision("cuda") == "fp32"


def test_bf16_predictions_and_attributions_stay_close_to_fp32(make_iclm):
    model = make_iclm(perturb=True, num_domains=2)
    choices = ["on", "off", "undetermined"]
    exact = predict_all_modules(model, model.tokenizer, PROMPT, choices)
    exact_attr = attribute(model, model.tokenizer, PROMPT, method="input_x_gradient")
    with autocast("cpu", "bf16"):
        fast = predict_all_modules(model, model.tokenizer, PROMPT, choices)
        fast_attr = attribute(model, model.tokenizer, PROMPT, method="input_x_gradient")
    assert fast.route == exact.route
    for name, pred in exact.modules.items():
        assert fast.modules[name].choice_logprobs == pytest.approx(pred.choice_logprobs, abs=0.1, rel=0.02), (
            name
        )
    a = torch.tensor(exact_attr.frame["score"].to_numpy())
    b = torch.tensor(fast_attr.frame["score"].to_numpy())
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.98


def test_bf16_stored_linear_weights_give_the_same_results_under_autocast(make_iclm):
    """Autocast casts Linear weights to bf16 anyway: storing them in bf16 must change no number."""
    reference = make_iclm(perturb=True, num_domains=2)
    stored = make_iclm(perturb=True, num_domains=2)
    store_linear_weights_in_bf16(stored)
    linears = [m for m in stored.modules() if isinstance(m, torch.nn.Linear)]
    tied = stored.get_input_embeddings().weight
    assert any(m.weight.dtype == torch.bfloat16 for m in linears)
    assert all(m.weight.dtype == torch.bfloat16 for m in linears if m.weight is not tied)
    assert tied.dtype == torch.float32  # embeddings (and a head tied to them) stay fp32
    choices = ["on", "off", "undetermined"]
    with autocast("cpu", "bf16"):
        expected = predict_all_modules(reference, reference.tokenizer, PROMPT, choices)
        got = predict_all_modules(stored, stored.tokenizer, PROMPT, choices)
        expected_attr = attribute(reference, reference.tokenizer, PROMPT, method="input_x_gradient")
        got_attr = attribute(stored, stored.tokenizer, PROMPT, method="input_x_gradient")
    assert got.route == expected.route
    for name, pred in expected.modules.items():
        assert got.modules[name].choice_logprobs == pytest.approx(pred.choice_logprobs, abs=1e-5), name
    expected_scores = expected_attr.frame["score"].to_numpy()
    assert got_attr.frame["score"].to_numpy() == pytest.approx(expected_scores, abs=1e-5)
