"""The Continual learning page (views/8_continual_learning.py) on a real extension of the tiny test ICLM:
lineage, before/after accuracy with intervals, routing per probe dataset over training, invariant drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.tiny_checkpoints import build_checkpoints
from tests.helpers.paths import ROOT

APP = str(ROOT / "app.py")
PAGE = "views/8_continual_learning.py"
TIMEOUT = 240
MAX_LENGTH = 192  # as the tiny checkpoints were trained


def _evaluate_and_analyze(folder: Path, files: list[str]) -> None:
    from analysis.collect import collect
    from iclm.data import load_examples
    from iclm.evaluation.run import evaluate, write_evaluation
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_pretrained(str(folder))
    examples = [e for path in files for e in load_examples(path).examples]
    evaluation = evaluate(model, model.tokenizer, examples, batch_size=16, max_length=MAX_LENGTH)
    write_evaluation(evaluation, folder / "eval", name=folder.name)
    collect(str(folder), files, out_dir=folder / "analysis", forced_sample=4, progress=False, overwrite=True)


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> Path:
    """checkpoints/: a copy of iclm-tiny, `iclm-tiny-acre-text` (that copy grown by one domain for ACRE
    text, new) and `iclm-tiny-sequential` (the copy fine-tuned on it as it is), all evaluated and analysed
    on the old and new test files."""
    from iclm.data.generate import task_spec, write_task_file
    from iclm.extension import ExtensionPlan
    from iclm.training.extension import ExtensionData, run_extension, run_sequential

    shipped = build_checkpoints(tmp_path_factory.mktemp("studio"))
    root = tmp_path_factory.mktemp("continual") / "checkpoints"
    parent = root / "iclm-tiny"
    shutil.copytree(shipped / "iclm-tiny", parent)
    old_tests = sorted(str(p) for p in (shipped.parent / "data").glob("*-test.jsonl"))
    new_files = {}
    for part, n in (("train", 16), ("test", 6)):
        spec = task_spec(task="acre", n=n, seed=2, render="text", split="iid", part=part)
        path = root.parent / "data" / f"{spec.dataset}-{part}.jsonl"
        write_task_file(spec, path)
        new_files[part] = str(path)
    training = {"max_steps": 4, "batch_size": 4, "max_length": MAX_LENGTH, "save_every": 4, "log_every": 2}
    training |= {"router_init_examples": 8, "tensorboard": False}
    data = ExtensionData(new=(new_files["train"],), probe=(*old_tests, new_files["test"]))
    run = run_extension(parent, data, root / "iclm-tiny-acre-text", ExtensionPlan(), training)
    tuned = run_sequential(parent, data, root / "iclm-tiny-sequential", training)
    shutil.copytree(shipped / "baseline-tiny", root / "baseline-tiny")
    single = run_sequential(root / "baseline-tiny", data, root / "baseline-tiny-sequential", training)
    for folder in (parent, run.run_dir, tuned.run_dir, root / "baseline-tiny", single.run_dir):
        _evaluate_and_analyze(folder, [*old_tests, new_files["test"]])
    return root


@pytest.fixture
def app(grown, monkeypatch):
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(grown))

    def open_page(checkpoint: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["sidebar_checkpoint"] = checkpoint
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        return at

    return open_page


def test_an_extension_shows_lineage_before_after_routing_and_drift(app, grown):
    at = app("iclm-tiny-acre-text")
    lineage = at.table[0].value
    assert "iclm-tiny" in lineage.loc["parent", "value"]
    assert "domain\\_2" in lineage.loc["added", "value"] or "domain_2" in lineage.loc["added", "value"]
    table = at.dataframe[0].value
    assert set(table["role"]) == {"old", "new"} and "acre-text-iid" in set(table["dataset"])
    assert (table["before low"] <= table["before"]).all() and (table["after"] <= table["after high"]).all()
    assert table.loc[table["role"] == "new", "forgetting"].isna().all()
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # before/after bars, routing per dataset over the extension's steps
    cka = [m for m in at.metric if "CKA" in m.label]
    assert cka and float(cka[0].value) == pytest.approx(1.0, abs=1e-3)  # the invariant module was frozen
    pooled = [m for m in at.metric if m.label.startswith("Forgetting over every old test set")]
    old = table[table["role"] == "old"]
    expected = (old["forgetting"] * old["n"]).sum() / old["n"].sum()
    assert pooled and float(pooled[0].value) == pytest.approx(100 * expected, abs=0.051)


def test_the_new_tasks_before_row_comes_from_the_parent_scored_beside_the_child(grown, tmp_path, monkeypatch):
    """A shipped parent's eval/ predates the new task: its scores on the new test file live in the child's
    eval-parent/; without them the page says how to add them."""
    root = tmp_path / "checkpoints"
    for name in ("iclm-tiny", "iclm-tiny-acre-text"):
        shutil.copytree(grown / name, root / name)
    lineage_file = root / "iclm-tiny-acre-text" / "lineage.json"
    lineage = json.loads(lineage_file.read_text())
    lineage_file.write_text(json.dumps(lineage | {"parent": "/moved/iclm-tiny"}))  # found by name in root
    predictions = root / "iclm-tiny" / "eval" / "predictions.jsonl"
    lines = predictions.read_text().splitlines()
    new_lines = [line for line in lines if json.loads(line)["dataset"] == "acre-text-iid"]
    assert new_lines and len(new_lines) < len(lines)
    predictions.write_text("".join(f"{line}\n" for line in lines if line not in new_lines))
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(root))

    def page() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["sidebar_checkpoint"] = "iclm-tiny-acre-text"
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    at = page()
    assert set(at.dataframe[0].value["role"]) == {"old"}
    assert any("has no before row" in c.value and "eval-parent" in c.value for c in at.caption)
    (root / "iclm-tiny-acre-text" / "eval-parent").mkdir()
    (root / "iclm-tiny-acre-text" / "eval-parent" / "predictions.jsonl").write_text(
        "".join(f"{line}\n" for line in new_lines)
    )
    table = page().dataframe[0].value
    assert set(table["role"]) == {"old", "new"}
    assert table.loc[table["role"] == "new", "n"].iloc[0] == len(new_lines)


def test_a_sequential_fine_tuning_says_nothing_was_added_or_frozen(app):
    at = app("iclm-tiny-sequential")
    lineage = at.table[0].value
    assert lineage.loc["added", "value"].startswith("nothing: a sequential fine-tuning")
    assert lineage.loc["frozen", "value"] == "nothing"
    assert lineage.loc["aggregation", "value"] == "trained"
    assert lineage.loc["invariant module", "value"].startswith("trained")
    assert any("CKA" in m.label for m in at.metric)  # the drift of an invariant module that trained


def test_a_baseline_fine_tuned_has_no_routing_and_no_invariant_drift(app):
    at = app("baseline-tiny-sequential")
    assert set(at.dataframe[0].value["role"]) == {"old", "new"}
    captions = [c.value for c in at.caption]
    assert any("Not applicable: the variant has no router" in c for c in captions)
    assert any("Not applicable: the variant has no invariant module" in c for c in captions)
    assert len(at.get("plotly_chart")) == 1  # the before/after bars only: no routing lines of a lone module


def test_a_checkpoint_trained_from_scratch_says_how_to_extend_it(app):
    at = app("iclm-tiny")
    assert any("no lineage.json" in i.value and "python -m iclm extend" in i.value for i in at.info)


def test_a_moved_parent_is_found_by_name_in_the_checkpoints_root(grown, monkeypatch):
    from studio.checkpoints import parent_folder

    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(grown))
    assert parent_folder("/elsewhere/iclm-tiny", grown / "iclm-tiny-acre-text") == grown / "iclm-tiny"
    assert parent_folder("/elsewhere/gone", grown / "iclm-tiny-acre-text") is None
