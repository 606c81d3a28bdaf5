"""analysis.interventions: forced routes match the engine, drops change outputs, summary arithmetic,
swaps, validation; predict_all_modules matches the evaluation's choice scores."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from analysis.interventions import (
    InterventionChoice,
    intervention_summary,
    intervention_table,
    predict_all_modules,
    standard_interventions,
)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    from iclm.data.generate import task_spec, write_task_file
    from iclm.data.loader import load_examples

    root = tmp_path_factory.mktemp("data")
    found = []
    for task, split in (("acre", "iid"), ("pvr", "holdout")):
        spec = task_spec(task=task, n=4, seed=2, render="symbolic", split=split, part="test")
        found += load_examples(write_task_file(spec, root / f"{spec.dataset}.jsonl")).examples
    return found


@pytest.fixture
def model(make_iclm):
    return make_iclm(perturb=True, num_domains=2)


def _engine_predictions(model, examples, readout):
    """Predictions of the evaluation code (model(force_route=k) etc.), choice scoring or greedy."""
    from analysis.predict import make_collator
    from iclm.evaluation import scoring

    collator = make_collator(model, model.tokenizer, examples)
    found = []
    for example in examples:
        if example.choices:
            scores = scoring.choice_scores(model, collator, [example], readout, 8)[0]
            found.append(example.choices[max(range(len(scores)), key=scores.__getitem__)])
        else:
            tokens = scoring.greedy_batch(model, collator, [example], readout, 8)[0]
            found.append(model.tokenizer.decode(tokens, skip_special_tokens=True).strip())
    return found


@pytest.mark.parametrize("k", [0, 1])
def test_forced_route_matches_the_engine(model, examples, k):
    from iclm.readout import Readout

    table = intervention_table(model, model.tokenizer, examples, [InterventionChoice("force_route", route=k)])
    rows = table[table["intervention"] == f"force_route_{k}"]
    assert (rows["route"] == k).all()
    assert rows["prediction"].tolist() == _engine_predictions(
        model, examples, Readout("f", "logits", force_route=k)
    )


def test_dropping_a_module_changes_outputs(model, examples):
    table = intervention_table(
        model,
        model.tokenizer,
        examples,
        [InterventionChoice("drop_invariant"), InterventionChoice("drop_domain")],
    )
    changed = table.groupby("intervention")["changed"].sum()
    assert changed["drop_invariant"] > 0 and changed["drop_domain"] > 0


def test_swap_never_keeps_the_route(model, examples):
    table = intervention_table(
        model, model.tokenizer, examples, [InterventionChoice("none"), InterventionChoice("swap")]
    )
    none = table[table["intervention"] == "none"]["route"].to_numpy()
    swapped = table[table["intervention"] == "swap_+1"]["route"].to_numpy()
    assert (swapped == (none + 1) % 2).all()


def test_summary_sums(model, examples):
    table = intervention_table(model, model.tokenizer, examples)
    assert set(table["intervention"]) == {i.name for i in standard_interventions(model.config)}
    summary = intervention_summary(table)
    assert summary["n"].sum() == len(table) == len(examples) * 6
    assert summary["n_correct"].sum() == int(table["correct"].sum())
    for row in summary.itertuples():
        part = table[(table["dataset"] == row.dataset) & (table["intervention"] == row.intervention)]
        assert row.n == len(part) and row.accuracy == pytest.approx(part["correct"].mean())
        assert row.changed == pytest.approx(part["changed"].mean())
    assert (summary.loc[summary["intervention"] == "none", "changed"] == 0).all()


def test_force_route_needs_a_route():
    with pytest.raises(ValueError, match="Intervention.route=None is invalid"):
        InterventionChoice("force_route")


def test_unknown_kind():
    with pytest.raises(ValueError, match="Intervention.kind='mute' is invalid"):
        InterventionChoice("mute")


def test_drop_needs_an_invariant_module(make_iclm, examples):
    baseline = make_iclm(variant="baseline")
    with pytest.raises(ValueError, match="needs variant 'iclm'"):
        intervention_table(baseline, baseline.tokenizer, examples, [InterventionChoice("drop_invariant")])


def test_forced_route_out_of_range(model, examples):
    with pytest.raises(ValueError, match="Intervention.route=5 is invalid"):
        intervention_table(model, model.tokenizer, examples, [InterventionChoice("force_route", route=5)])


def test_predict_all_modules_matches_choice_scoring(model, examples):
    from analysis.predict import make_collator
    from iclm.evaluation.scoring import choice_scores
    from iclm.readout import Readout

    example = next(e for e in examples if e.choices)
    result = predict_all_modules(model, model.tokenizer, example.prompt, example.choices, top_k=3)
    collator = make_collator(model, model.tokenizer, [example])
    readouts = {
        "aggregated": Readout("m", "logits"),
        "invariant": Readout("i", "invariant_logits"),
        "domain_0": Readout("d0", "domain_logits", force_route=0),
        "domain_1": Readout("d1", "domain_logits", force_route=1),
    }
    for name, readout in readouts.items():
        expected = choice_scores(model, collator, [example], readout, 8)[0]
        assert result.modules[name].choice_logprobs == pytest.approx(expected, abs=1e-4), name
    ids = torch.tensor([model.tokenizer(example.prompt)["input_ids"]])
    routed = model.route(ids)
    assert result.route == int(routed.routes[0])
    # the router's view comes with the prediction (the studio places prompts with it, no second pass)
    torch.testing.assert_close(torch.from_numpy(result.router_embeddings), routed.embeddings[0].float())
    torch.testing.assert_close(torch.from_numpy(result.router_projected), routed.projected[0].float())
    assert set(result.modules) >= {"aggregated_domain_0", "aggregated_domain_1"}
    frame = result.top_tokens_frame()
    assert len(frame) == 3 * len(result.modules) and (frame.groupby("module")["probability"].sum() <= 1).all()


def test_predict_all_modules_without_choices(make_iclm):
    model = make_iclm(variant="no_invariant", num_domains=2)
    result = predict_all_modules(model, model.tokenizer, "2 + 3 = ")
    assert list(result.modules) == ["aggregated", "domain_0", "domain_1"]
    top = result.modules["domain_0"].top_tokens
    assert result.modules["domain_0"].prediction == top[0][0].strip() and top[0][1] >= top[1][1]


# ---------------------------------------------------------------- device plumbing (studio with device=cuda)
def test_model_device_is_the_parameters_device(model):
    from analysis.predict import model_device

    assert model_device(model) == next(model.parameters()).device == torch.device("cpu")
    assert model_device(torch.nn.Linear(2, 2).to(torch.float64)) == torch.device("cpu")


def _entry_points(model, examples, tmp_path):
    from analysis.attribution import attribute
    from analysis.collect import collect

    example = examples[0]
    return {
        "collect": lambda: collect(model, examples[:2], tmp_path / "art", forced_sample=1, progress=False),
        "intervention_table": lambda: intervention_table(model, model.tokenizer, examples[:2]),
        "predict_all_modules": lambda: predict_all_modules(
            model, model.tokenizer, example.prompt, example.choices
        ),
        "attribute": lambda: attribute(model, model.tokenizer, example.prompt, modules=["invariant"]),
    }


@pytest.mark.parametrize("name", ["collect", "intervention_table", "predict_all_modules", "attribute"])
def test_entry_points_send_every_model_input_to_model_device(model, examples, tmp_path, monkeypatch, name):
    """Each entry point asks `model_device` and every tensor reaching the model's route/forward/decoder is
    on that device (checked here on the CPU; the same path puts them on cuda in the studio)."""
    from analysis import predict

    asked, seen = [], []
    device = predict.model_device(model)
    monkeypatch.setattr(predict, "model_device", lambda m: asked.append(m) or device)
    for method in ("route", "forward", "_decode"):
        original = getattr(model, method)

        def spy(*args, _original=original, **kwargs):
            seen.extend(v.device for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor))
            return _original(*args, **kwargs)

        monkeypatch.setattr(model, method, spy)
    _entry_points(model, examples, tmp_path)[name]()
    assert asked and all(m is model for m in asked)
    assert seen and set(seen) == {device}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", ["collect", "intervention_table", "predict_all_modules", "attribute"])
def test_entry_points_run_with_the_model_on_cuda(model, examples, tmp_path, name):
    model.to("cuda")
    _entry_points(model, examples, tmp_path)[name]()


def test_interventions_reach_the_run_as_intervention_values(model, examples, monkeypatch):
    """A forced route goes to the run as force_route (a swap as route_shift, a drop as drop_module) on the
    router's routes, not as precomputed routes read by an oracle readout."""
    from analysis import predict
    from iclm import interventions as model_interventions

    seen, original = [], predict.predict_readouts

    def spy(model, tokenizer, examples, routes, readouts, **kwargs):
        seen.append((routes.clone(), [r.intervention for r in readouts]))
        return original(model, tokenizer, examples, routes, readouts, **kwargs)

    monkeypatch.setattr(predict, "predict_readouts", spy)
    chosen = [
        InterventionChoice("none"),
        InterventionChoice("force_route", route=1),
        InterventionChoice("swap"),
    ]
    chosen.append(InterventionChoice("drop_invariant"))
    table = intervention_table(model, model.tokenizer, examples, chosen)
    ((routes, values),) = seen  # one run: every intervention read from the same module passes
    assert torch.equal(
        routes, predict.model_routes(model, predict.make_collator(model, model.tokenizer, examples), examples)
    )
    assert values == [
        model_interventions.Intervention(),
        model_interventions.Intervention(force_route=1),
        model_interventions.Intervention(route_shift=1),
        model_interventions.Intervention(drop_module="invariant"),
    ]
    assert (table.loc[table["intervention"] == "force_route_1", "route"] == 1).all()


def test_batch_by_batch_with_progress_gives_the_same_table(make_iclm):
    """A studio job runs the table one batch at a time to report progress and stop between batches."""
    from iclm.data.examples import Example

    model = make_iclm(perturb=True)
    examples = [Example(f"d:{i}", f"{i} + {i} =", str(2 * i), None, "d", "iid") for i in range(5)]
    whole = intervention_table(model, model.tokenizer, examples, batch_size=2)
    seen = []
    parts = intervention_table(
        model, model.tokenizer, examples, batch_size=2, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]
    pd.testing.assert_frame_equal(parts, whole)
