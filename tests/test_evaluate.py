"""`iclm.evaluate` on a trained tiny model: accuracies equal hand-computed ones, oracle routing, reports."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from test_train import toy_config

from iclm.data.collate import ICLMCollator
from iclm.evaluate import evaluate, write_evaluation
from iclm.evaluation import report
from iclm.model import ICLMForCausalLM
from iclm.training.config import config_from_dict
from iclm.training.data import load_files
from iclm.training.run import run_training


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


def test_oracle_routing_equals_forcing_the_right_module(tmp_path):
    model, examples = _train(tmp_path, router={"kind": "oracle"})
    assert model.config.num_domains == 2
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


def test_evaluate_cli_rejects_a_folder_without_config(tmp_path):
    from iclm.__main__ import main

    assert main(["evaluate", str(tmp_path), "--data", str(tmp_path / "x.jsonl")]) == 2
