"""`iclm.evaluation.run` on a trained tiny model: accuracies equal hand-computed ones, oracle routing,
reports."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from iclm.data.collate import ICLMCollator
from iclm.data.examples import Example
from iclm.evaluation import report, scoring
from iclm.evaluation.run import evaluate, write_evaluation
from iclm.model import ICLMForCausalLM
from iclm.readout import readouts as readout_list
from iclm.training.config import config_from_dict
from iclm.training.data import load_files
from iclm.training.run import run_training
from tests.helpers.toy_training import toy_config


def _train(tmp_path, **model):
    raw = toy_config(tmp_path, max_steps=6, log_every=6, save_every=6)
    raw["model"] |= model
    result = run_training(config_from_dict(raw))
    loaded = ICLMForCausalLM.from_pretrained(str(result.run_dir))
    examples = load_files(raw["data"]["train"])
    return loaded, examples[:5] + examples[-5:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("vq"))


def _kwargs(readout, example, mapping):
    if readout == "model" or readout == "invariant":
        return {}, "invariant_logits" if readout == "invariant" else "logits"
    if readout == "oracle":
        return {"routes": torch.tensor([mapping[example.dataset]])}, "logits"
    return {"force_route": int(readout.split("_")[1])}, "domain_logits"


@torch.no_grad()
def _by_hand(model, example, readout, mapping, explicit=None):
    """One example at a time, no padding: choice by summed log-probs, greedy by repeated argmax."""
    collate = ICLMCollator(model.tokenizer, {"alpha": 0, "beta": 1}, 48)
    kwargs, field = explicit or _kwargs(readout, example, mapping)
    totals = []
    for choice in example.choices:
        batch = collate([dataclasses.replace(example, answer=choice)])
        logits = getattr(model(batch["input_ids"], prompt_mask=batch["prompt_mask"], **kwargs), field)
        logp = torch.log_softmax(logits[0].float(), -1)
        positions = torch.nonzero(batch["labels"][0] != -100).flatten()
        totals.append(sum(float(logp[p - 1, batch["labels"][0, p]]) for p in positions))
    batch = collate([example])
    ids = batch["input_ids"][0][batch["prompt_mask"][0]].tolist()
    prompt_len, n_answer = len(ids), int((batch["labels"][0] != -100).sum())
    for _ in range(n_answer):
        mask = torch.tensor([[True] * prompt_len + [False] * (len(ids) - prompt_len)])
        logits = getattr(model(torch.tensor([ids]), prompt_mask=mask, **kwargs), field)
        ids.append(int(logits[0, -1].argmax()))
    greedy = model.tokenizer.decode(ids[prompt_len:], skip_special_tokens=True).strip()
    return example.choices[totals.index(max(totals))], greedy


def test_accuracy_equals_hand_computed_predictions(trained):
    model, examples = trained
    result = evaluate(model, model.tokenizer, examples, batch_size=4, max_new_tokens=4)
    mapping = result.results["oracle_map"]
    assert result.results["readouts"] == ["model", "invariant", "domain_0", "domain_1", "oracle"]
    for readout in result.results["readouts"]:
        hits = {"greedy": 0, "choice": 0}
        for example, row in zip(examples, result.predictions, strict=True):
            choice, greedy = _by_hand(model, example, readout, mapping)
            assert row["readouts"][readout]["choice"] == choice, (readout, example.id)
            assert row["readouts"][readout]["greedy"] == greedy, (readout, example.id)
            hits["choice"] += choice == example.answer
            hits["greedy"] += greedy == example.answer
        for method in ("greedy", "choice"):
            got = result.results["splits"]["iid"][method][readout]
            assert got == pytest.approx(hits[method] / len(examples)), (readout, method)


def test_oracle_routing_equals_forcing_the_right_module(tmp_path, monkeypatch):
    from iclm.evaluation import run as evaluation_run

    model, examples = _train(tmp_path, router={"kind": "oracle"})
    assert model.config.num_domains == 2

    def no_base_pass(*args, **kwargs):
        raise AssertionError("an oracle router's routes need no base pass")

    monkeypatch.setattr(evaluation_run, "shared_router_embeddings", no_base_pass)
    monkeypatch.setattr(evaluation_run.packed_states, "packed_router_embeddings", no_base_pass)
    result = evaluate(model, model.tokenizer, examples, batch_size=4)
    assert result.results["oracle_map"] == {"alpha": 0, "beta": 1}
    for row in result.predictions:
        forced = row["readouts"][f"domain_{row['oracle_route']}"]
        oracle = row["readouts"]["oracle"]
        assert row["route"] == row["oracle_route"]
        example = next(e for e in examples if e.id == row["id"])
        by_force = _by_hand(model, example, None, None, ({"force_route": row["oracle_route"]}, "logits"))
        assert (oracle["choice"], oracle["greedy"]) == by_force
        assert forced["choice"] in example.choices


def test_baseline_omits_missing_modules_and_compares_in_one_table(tmp_path, trained):
    model, examples = trained
    base_model, _ = _train(tmp_path, variant="baseline", num_domains=1)
    iclm = evaluate(model, model.tokenizer, examples, batch_size=4)
    base = evaluate(base_model, base_model.tokenizer, examples, batch_size=4)
    assert base.results["readouts"] == ["model"]
    write_evaluation(base, tmp_path / "base_eval", "baseline")
    loaded = report.load_results(tmp_path / "base_eval" / "results.json")
    table = report.markdown_table([("iclm", iclm.results), ("baseline", loaded)])
    assert "iclm:invariant" in table and "baseline:model" in table and "baseline:invariant" not in table
    lines = (tmp_path / "base_eval" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == len(examples) and json.loads(lines[0])["split"] == "iid"


def test_evaluate_cli_writes_results(tmp_path, trained):
    from iclm.__main__ import main

    model, examples = trained
    model.save_pretrained(str(tmp_path / "ckpt"))
    data = tmp_path / "alpha.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt": e.prompt, "answer": e.answer, "choices": list(e.choices)}) + "\n"
            for e in examples
        )
    )
    assert main(["evaluate", str(tmp_path / "ckpt"), "--data", str(data), "--limit", "3"]) == 0
    results = json.loads((tmp_path / "ckpt" / "eval" / "results.json").read_text())
    assert results["datasets"][0]["n"] == 3
    assert (tmp_path / "ckpt" / "eval" / "results.md").read_text().startswith("| dataset")


def test_evaluate_cli_resumes_from_a_journal_and_refuses_another_runs(tmp_path, trained, capsys):
    from iclm.__main__ import main

    model, examples = trained
    model.save_pretrained(str(tmp_path / "ckpt"))
    data = tmp_path / "alpha.jsonl"
    data.write_text("".join(json.dumps({"prompt": e.prompt, "answer": e.answer}) + "\n" for e in examples))
    journal = tmp_path / "state" / "journal.jsonl"
    command = ["evaluate", str(tmp_path / "ckpt"), "--data", str(data), "--journal", str(journal)]
    assert main(command + ["--limit", "3"]) == 0
    straight = (tmp_path / "ckpt" / "eval" / "predictions.jsonl").read_text()
    lines = journal.read_text().splitlines()
    journal.write_text(lines[0] + "\n" + lines[1] + "\n")  # stopped before its first batch
    assert main(command + ["--limit", "3"]) == 0
    assert (tmp_path / "ckpt" / "eval" / "predictions.jsonl").read_text() == straight
    assert main(command + ["--limit", "2"]) == 2  # other examples: refused, naming the journal
    assert "journal.jsonl: the journal records another evaluation (examples:" in capsys.readouterr().err


def test_evaluate_cli_rejects_a_folder_without_config(tmp_path):
    from iclm.__main__ import main

    assert main(["evaluate", str(tmp_path), "--data", str(tmp_path / "x.jsonl")]) == 2


# ---------------------------------------------------------------- fast path = full-forward reference
FAST_EXAMPLES = [
    Example("a:1", "Pick one: A B C -> ", "B", ("A", "B", "C"), "alpha", "iid", "alpha"),
    Example("b:1", "Is the light on? It is ", "undetermined", ("on", "off", "undetermined"), "beta", "ood"),
    Example("b:2", "2 + 3 = ", "5", None, "beta", "iid"),
    Example(
        "g:1", "A much longer prompt, so the batch is padded: x y z -> ", "12", ("12", "7"), "gamma", "ood"
    ),
]
DATASET_IDS = {"alpha": 0, "beta": 1, "gamma": 0}


@torch.no_grad()
def _reference(model, example, kwargs, field, steps):
    """Unpadded full forwards: each choice's summed log-prob (+ EOS) and `steps` greedy tokens."""
    collate = ICLMCollator(model.tokenizer, DATASET_IDS, 4096)
    scores = []
    for choice in example.choices or ():
        batch = collate([dataclasses.replace(example, answer=choice)])
        out = model(
            batch["input_ids"], prompt_mask=batch["prompt_mask"], domain_ids=batch["domain_ids"], **kwargs
        )
        logp = torch.log_softmax(getattr(out, field)[0].float(), -1)
        labels = batch["labels"][0]
        scores.append(sum(float(logp[p - 1, labels[p]]) for p in torch.nonzero(labels != -100).flatten()))
    batch = collate([example])
    ids = batch["input_ids"][0][batch["prompt_mask"][0]].tolist()
    start = len(ids)
    for _ in range(steps):
        mask = torch.tensor([[True] * start + [False] * (len(ids) - start)])
        out = model(torch.tensor([ids]), prompt_mask=mask, domain_ids=batch["domain_ids"], **kwargs)
        ids.append(int(getattr(out, field)[0, -1].argmax()))
    return scores, ids[start:]


def _reference_kwargs(readout, oracle_route):
    if readout.oracle:
        return {"routes": torch.tensor([oracle_route])}
    return {} if readout.force_route is None else {"force_route": readout.force_route}


@pytest.mark.parametrize(
    "fields",
    [{"variant": "iclm"}, {"variant": "iclm", "aggregation": "fresh_head"}, {"variant": "no_invariant"}],
    ids=["iclm", "fresh_head", "no_invariant"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["cached", "packed"])
def test_fast_scores_equal_full_forward_reference(make_iclm, fields, packed):
    from iclm.data.collate import pad_rows
    from iclm.evaluation import fast, packed_states
    from iclm.evaluation.groups import group_prompts
    from iclm.evaluation.prompts import encode_prompts
    from iclm.evaluation.states import ModuleStates

    model = make_iclm(perturb=True, num_domains=2, dataset_names=["alpha", "beta"], **fields)
    tokenizer = model.tokenizer
    encoded = encode_prompts(FAST_EXAMPLES, tokenizer, DATASET_IDS, 4096, max_new_tokens=3)
    assert [len(e.choices) for e in encoded] == [3, 3, 0, 2]
    assert {len(c) for e in encoded for c in e.choices} >= {2, 3, 13}  # single- and multi-token (+ EOS)
    prompts = [e.prompt_ids for e in encoded]
    ids, mask = pad_rows(prompts, tokenizer.pad_token_id)
    routes = model.route(ids, mask, mask.bool()).routes.tolist()
    oracle = [1, 0, scoring.NO_ROUTE, 1 - routes[3]]
    items = [
        fast.BatchItem(e.choices, e.greedy_length, r, o)
        for e, r, o in zip(encoded, routes, oracle, strict=True)
    ]
    pad = tokenizer.pad_token_id
    if packed:  # one group per prompt: the prompt, then its choices' prefixes, in one row
        groups = group_prompts(prompts, share=False)
        prefixes = packed_states.choice_prefixes(items)
        states = packed_states.PackedModuleStates(model, model.module_names, groups, pad, prefixes)
    else:
        states = ModuleStates(model, model.module_names, prompts, pad)
    scorer = fast.Scorer(model, states, items)
    readouts = readout_list(model.config)
    assert readouts[-1].oracle and len(readouts) == (5 if fields["variant"] == "iclm" else 4)
    scores, generated = fast.choice_scores(scorer, readouts), fast.greedy(scorer, readouts)
    for readout in readouts:
        for row, example in enumerate(FAST_EXAMPLES):
            if readout.oracle and oracle[row] == scoring.NO_ROUTE:
                assert row not in generated[readout.name] and row not in scores[readout.name]
                continue
            kwargs = _reference_kwargs(readout, oracle[row])
            want, tokens = _reference(model, example, kwargs, readout.field, items[row].greedy_length)
            assert generated[readout.name][row] == tokens, (readout.name, example.id)
            if example.choices:
                assert scores[readout.name][row] == pytest.approx(want, abs=1e-4), (readout.name, example.id)


def test_evaluate_predictions_equal_reference_for_every_readout(make_iclm):
    model = make_iclm(perturb=True, num_domains=2, dataset_names=["alpha", "beta"])
    result = evaluate(model, model.tokenizer, FAST_EXAMPLES, batch_size=3, max_new_tokens=3, progress=False)
    mapping = result.results["oracle_map"]
    for example, row in zip(FAST_EXAMPLES, result.predictions, strict=True):
        assert row["id"] == example.id
        for name, got in row["readouts"].items():
            readout = next(r for r in readout_list(model.config) if r.name == name)
            kwargs = _reference_kwargs(readout, mapping.get(example.domain or example.dataset))
            steps = min(len(model.tokenizer(example.answer, add_special_tokens=False)["input_ids"]) + 1, 3)
            scores, tokens = _reference(model, example, kwargs, readout.field, steps)
            assert got["greedy"] == model.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            if example.choices:
                assert got["choice"] == example.choices[scores.index(max(scores))], (name, example.id)
        assert ("oracle" in row["readouts"]) == ((example.domain or example.dataset) in mapping)


def test_truncated_prompts_are_counted_in_a_warning(make_iclm, caplog):
    model = make_iclm(perturb=True, num_domains=2)
    with caplog.at_level("WARNING", logger="iclm.evaluation.run"):
        evaluate(model, model.tokenizer, FAST_EXAMPLES, max_length=30, progress=False)
    assert "2 of 4 prompts (2 of them o.o.d.) do not fit max_length=30" in caplog.text


def test_evaluate_cli_max_length_defaults_to_the_training_config(tmp_path):
    from iclm.checkpoint import training_max_length
    from iclm.data.tokens import DEFAULT_MAX_LENGTH

    assert training_max_length(tmp_path) is None and DEFAULT_MAX_LENGTH == 2048
    (tmp_path / "training_config.json").write_text(json.dumps({"training": {"max_length": 448}}))
    assert training_max_length(tmp_path) == 448


@pytest.mark.parametrize("flag", ["--max-length", "--threads", "--batch-size"])
def test_evaluate_cli_rejects_a_non_positive_number(tmp_path, trained, capsys, flag):
    from iclm.__main__ import main

    model, _ = trained
    model.save_pretrained(str(tmp_path / "ckpt"))
    assert main(["evaluate", str(tmp_path / "ckpt"), "--data", "x.jsonl", flag, "0"]) == 2
    assert f"{flag}=0 is invalid" in capsys.readouterr().err


def test_summary_table_has_a_row_per_run_and_readout_with_split_accuracies():
    from iclm.evaluation.report import summary_table

    results = {
        "readouts": ["model", "invariant"],
        "splits": {
            "iid": {"greedy": {"model": 0.5, "invariant": 0.25}, "choice": {"model": 0.75}, "n": 4},
            "ood": {"greedy": {"model": 0.0, "invariant": 1.0}, "choice": {"model": 0.5}, "n": 2},
        },
    }
    lines = summary_table([("iclm", results), ("copy", results)]).splitlines()
    assert lines[0] == "| run | readout | iid (n) | ood (n) |"
    assert lines[2] == "| iclm | model | 50.0 / 75.0 (4) | 0.0 / 50.0 (2) |"
    assert lines[3] == "| iclm | invariant | 25.0 / – (4) | 100.0 / – (2) |"
    assert sum(line.startswith("| copy |") for line in lines) == 2


def test_results_carry_wilson_intervals_chance_and_majority(trained):
    """Every accuracy cell of results.json has its n and 95% Wilson interval; every dataset its chance and
    majority-answer accuracy, computed from the predictions themselves."""
    from iclm.evaluation.statistics import wilson_interval

    model, examples = trained
    result = evaluate(model, model.tokenizer, examples, batch_size=4, max_new_tokens=4)
    for entry in result.results["datasets"]:
        rows = [p for p in result.predictions if p["dataset"] == entry["dataset"]]
        for method in ("greedy", "choice"):
            for readout, accuracy in entry[method].items():
                cell = entry["intervals"][method][readout]
                correct = sum(r["readouts"][readout][f"{method}_correct"] for r in rows)
                expected = wilson_interval(correct, len(rows))
                assert (cell["correct"], cell["n"]) == (correct, len(rows))
                assert cell["accuracy"] == pytest.approx(accuracy)
                assert (cell["low"], cell["high"]) == pytest.approx((expected.low, expected.high))
                assert cell["low"] <= accuracy <= cell["high"]
        sizes = [len(e.choices) for e in examples if e.dataset == entry["dataset"]]
        assert entry["chance"] == pytest.approx(sum(1 / s for s in sizes) / len(sizes))
        golds = [e.answer for e in examples if e.dataset == entry["dataset"]]
        assert entry["majority"] == pytest.approx(max(golds.count(g) for g in set(golds)) / len(golds))
    assert "intervals" in result.results["splits"]["iid"]


def test_evaluate_cli_no_pack_gives_the_packed_predictions(tmp_path, trained):
    from iclm.__main__ import main

    model, examples = trained
    model.save_pretrained(str(tmp_path / "ckpt"))
    data = tmp_path / "alpha.jsonl"
    data.write_text("".join(json.dumps({"prompt": e.prompt, "answer": e.answer}) + "\n" for e in examples))
    outputs = []
    for extra in ([], ["--no-pack"]):
        out = tmp_path / ("cached" if extra else "packed")
        assert main(["evaluate", str(tmp_path / "ckpt"), "--data", str(data), "--out", str(out)] + extra) == 0
        outputs.append((out / "predictions.jsonl").read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == len(examples)
