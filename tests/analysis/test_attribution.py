"""analysis.attribution: causal zeros, IG completeness, word-level ablation, targets (in context, whole
answers, contrasts), the completeness warning, progress, errors."""

from __future__ import annotations

import warnings

import pytest
import torch

from analysis.attribution import CompletenessWarning, attribute
from analysis.attribution_result import COMPLETENESS_TOLERANCE
from analysis.attribution_targets import Contrast, answer_ids, continuations
from analysis.attribution_words import word_groups, word_scores

PROMPT = "The cube is on. The ball is off. Is the"


@pytest.fixture
def model(make_iclm):
    return make_iclm(perturb=True, num_domains=2)


@pytest.mark.parametrize("method", ["input_x_gradient", "saliency", "integrated_gradients"])
def test_tokens_after_the_read_position_get_zero(model, method):
    result = attribute(model, model.tokenizer, PROMPT, method=method, position=20, n_steps=4)
    frame = result.frame
    assert set(frame["module"]) == {"aggregated", "invariant", "domain_0", "domain_1"}
    after = frame[frame["token_index"] > 20]
    before = frame[frame["token_index"] <= 20]
    assert len(after) > 0 and (after["score"] == 0).all()
    assert (before.groupby("module")["score"].apply(lambda s: s.abs().sum()) > 0).all()


def test_integrated_gradients_completeness(model):
    """At the default step count the attributions sum to f(x) - f(baseline) within the 5% the studio
    flags (so no warning), and `delta` is that error."""
    with torch.no_grad():  # the tiny model's pad row is zero (padding_idx): give the baseline a real vector
        pad = model.tokenizer.pad_token_id
        model.get_input_embeddings().weight[pad] = 0.02 * torch.randn(
            64, generator=torch.Generator().manual_seed(1)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        result = attribute(
            model, model.tokenizer, PROMPT, method="integrated_gradients", internal_batch_size=64
        )
    for module, target in result.targets.items():
        total = result.frame.loc[result.frame["module"] == module, "score"].sum()
        difference = target.logprob - target.baseline_logprob
        assert abs(total - difference) <= COMPLETENESS_TOLERANCE * abs(difference), module
        assert target.delta == pytest.approx(total - difference, abs=1e-5)
        assert target.relative_delta == pytest.approx(abs(target.delta) / abs(difference))
    first = result.frame[result.frame["token_index"] == 0]
    assert (first["score"] == 0).all()  # the first token (attention sink) stays itself on IG's path


def test_feature_ablation_is_word_level(model):
    result = attribute(
        model, model.tokenizer, PROMPT, method="feature_ablation", modules=["invariant"], position=20
    )
    frame = result.frame
    assert frame.groupby("word")["score"].nunique().max() == 1  # every token of a word has the word's score
    words_after = set(frame.loc[frame["token_index"] > 20, "word"]) - set(
        frame.loc[frame["token_index"] <= 20, "word"]
    )
    assert words_after and (frame.loc[frame["word"].isin(words_after), "score"] == 0).all()


def test_word_groups_split_on_whitespace(tiny_tokenizer):
    ids = tiny_tokenizer("ab cd\nef", add_special_tokens=False)["input_ids"]
    assert word_groups(tiny_tokenizer, ids) == [0, 0, 1, 1, 1, 2, 2, 2]


def test_given_target_and_routes(model):
    result = attribute(model, model.tokenizer, PROMPT, target="off", modules=["aggregated", "domain_1"])
    off = tuple(model.tokenizer(" off", add_special_tokens=False)["input_ids"])
    assert {t.token_ids for t in result.targets.values()} == {off}
    routed = int(model.route(torch.tensor([model.tokenizer(PROMPT)["input_ids"]])).routes[0])
    assert result.route == routed and result.targets["aggregated"].route == routed
    assert result.targets["domain_1"].route == 1


def test_progress_counts_integral_steps(model):
    calls = []
    attribute(
        model, model.tokenizer, PROMPT, method="integrated_gradients", modules=["invariant", "domain_0"],
        n_steps=10, internal_batch_size=4, progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls[-1] == (20, 20) and len({d for d, _ in calls}) == 6  # 3 batches of <= 4 points a module
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient"])
def test_progress_fires_between_a_steps_forward_and_its_backward(model, method):
    """A job hands the lane over at every progress call: one inside each step (after its forward, before
    the backward that is most of it) halves how long a live request can wait behind a running job."""
    seen = {"forward": 0, "backward": 0}
    head = dict(model.named_modules())["base.model.norm"]  # the decoder's last layer norm
    hooks = [
        head.register_forward_hook(  # passes that will run backward (the router's no-grad pass will not)
            lambda *_: seen.__setitem__("forward", seen["forward"] + int(torch.is_grad_enabled()))
        ),
        head.register_full_backward_hook(lambda *_: seen.__setitem__("backward", seen["backward"] + 1)),
    ]
    states = []
    try:
        attribute(
            model, model.tokenizer, PROMPT, method=method, modules=["invariant"], target="off", n_steps=4,
            internal_batch_size=1, progress=lambda done, total: states.append(dict(seen)),
        )  # fmt: skip
    finally:
        for hook in hooks:
            hook.remove()
    assert seen["backward"] > 0
    assert any(s["forward"] > s["backward"] for s in states)  # a call with a step's backward still to run


def test_unknown_method(model):
    with pytest.raises(ValueError, match="method='shap' is invalid"):
        attribute(model, model.tokenizer, PROMPT, method="shap")


def test_unknown_module(model):
    with pytest.raises(ValueError, match="modules=.*is invalid"):
        attribute(model, model.tokenizer, PROMPT, modules=["domain_7"])


def test_position_out_of_range(model):
    with pytest.raises(ValueError, match="position=99 is invalid"):
        attribute(model, model.tokenizer, PROMPT, position=99)


@pytest.mark.slow
def test_smollm2_input_x_gradient_all_modules():
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_config_and_backbone(
        ICLMConfig(backbone="smollm2-135m", num_domains=2), load_backbone("smollm2-135m")
    ).eval()
    result = attribute(model, model.tokenizer, "The capital of France is", target="Paris")
    assert model.tokenizer.decode(list(result.targets["invariant"].token_ids)) == " Paris"
    assert set(result.frame["module"]) == {"aggregated", "invariant", "domain_0", "domain_1"}
    assert result.frame["score"].notna().all() and (result.frame["score"] != 0).any()
    assert result.targets["invariant"].logprob > -5  # a real LM: Paris is likely (adapters start at identity)


@pytest.mark.parametrize("variant", ["iclm", "no_invariant"])
@pytest.mark.filterwarnings("ignore::analysis.attribution_result.CompletenessWarning")
@pytest.mark.parametrize("method", ["input_x_gradient", "saliency"])
@pytest.mark.parametrize("target", [None, "off"])
def test_shared_pass_gradients_equal_captum_per_readout(make_iclm, variant, method, target):
    """The fast gradient path (one pass per module, one backward per readout) against captum's
    InputXGradient / Saliency run readout by readout (`_attribute_module`, the integrated-gradients path)."""
    from analysis import attribution

    model = make_iclm(perturb=True, num_domains=3, variant=variant)
    ticks = []
    fast = attribute(
        model, model.tokenizer, PROMPT, method=method, target=target, progress=lambda d, t: ticks.append(d)
    )
    ids = torch.tensor([model.tokenizer(PROMPT)["input_ids"]])
    found = continuations(model.tokenizer, PROMPT, target)
    setup = attribution._setup(model, model.tokenizer, ids, ids.shape[1] - 1, "zeros", found, None)
    setup |= {"method": method, "n_steps": 1, "batch": 1}
    assert list(fast.targets) == ["aggregated", *model.module_names] and ticks[-1] == len(fast.targets)
    for readout, expected_target in fast.targets.items():
        scores, reference = attribution._attribute_module(model, readout, setup, found, lambda n: None)
        got = torch.tensor(
            fast.frame[fast.frame["module"] == readout]["score"].to_numpy(), dtype=scores.dtype
        )
        torch.testing.assert_close(got, scores, atol=1e-5, rtol=1e-4, msg=readout)
        assert expected_target.token_ids == reference.token_ids and expected_target.route == reference.route
        assert expected_target.logprob == pytest.approx(reference.logprob, abs=1e-5)


def test_answer_is_tokenised_in_context_with_its_leading_space(tiny_tokenizer):
    spaced = tuple(tiny_tokenizer(" off", add_special_tokens=False)["input_ids"])
    alone = tuple(tiny_tokenizer("off", add_special_tokens=False)["input_ids"])
    assert answer_ids(tiny_tokenizer, "Is the", "off") == spaced  # the space the answer follows with
    assert answer_ids(tiny_tokenizer, "Is the ", "off") == alone  # the prompt already ends in a space
    assert answer_ids(tiny_tokenizer, "Is the", " off") == spaced  # the answer brings its own
    with pytest.raises(ValueError, match="empty"):
        answer_ids(tiny_tokenizer, "Is the", "  ")


@pytest.mark.parametrize("readout", ["aggregated", "invariant", "domain_1"])
def test_whole_answer_logprob_is_the_sum_over_its_tokens(model, readout):
    """f of a multi-token answer equals the teacher-forced sum of log-probs from forward()."""
    answer = "undetermined"
    result = attribute(model, model.tokenizer, PROMPT, target=answer, modules=[readout])
    target = result.targets[readout]
    tokens = answer_ids(model.tokenizer, PROMPT, answer)
    assert len(tokens) > 1 and target.token_ids == tokens and target.token == " undetermined"
    prompt = model.tokenizer(PROMPT)["input_ids"]
    ids = torch.tensor([prompt + list(tokens[:-1])])
    field = {"aggregated": "logits", "invariant": "invariant_logits", "domain_1": "domain_logits"}[readout]
    kwargs = {"force_route": 1} if readout == "domain_1" else {"routes": torch.tensor([result.route])}
    with torch.no_grad():
        logits = getattr(model(ids, **kwargs), field)[0, len(prompt) - 1 :]  # (A, V)
    expected = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(tokens)[:, None]).sum()
    assert target.logprob == pytest.approx(float(expected), abs=1e-4)


@pytest.mark.parametrize("method", ["input_x_gradient", "integrated_gradients", "feature_ablation"])
def test_contrast_is_the_difference_of_two_single_targets(model, method):
    run = {"method": method, "n_steps": 8, "modules": ["aggregated", "invariant"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletenessWarning)
        on = attribute(model, model.tokenizer, PROMPT, target="on", **run)
        off = attribute(model, model.tokenizer, PROMPT, target="off", **run)
        both = attribute(model, model.tokenizer, PROMPT, target=Contrast("on", "off"), **run)
    torch.testing.assert_close(
        torch.tensor(both.frame["score"].to_numpy()),
        torch.tensor(on.frame["score"].to_numpy() - off.frame["score"].to_numpy()),
        atol=1e-5,
        rtol=1e-4,
    )
    for module, target in both.targets.items():
        assert target.logprob == pytest.approx(
            on.targets[module].logprob - off.targets[module].logprob, abs=1e-5
        )
        assert target.contrast_token == " off"
    assert both.quantity == "log p(on) - log p(off)"


def test_a_low_step_count_warns_with_advice(model):
    with pytest.warns(CompletenessWarning, match="Raise the steps") as caught:
        result = attribute(
            model, model.tokenizer, PROMPT, method="integrated_gradients", n_steps=1, baseline="zeros",
            modules=["invariant"], target="off",
        )  # fmt: skip
    assert result.flagged() and result.targets["invariant"].relative_delta > 0.05
    assert str(caught[0].message) == result.advice()


def test_word_scores_sum_tokens_and_keep_the_total(model):
    result = attribute(model, model.tokenizer, PROMPT, target="off", modules=["invariant"])
    words = word_scores(result.frame, "invariant")
    assert "".join(words["text"]) == "".join(result.tokens)
    assert words["score"].sum() == pytest.approx(result.frame["score"].sum(), abs=1e-6)
    ablation = attribute(model, model.tokenizer, PROMPT, method="feature_ablation", modules=["invariant"])
    first = ablation.frame.groupby("word")["score"].first().to_numpy()
    assert word_scores(ablation.frame, "invariant")["score"].to_numpy() == pytest.approx(first)


def test_contrast_needs_two_different_answers():
    with pytest.raises(ValueError, match="must differ"):
        Contrast("on", "on")


def test_advice_names_a_readout_with_a_negligible_explained_value_apart():
    """iclm-k2's domain_1 on an ACRE text prompt: f(x) - f(baseline) = 0.054 nats and an error of 0.14 nats
    (as small as the other readouts') is 258% of it; the advice says so instead of asking for more steps."""
    import pandas as pd

    from analysis.attribution_result import AttributionResult, ModuleTarget

    def target(module, explained, delta):
        return ModuleTarget(module, 0, (1,), " on", -1.0, baseline_logprob=-1.0 - explained, delta=delta)

    targets = {"invariant": target("invariant", 6.7, -0.15), "domain_1": target("domain_1", 0.054, -0.1385)}
    result = AttributionResult("integrated_gradients", ("a",), 0, 0, targets, pd.DataFrame(), n_steps=64)
    assert set(result.flagged()) == {"domain_1"}
    advice = result.advice()
    assert "domain_1 (f(x) - f(baseline) = 0.054" in advice and "Raise the steps" not in advice
    targets["invariant"] = target("invariant", 6.7, -1.0)
    both = AttributionResult(
        "integrated_gradients", ("a",), 0, 0, targets, pd.DataFrame(), n_steps=64
    ).advice()
    assert "Raise the steps" in both and "invariant 15%" in both and "domain_1 (f(x)" in both
