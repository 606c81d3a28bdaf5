"""Every studio page on a checkpoint whose files are corrupt (#17 item 7): one line naming the file and what
is wrong, never a traceback nor a server path; a part that cannot be read disables only what needs it.

Each case corrupts its own copy of the tiny checkpoint (bench/tiny_checkpoints.py, built once per process
and never touched) and opens every page through streamlit's AppTest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.tiny_checkpoints import build_checkpoints
from studio.text import plain
from tests.helpers.paths import ROOT
from tests.helpers.studio_jobs import settle

APP = str(ROOT / "app.py")
TIMEOUT = 240
NAME = "iclm-tiny"
PAGES = {
    "overview": None,
    "clusters": "views/2_router_clusters.py",
    "dynamics": "views/3_training_dynamics.py",
    "correlation": "views/4_module_correlation.py",
    "predictions": "views/5_predictions.py",
    "prompts": "views/6_custom_prompts.py",
    "interventions": "views/7_interventions.py",
}
TEXT_ELEMENTS = ("error", "warning", "info", "caption", "markdown", "title", "header", "subheader")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The shipped-like checkpoints folder (iclm-tiny, baseline-tiny); read only."""
    return build_checkpoints(tmp_path_factory.mktemp("studio"))


@pytest.fixture
def copy(built, tmp_path, monkeypatch) -> Callable[..., Path]:
    """`copy(name)`: a copy of one built checkpoint under tmp_path/checkpoints, the studio's root."""
    root = tmp_path / "checkpoints"
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(root))

    def make(name: str = NAME) -> Path:
        return shutil.copytree(built / name, root / name, ignore=shutil.ignore_patterns("checkpoints"))

    return make


def _texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in (*TEXT_ELEMENTS, "exception") for e in getattr(at, kind)]


def _clean(at: AppTest, tmp_path: Path) -> AppTest:
    """No exception, no traceback and no server path (the test's tmp folder) in any text shown."""
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(_texts(at))
    assert "Traceback" not in shown and str(tmp_path) not in shown, shown
    return at


def _visit(at: AppTest, page: str) -> AppTest:
    if PAGES[page] is not None:
        at.switch_page(PAGES[page]).run()
    if page == "prompts":  # the map reads the artifact once there are prompts
        at.text_area(key="prompts_text").input("first prompt").run()
    return at


def _write(relative: str, data: bytes) -> Callable[[Path], object]:
    return lambda folder: (folder / relative).write_bytes(data)


def _truncate(relative: str) -> Callable[[Path], object]:
    return lambda folder: (folder / relative).write_bytes((folder / relative).read_bytes()[:200])


def _bad_step(folder: Path) -> None:
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": "x", "loss": 1.0}\n')


ARTIFACT_PAGES = {"clusters": "error", "correlation": "error", "predictions": "error", "prompts": "error",
                  "interventions": "error"}  # fmt: skip
#: case -> (corruption, the file it names, {page: how it is named there}); every other page shows no error.
CASES = {
    "metrics not UTF-8": (_write("metrics.jsonl", b"\xff\xfe\x00garbage\n"), "metrics.jsonl",
                          {"overview": "warning", "dynamics": "error"}),
    "metrics step not a number": (_bad_step, "metrics.jsonl", {"dynamics": "warning"}),
    "results truncated": (_write("eval/results.json", b'{"splits": {'), "eval/results.json",
                          {"overview": "error"}),
    "results a list": (_write("eval/results.json", b"[1, 2]"), "eval/results.json", {"overview": "error"}),
    "manifest truncated": (_write("analysis/manifest.json", b'{"format": 1, '), "analysis/manifest.json",
                           ARTIFACT_PAGES),
    "examples truncated": (_truncate("analysis/examples.parquet"), "analysis/examples.parquet",
                           ARTIFACT_PAGES),
    "states zero bytes": (_write("analysis/states.safetensors", b""), "analysis/states.safetensors",
                          ARTIFACT_PAGES),
    "training config a list": (_write("training_config.json", b"[1, 2]"), "training_config.json",
                               {"overview": "warning"}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_corrupt_file_is_named_on_the_pages_that_read_it_and_the_others_work(copy, tmp_path, case):
    corrupt, relative, named = CASES[case]
    corrupt(copy())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    for page in PAGES:
        _clean(_visit(at, page), tmp_path)
        errors, warnings = [e.value for e in at.error], [w.value for w in at.warning]
        kind = named.get(page)
        if kind is None:
            assert not errors, (page, errors)
        else:
            messages = errors if kind == "error" else warnings
            assert any(plain(f"{NAME}/{relative}") in m for m in messages), (page, errors, warnings)
    at.switch_page("views/1_overview.py").run()
    assert at.title[0].value == f"Overview · {NAME}" and at.table  # the model card is always there


def test_a_corrupt_training_log_disables_only_the_dynamics_figures(copy, tmp_path):
    _write("metrics.jsonl", b"\xff\xfe")(copy())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert at.dataframe and at.get("plotly_chart")  # the overview's accuracy is still drawn
    assert dict(at.table[0].value.itertuples(index=False))["steps trained"] == "—"
    _visit(at, "dynamics")
    assert not at.get("plotly_chart") and "not UTF-8" in at.error[0].value


def test_broken_other_checkpoints_are_left_out_of_comparisons_and_overlays(copy, tmp_path):
    copy()
    other = copy("baseline-tiny")
    _write("eval/results.json", b"{")(other)
    _write("metrics.jsonl", b"\xff")(other)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _clean(at, tmp_path)
    assert any("baseline-tiny left out" in w.value for w in at.warning)
    assert set(at.dataframe[0].value["checkpoint"]) == {NAME}
    _visit(at, "dynamics")
    at.multiselect(key="dynamics_runs").select("baseline-tiny").run()
    _clean(at, tmp_path)
    assert any("not overlaid" in w.value and "metrics.jsonl" in w.value for w in at.warning)
    assert at.get("plotly_chart")  # the page's own run is drawn


def _loop(tmp_path: Path) -> str:
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    return str(loop)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        (lambda tmp: f"{tmp}/run\x00x", "contains a NUL byte"),
        (lambda tmp: "/" + "x" * 5000, "is 5,001 characters"),
        (lambda tmp: f"{tmp}/" + "x" * 300, "File name too long"),
        (_loop, "ymlink loop"),
    ],
    ids=["nul byte", "5,000 characters", "a name over 255 bytes", "symlink loop"],
)
def test_a_typed_folder_path_that_cannot_name_a_folder_is_one_clear_line(built, monkeypatch, tmp_path, typed,
                                                                          says):  # fmt: skip
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(built))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["sidebar_folder"] = typed(tmp_path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.sidebar.error]
    assert error.startswith("Cannot open this checkpoint") and says in error and len(error) < 600
    assert "Traceback" not in " ".join(_texts(at))
    assert at.title[0].value == f"Overview · {NAME}"  # falls back to the listed checkpoint


def _splits(ood: int) -> Callable[[Path], None]:
    """The artifact's first `ood` examples labelled ood, the rest iid (the rows and states untouched)."""

    def relabel(folder: Path) -> None:
        import pandas as pd

        path = folder / "analysis" / "examples.parquet"
        examples = pd.read_parquet(path)
        examples["split"] = ["ood" if i < ood else "iid" for i in range(len(examples))]
        examples.to_parquet(path, index=False)

    return relabel


@pytest.mark.parametrize("ood", [4, 6])
def test_module_correlation_on_a_split_of_few_examples(copy, tmp_path, ood):
    """A split of 4-7 examples: below KSG's minimum (5) the page says so; above it the MI is estimated on
    n - 1 components and a caption says why (sklearn refused 8 components of fewer rows)."""
    _splits(ood)(copy())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _visit(at, "correlation")
    at.selectbox(key="corr_scope").select("split: ood").run()
    _clean(at, tmp_path)
    assert not at.error
    if ood < 5:
        assert any("need 5" in i.value for i in at.info)
        return
    assert at.metric[0].label == "MI, KSG (nats)"
    assert any(f"KSG on {ood - 1} principal components per module, not 8" in c.value for c in at.caption)


def test_interventions_and_predictions_on_an_artifact_of_in_memory_examples(copy, built, tmp_path):
    """An artifact collected from Examples (its manifest's data paths null): prompts and gold, scored
    greedily."""
    from analysis.collect import collect
    from iclm.data import load_examples

    folder = copy()
    data = sorted((built.parent / "data").glob("*-test.jsonl"))
    examples = [e for path in data for e in load_examples(path).examples]
    collect(
        str(folder), examples, out_dir=folder / "analysis", forced_sample=8, progress=False, overwrite=True
    )
    manifest = json.loads((folder / "analysis" / "manifest.json").read_text())
    assert {entry["path"] for entry in manifest["data"]} == {None}
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _visit(at, "interventions")
    at.button(key="interventions_one").click().run()
    _clean(at, tmp_path)
    assert not at.error and "force_route_1" in at.dataframe[0].value["intervention"].tolist()
    at.slider(key="interventions_size").set_value(2).run()
    at.button(key="interventions_many").click().run()
    settle(at)  # a sample longer than the inline wait shows its progress first
    _clean(at, tmp_path)
    assert not at.error and at.get("plotly_chart")
    _visit(at, "predictions")
    _clean(at, tmp_path)
    assert not at.error and len(at.dataframe[0].value) == len(examples)


def test_the_figure_set_leaves_unreadable_parts_out_and_says_why(copy, tmp_path):
    from studio import figure_set
    from studio.checkpoints import inspect

    folder = copy()
    _write("metrics.jsonl", b"\xff")(folder)
    _write("analysis/states.safetensors", b"")(folder)
    files = inspect(str(folder))
    figures = figure_set.standard_figures(files)
    assert any(name.startswith("accuracy_") for name in figures)
    assert not any(name.startswith(("dynamics_", "contingency_", "similarity_")) for name in figures)
    unreadable = figure_set.manifest(files, figures, set(figures))["unreadable"]
    assert set(unreadable) == {"clusters", "dynamics"}
    assert f"{NAME}/analysis/states.safetensors" in unreadable["clusters"]
    assert str(tmp_path) not in json.dumps(unreadable)
