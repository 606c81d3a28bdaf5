"""analysis.attribution: causal zeros, IG completeness, word-level ablation, targets, progress, errors."""

from __future__ import annotations

import pytest
import torch

from analysis.attribution import attribute, word_groups

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
    with torch.no_grad():  # the tiny model's pad row is zero (padding_idx): give the baseline a real vector
        pad = model.tokenizer.pad_token_id
        model.get_input_embeddings().weight[pad] = 0.02 * torch.randn(
            64, generator=torch.Generator().manual_seed(1)
        )
    result = attribute(
        model, model.tokenizer, PROMPT, method="integrated_gradients", n_steps=48, internal_batch_size=48
    )
    for module, target in result.targets.items():
        total = result.frame.loc[result.frame["module"] == module, "score"].sum()
        difference = target.logprob - target.baseline_logprob
        assert abs(total - difference) <= 0.02 * abs(difference) + 1e-4, module
        assert target.delta == pytest.approx(total - difference, abs=1e-5)


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
    off = model.tokenizer("off", add_special_tokens=False)["input_ids"][0]
    assert {t.token_id for t in result.targets.values()} == {off}
    routed = int(model.route(torch.tensor([model.tokenizer(PROMPT)["input_ids"]])).routes[0])
    assert result.route == routed and result.targets["aggregated"].route == routed
    assert result.targets["domain_1"].route == 1


def test_progress_counts_integral_steps(model):
    calls = []
    attribute(
        model, model.tokenizer, PROMPT, method="integrated_gradients", modules=["invariant", "domain_0"],
        n_steps=10, internal_batch_size=4, progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls[-1] == (20, 20) and len(calls) == 6
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


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
    result = attribute(model, model.tokenizer, "The capital of France is", target=" Paris")
    assert set(result.frame["module"]) == {"aggregated", "invariant", "domain_0", "domain_1"}
    assert result.frame["score"].notna().all() and (result.frame["score"] != 0).any()
    assert result.targets["invariant"].logprob > -5  # a real LM: Paris is likely (adapters start at identity)


@pytest.mark.parametrize("variant", ["iclm", "no_invariant"])
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
    embeds = model.get_input_embeddings()(ids).detach()
    setup = {"route": fast.route, "position": ids.shape[1] - 1, "embeds": embeds, "base": embeds * 0}
    setup |= {"words": torch.zeros(ids.shape[1], dtype=torch.long), "method": method, "n_steps": 1}
    setup |= {"batch": 1, "tokenizer": model.tokenizer}
    target_id = attribution._target_id(model.tokenizer, target)
    assert list(fast.targets) == ["aggregated", *model.module_names] and ticks[-1] == len(fast.targets)
    for readout, expected_target in fast.targets.items():
        scores, reference = attribution._attribute_module(
            model, readout, ids, setup, target_id, lambda n: None
        )
        got = torch.tensor(
            fast.frame[fast.frame["module"] == readout]["score"].to_numpy(), dtype=scores.dtype
        )
        torch.testing.assert_close(got, scores, atol=1e-5, rtol=1e-4, msg=readout)
        assert expected_target.token_id == reference.token_id and expected_target.route == reference.route
        assert expected_target.logprob == pytest.approx(reference.logprob, abs=1e-5)
