"""A resumable evaluation: a stopped run continues from its journal with the straight run's predictions."""

from __future__ import annotations

import json
import logging

import pytest

from iclm.data import acre
from iclm.data.evals_format import write_jsonl
from iclm.data.loader import load_examples
from iclm.evaluation import run as run_module
from iclm.evaluation.journal import EvaluationJournal, JournalMismatch
from iclm.evaluation.run import evaluate


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """4 ACRE puzzles (16 lines, 4 groups) and 3 lone prompts: 7 groups, 4 batches of 2 contexts."""
    records = acre.generate_acre(16, 3, "symbolic", "iid", "test")
    lone = [{"input": [{"role": "user", "content": f"{a} + {a} = "}], "ideal": str(2 * a)} for a in (1, 2, 3)]
    path = tmp_path_factory.mktemp("journal") / "acre-symbolic-iid.jsonl"
    write_jsonl(path, records + lone)
    return load_examples(path, domain="alpha").examples


@pytest.fixture
def model(make_iclm):
    return make_iclm(perturb=True, num_domains=2, dataset_names=["alpha"])


def _evaluate(model, examples, **kwargs):
    return evaluate(
        model, model.tokenizer, examples, batch_size=2, max_new_tokens=3, progress=False, **kwargs
    )


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_a_stopped_evaluation_resumes_from_its_journal_with_the_same_predictions(
    model, examples, tmp_path, monkeypatch
):
    straight = _evaluate(model, examples)
    journal = tmp_path / "journal.jsonl"
    first = _evaluate(model, examples, journal=journal)
    assert first.predictions == straight.predictions  # journaling changes nothing
    lines = _lines(journal)
    assert [json.loads(line).get("kind") for line in lines] == [None, "routes"] + ["batch"] * 4
    journal.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")  # stopped after 2 of 4 batches

    scored = []
    real = run_module._score_batch
    monkeypatch.setattr(run_module, "_score_batch", lambda *args: scored.append(args[1]) or real(*args))
    resumed = _evaluate(model, examples, journal=journal)
    assert resumed.predictions == straight.predictions
    assert resumed.results == straight.results
    assert len(scored) == 2  # only the two batches the journal did not hold were scored
    assert len(_lines(journal)) == 6


def test_a_line_cut_mid_write_is_dropped_and_that_batch_scored_again(model, examples, tmp_path, caplog):
    journal = tmp_path / "journal.jsonl"
    straight = _evaluate(model, examples, journal=journal)
    lines = _lines(journal)
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="iclm.evaluation.journal"):
        resumed = _evaluate(model, examples, journal=journal)
    assert "last line was cut" in caplog.text
    assert resumed.predictions == straight.predictions
    assert [json.loads(line)["index"] for line in _lines(journal)[2:]] == [0, 1, 2, 3]


def test_routes_are_read_back_not_recomputed(model, examples, tmp_path):
    journal = tmp_path / "journal.jsonl"
    _evaluate(model, examples, journal=journal)
    lines = _lines(journal)
    routes = json.loads(lines[1])
    routes["routes"] = [1 - r for r in routes["routes"]]  # what a resumed run must take from the journal
    journal.write_text("\n".join([lines[0], json.dumps(routes)]) + "\n", encoding="utf-8")
    resumed = _evaluate(model, examples, journal=journal)
    assert [p["route"] for p in resumed.predictions] == routes["routes"]


@pytest.mark.parametrize(
    "change, field",
    [
        ("examples", "examples"),
        ("max_length", "max_length"),
        ("share_context", "share_context"),
        ("model", "model"),
    ],
)
def test_a_journal_of_another_evaluation_is_refused_naming_the_field(
    model, make_iclm, examples, tmp_path, change, field
):
    journal = tmp_path / "journal.jsonl"
    _evaluate(model, examples[:4], journal=journal)
    kwargs = {"journal": journal}
    chosen_model, chosen_examples = model, examples[:4]
    if change == "examples":
        chosen_examples = examples[4:8]
    elif change == "max_length":
        kwargs["max_length"] = 300
    elif change == "share_context":
        kwargs["share_context"] = False
    else:
        chosen_model = make_iclm(perturb=True, num_domains=2, dataset_names=["alpha"], seed=1)
    with pytest.raises(
        JournalMismatch, match=rf"journal\.jsonl: the journal records another evaluation \({field}:"
    ):
        _evaluate(chosen_model, chosen_examples, **kwargs)


def test_a_bad_record_names_the_file_line_and_field(tmp_path):
    journal = tmp_path / "journal.jsonl"
    EvaluationJournal.open(journal, {"n": 1})
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "other"}) + "\n")
    with pytest.raises(ValueError, match=r"journal\.jsonl line 2: field 'kind'"):
        EvaluationJournal.open(journal, {"n": 1})
