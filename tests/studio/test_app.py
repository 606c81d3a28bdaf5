"""Every studio page through streamlit's AppTest on a real tiny checkpoint (trained, evaluated, analysed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.attribution import DEFAULT_IG_STEPS
from analysis.attribution_result import COMPLETENESS_TOLERANCE, NEGLIGIBLE
from bench.tiny_checkpoints import build_checkpoints
from studio.attribution_view import OTHER, RESULTS
from studio.text import plain
from tests.helpers.paths import ROOT
from tests.helpers.studio_jobs import settle as settle_jobs

APP = str(ROOT / "app.py")
TIMEOUT = 240


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> Path:
    return build_checkpoints(tmp_path_factory.mktemp("studio"))


@pytest.fixture
def app(checkpoints, monkeypatch):
    """A fresh app session on the test checkpoints; `app(page)` runs the app, then switches to `page`.

    Sidebar widgets are preset through `state` before the first run: AppTest (streamlit 1.67) drops the
    sidebar of an `st.navigation` app from its element tree on every rerun (the real browser keeps it).
    """
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(checkpoints))

    def open_page(page: str | None = None, state: dict | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        for key, value in (state or {}).items():
            at.session_state[key] = value
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return open_page


def ok(at: AppTest) -> AppTest:
    """Assert that the run raised nothing and showed no error, and that no element renders raw HTML."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert not any(m.allow_html for m in at.markdown)
    return at


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def figure(at: AppTest, name: str):
    """The plotly figure a page drew under `name` (as `studio.widgets` remembers it for the figure set)."""
    from studio.widgets import FIGURES

    return next(
        d.figure for drawn in at.session_state[FIGURES].values() for n, d in drawn.items() if n == name
    )


def settle(at: AppTest) -> AppTest:
    return settle_jobs(at, TIMEOUT)


def downloads(at: AppTest) -> list[str]:
    return [b.label for b in at.get("download_button")]


def test_overview_defaults_to_iclm_and_shows_card_accuracy_and_exports(app):
    at = ok(app())
    assert at.title[0].value == "Overview · iclm-tiny"
    assert at.selectbox(key="sidebar_checkpoint").value == "iclm-tiny"
    card = at.table[0].value
    assert dict(zip(card["field"], card["value"], strict=True))["backbone"] == "tiny"
    table = at.dataframe[0].value
    assert {"iclm-tiny", "baseline-tiny"} <= set(table["checkpoint"])
    assert {"i.i.d.", "o.o.d.", "i.i.d. 95% CI", "i.i.d. n"} <= set(table.columns)
    assert len(charts(at)) == 2  # splits and datasets
    assert {"HTML", "CSV", "JSON", "Export figure set"} <= set(downloads(at))


def _wilson(correct: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval written out by hand (z = 1.96)."""
    z = 1.959963984540054
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_overview_accuracy_has_wilson_intervals_n_and_baseline_marks(app, checkpoints):
    at = ok(app())
    table = at.dataframe[0].value
    results = json.loads((checkpoints / "iclm-tiny" / "eval" / "results.json").read_text())
    row = table[(table["checkpoint"] == "iclm-tiny") & (table["readout"] == "model")].iloc[0]
    n = results["splits"]["iid"]["intervals"]["choice"]["model"]["n"]
    correct = round(row["i.i.d."] * n)
    low, high = _wilson(correct, n)
    assert row["i.i.d. n"] == n and row["i.i.d. 95% CI"] == f"[{low:.2f}, {high:.2f}]"
    bars = figure(at, "accuracy_choice").data
    model = next(t for t in bars if t.name == "iclm-tiny")  # the model readout, named by its checkpoint
    assert model.error_y.array[0] == pytest.approx(high - row["i.i.d."], abs=1e-9)
    assert f"n = {n}" in model.text[0]
    marks = {s.name for s in figure(at, "accuracy_choice").layout.shapes}
    assert marks == {"chance (uniform guess)", "majority answer"}  # the tiny data records num_choices
    assert {t.name for t in bars} >= {"iclm-tiny", "baseline-tiny", "invariant"}  # models by checkpoint
    per_dataset = at.dataframe[1].value
    assert {"chance", "majority", "n"} <= set(per_dataset.columns)


def test_no_checkpoint_explains_how_to_get_one(app, monkeypatch, tmp_path):
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(tmp_path))
    for page in (None, "views/2_router_clusters.py", "views/6_custom_prompts.py"):
        at = ok(app(page))
        assert "python -m iclm train" in at.info[0].value
        assert not at.title


def test_folder_without_config_shows_error_and_app_keeps_working(app, tmp_path):
    at = app(state={"sidebar_folder": str(tmp_path)})
    assert not at.exception
    assert "config.json is missing" in at.sidebar.error[0].value
    assert at.title[0].value == "Overview · iclm-tiny"  # falls back to the shipped checkpoint


def test_invalid_config_shows_the_engines_message(app, checkpoints, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    config = json.loads((checkpoints / "iclm-tiny" / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps(config | {"num_domains": 0}))
    at = app(state={"sidebar_folder": str(broken)})
    assert plain("num_domains=0 is invalid") in at.sidebar.error[0].value  # shown as written


def test_missing_weights_are_reported_and_model_pages_show_the_engine_error(app, checkpoints, tmp_path):
    folder = tmp_path / "no-adapters"
    shutil.copytree(checkpoints / "iclm-tiny", folder, ignore=shutil.ignore_patterns("checkpoints"))
    (folder / "adapters.safetensors").unlink()
    at = app(state={"sidebar_folder": str(folder)})
    assert "adapters.safetensors" in at.sidebar.warning[0].value
    assert at.title[0].value == "Overview · no-adapters"  # the file-based pages still work
    at.switch_page("views/7_interventions.py").run()
    assert not at.exception
    assert "adapters.safetensors is missing" in at.error[0].value


def test_router_clusters_projection_selection_and_scores(app):
    at = ok(app("views/2_router_clusters.py"))
    assert [m.label for m in at.metric][:3] == ["NMI", "ARI", "Purity"]
    assert len(charts(at)) == 2  # projection + contingency
    scatter = json.loads(charts(at)[0].proto.spec)
    assert scatter["layout"]["dragmode"] == "lasso"
    at.selectbox(key="clusters_color").select("dataset").run()
    at.selectbox(key="clusters_split").select("ood").run()
    ok(at)
    at.selectbox(key="clusters_method").select("umap").run()
    ok(settle_jobs(at))  # fitted in the projection worker (a job), then drawn
    assert json.loads(charts(at)[0].proto.spec)["layout"]["title"]["text"].startswith("UMAP of")


def test_a_projection_fit_is_a_job_with_progress_and_cancel(app, monkeypatch, tmp_path):
    """A t-SNE not in the disk cache: a job in the projection worker with progress and Cancel; Cancel ends
    the worker process and the page says so without fitting again; "Fit again" does; then it is cached."""
    import studio.job_view as view
    import studio.loaders as loaders
    from studio.jobs import JOBS
    from studio.projection_worker import WORKER

    monkeypatch.setattr(view, "INLINE_WAIT_S", 0.0)
    monkeypatch.setattr(view, "INLINE_CAP_S", 0.0)  # and no wait on a short estimate
    monkeypatch.setattr(loaders, "projection_cache_dir", lambda: tmp_path / "projections")
    at = ok(app("views/2_router_clusters.py"))
    settle_jobs(at)  # a job left by an earlier test (on a loaded machine) would restart the worker below
    at.selectbox(key="clusters_method").select("tsne").run()
    ok(at)
    job = next(j for j in JOBS.unfinished() if j.key[0] == "projection")
    assert any(b.key == "clusters_projection_cancel" for b in at.button)
    assert any(p.proto.text.startswith("TSNE of router") for p in at.get("progress"))
    at.button(key="clusters_projection_cancel").click().run()
    assert job.wait(5) and job.status == "cancelled"
    assert not WORKER.alive()  # the fit's process is gone: nothing keeps the cores busy
    settle_jobs(at)
    ok(at)
    assert any("cancelled after" in i.value for i in at.info)
    assert not JOBS.unfinished()  # the page does not start it again by itself
    at.button(key="clusters_projection_again").click().run()
    ok(settle_jobs(at))
    assert json.loads(charts(at)[0].proto.spec)["layout"]["title"]["text"].startswith("TSNE of")
    assert list((tmp_path / "projections").glob("tsne-*.npz"))  # the next run reads it from the cache
    at.selectbox(key="clusters_method").select("pca").run()
    at.selectbox(key="clusters_method").select("tsne").run()
    ok(at)
    assert "(from cache)" in " ".join(c.value for c in at.caption)


def test_router_clusters_split_filter_applies_to_every_number(app, checkpoints):
    """NMI, ARI, purity, the count, the contingency and the scores table are all for the filtered split."""
    import pandas as pd

    from iclm.metrics.clusters import cluster_scores

    examples = pd.read_parquet(checkpoints / "iclm-tiny" / "analysis" / "examples.parquet")
    ood = examples[examples["split"] == "ood"]
    expected = cluster_scores(ood["route"].to_numpy(), ood["dataset"].to_numpy())
    at = ok(app("views/2_router_clusters.py"))
    at.selectbox(key="clusters_split").select("ood").run()
    ok(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["NMI"] == f"{expected.nmi:.3f}" and shown["Purity"] == f"{expected.purity:.3f}"
    assert shown["Examples"] == str(len(ood))
    contingency = figure(at, "contingency_ood").data[0]
    assert int(sum(map(sum, contingency.z))) == len(ood)
    assert set(at.dataframe[-1].value["split"]) == {"all", "ood"}


def test_the_model_card_is_variant_aware_and_prints_lists_whole(app, checkpoints):
    at = ok(app(state={"sidebar_checkpoint": "baseline-tiny"}))
    card = dict(at.table[0].value.itertuples(index=False))
    assert card["router"].startswith("not applicable") and card["aggregation"].startswith("not applicable")
    assert card["loss weights"].startswith("lm ") and "mi" not in card["loss weights"]
    config = json.loads((checkpoints / "baseline-tiny" / "config.json").read_text())
    assert card["training datasets"] == plain(", ".join(config["dataset_names"]))  # every name, escaped
    for module in config["adapters"]["target_modules"]:
        assert plain(module) in card["adapters"]
    iclm = dict(ok(app()).table[0].value.itertuples(index=False))
    assert "vq" in iclm["router"] and "mi " in iclm["loss weights"]


def test_a_baseline_shows_not_applicable_instead_of_zeros(app):
    at = ok(app("views/2_router_clusters.py", state={"sidebar_checkpoint": "baseline-tiny"}))
    assert "Not applicable" in at.info[0].value and "no router" in at.info[0].value
    assert not at.metric and len(charts(at)) == 1  # the map of the base states, no NMI 0.000 nor contingency
    assert "cluster" not in at.selectbox(key="clusters_color").options
    at.switch_page("views/4_module_correlation.py").run()
    ok(at)
    assert any("no invariant module" in i.value for i in at.info)
    at.switch_page("views/3_training_dynamics.py").run()
    ok(at)
    loss = json.loads(charts(at)[0].proto.spec)["data"]
    assert {t["name"] for t in loss} == {"baseline-tiny / lm"}  # no flat zero lines for absent modules
    assert any("not applicable" in c.value for c in at.caption)
    offered = " ".join(at.multiselect(key="dynamics_groups").options)
    assert "Routing" not in offered and "Router" not in offered  # no constant 1.0 routing drawn for it
    at.switch_page("views/6_custom_prompts.py").run()
    at.text_area(key="prompts_text").input("first prompt").run()
    ok(at)
    assert any("no router" in i.value for i in at.info)  # no cluster map of one cluster
    for page in ("views/5_predictions.py", "views/7_interventions.py"):
        at.switch_page(page).run()
        ok(at)


def test_a_baselines_figure_set_draws_nothing_about_a_router_it_lacks(checkpoints):
    from studio import figure_set
    from studio.checkpoints import inspect

    baseline = figure_set.standard_figures(inspect(str(checkpoints / "baseline-tiny")))
    assert "dynamics_loss_terms" in baseline
    assert not [name for name in baseline if "routing" in name or "router" in name or "contingency" in name]
    iclm = figure_set.standard_figures(inspect(str(checkpoints / "iclm-tiny")))
    assert {"dynamics_probe_routing_fraction", "dynamics_router_nmi"} <= set(iclm)
    assert "dynamics_probe_loss" in baseline and "dynamics_probe_loss" in iclm  # the learning curve


def test_training_dynamics_overlays_runs_and_smooths(app):
    at = ok(app("views/3_training_dynamics.py"))
    assert len(charts(at)) == len(at.multiselect(key="dynamics_groups").value) >= 4
    probe = [g for g in at.multiselect(key="dynamics_groups").value if g.startswith("Held-out probe loss")]
    assert probe  # the learning curve is drawn by default
    at.multiselect(key="dynamics_runs").select("baseline-tiny").run()
    at.slider(key="dynamics_smoothing").set_value(0.5).run()
    ok(at)
    loss = json.loads(charts(at)[0].proto.spec)
    named = [t for t in loss["data"] if t.get("name")]
    assert any("baseline-tiny" in t["name"] for t in named)
    dashes = {t["name"].split(" / ")[0]: t["line"].get("dash", "solid") for t in named}
    assert dashes["iclm-tiny"] == "solid" and dashes["baseline-tiny"] == "dash"  # as the help text says
    assert not any("baseline-tiny / mi" == t["name"] for t in named)  # the baseline has no MI term


def test_module_correlation_heatmap_and_mi_with_intervals(app):
    at = ok(app("views/4_module_correlation.py"))
    assert len(charts(at)) == 1
    assert at.metric[0].label == "MI, KSG (nats)"
    others = at.dataframe[-1].value
    assert set(others["estimator"]) == {"batch", "binned"} and set(others["units"]) == {"nats"}
    assert (others["low"] <= others["high"]).all()
    heat = json.loads(charts(at)[0].proto.spec)["data"][0]
    assert heat["zmax"] < 1.0 or heat["zmin"] > 0.0  # the colour range is the data's own
    at.checkbox(key="corr_fixed").check().run()
    heat = json.loads(charts(at)[0].proto.spec)["data"][0]
    assert (heat["zmin"], heat["zmax"]) == (0.0, 1.0)
    at.selectbox(key="corr_metric").select("correlation").run()
    at.selectbox(key="corr_scope").select("split: iid").run()
    ok(at)
    assert set(at.dataframe[-1].value["scope"]) == {"split: iid"}  # the scope reaches the MI too
    assert set(at.dataframe[0].value["split"]) == {"iid"}  # and the invariant-vs-domain table


def test_predictions_filters_and_attribution(app):
    at = ok(app("views/5_predictions.py"))
    at.selectbox(key="pred_split").select("ood").run()
    assert set(at.dataframe[0].value["split"]) == {"ood"}
    at.selectbox(key="pred_attr_method").select("integrated_gradients").run()
    assert at.number_input(key="pred_attr_steps").value == DEFAULT_IG_STEPS
    at.number_input(key="pred_attr_steps").set_value(1).run()
    gold = at.selectbox(key="pred_attr_answer").value
    assert "(gold" in gold  # the gold answer is the default target
    settle(at.button(key="pred_attr_run").click().run())
    ok(at)
    targets = at.dataframe[-1].value
    assert {"aggregated", "invariant", "domain_0", "domain_1"} <= set(targets["module"])
    assert targets["delta"].notna().all() and targets["relative error"].notna().all()
    # 1 step: the completeness error is judged against f(x) - f(baseline), flagged with the advice that
    # fits each flagged readout: more steps where there is something to explain, "explains next to
    # nothing" where the baseline already scores the answer within NEGLIGIBLE nats (the tiny random
    # checkpoint usually lands here; both branches are unit-tested in tests/analysis/test_attribution.py)
    flagged = targets[targets["relative error"] > COMPLETENESS_TOLERANCE]
    assert len(flagged) > 0
    explained = (flagged["f(x)"] - flagged["f(baseline)"]).abs()
    warnings = " ".join(w.value for w in at.warning)
    assert ("Raise the steps" in warnings) == bool((explained >= NEGLIGIBLE).any())
    assert ("explain next to nothing" in warnings) == bool((explained < NEGLIGIBLE).any())
    assert len(charts(at)) == 2  # heatmap + highlighted prompt text


UPLOAD = (
    b'{"prompt": "1 2 3 ?", "answer": "1", "choices": ["1", "2"]}\n'
    b"{not json\n"
    b'{"prompt": "", "answer": "x"}\n'
    b'{"prompt": "<script>alert(1)</script> blickets?", "answer": "0"}\n'
)


def test_custom_prompts_upload_lists_bad_lines_and_processes_good_ones(app):
    at = ok(app("views/6_custom_prompts.py"))
    at.file_uploader(key="prompts_upload").set_value(("mine.jsonl", UPLOAD, "application/jsonl")).run()
    assert not at.exception
    errors = at.dataframe[0].value
    assert errors[["file", "line", "field"]].values.tolist() == [
        ["mine.jsonl", 2, "<line>"],
        ["mine.jsonl", 3, "prompt"],
    ]
    predictions = at.dataframe[1].value
    assert predictions["id"].tolist() == ["mine:1", "mine:4"]
    assert {"pred_aggregated", "pred_invariant", "pred_domain_0", "pred_domain_1"} <= set(predictions.columns)
    assert {"Download CSV", "Download JSONL"} <= set(downloads(at))
    assert not any(m.allow_html for m in at.markdown)
    scatter = next(c.proto.spec for c in charts(at) if '"markers"' in c.proto.spec)  # the cluster map
    assert "<script>" not in scatter and "&lt;script&gt;" in scatter  # user text escaped in hover text
    settle(at.button(key="prompts_attr_run").click().run())
    ok(at)
    assert len(charts(at)) == 4  # the labelled file's accuracy, map, attribution heatmap, highlighted text


def test_custom_prompts_binary_upload_is_rejected_with_the_file_name(app):
    at = app("views/6_custom_prompts.py")
    at.file_uploader(key="prompts_upload").set_value(("blob.txt", b"\x00\x01\x02binary", "text/plain")).run()
    assert not at.exception
    assert "blob.txt" in at.error[0].value and "binary" in at.error[0].value


def test_custom_prompts_typed_and_umap_placement(app):
    at = app("views/6_custom_prompts.py")
    at.text_area(key="prompts_text").input("first prompt\nsecond\\nprompt").run()
    ok(at)
    assert at.dataframe[0].value["prompt"].tolist() == ["first prompt", "second\nprompt"]
    at.selectbox(key="prompts_method").select("umap").run()
    ok(settle_jobs(at))  # fitted and placed in the projection worker (a job), then drawn
    assert any("UMAP transform" in c.value for c in at.caption)
    assert json.loads(charts(at)[0].proto.spec)["layout"]["title"]["text"] == "Your prompts on the UMAP map"
    assert "prompts_placement_cancel" not in [b.key for b in at.button]


def test_interventions_one_prompt_and_dataset_sample(app):
    at = ok(app("views/7_interventions.py"))
    at.button(key="interventions_one").click().run()
    ok(at)
    one = at.dataframe[0].value
    assert one["intervention"].tolist() == [
        "none",
        "force_route_0",
        "force_route_1",
        "drop_invariant",
        "drop_domain",
        "swap_+1",
    ]
    assert one.loc[one["intervention"] == "force_route_1", "route"].item() == 1
    at.slider(key="interventions_size").set_value(2).run()
    settle(at.button(key="interventions_many").click().run())
    ok(at)
    summary = at.dataframe[0].value
    assert set(summary["intervention"]) >= {"none", "swap_+1"} and {"low", "high", "n"} <= set(
        summary.columns
    )
    assert len(charts(at)) == 1
    bars = figure(at, "interventions_accuracy").data
    assert all(len(t.error_y.array) for t in bars)  # Wilson error bars on every intervention
    colors = [t.marker.color for t in bars]
    assert len(set(colors)) == len(colors)  # force_route_1 and swap_+1 no longer share one orange


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_custom_prompts_run_in_the_chosen_live_precision(app, precision):
    at = app(state={"sidebar_precision_cpu": precision})
    ok(at)
    assert at.session_state["studio_precision"] == precision
    at.switch_page("views/6_custom_prompts.py").run()
    at.text_area(key="prompts_text").input("first prompt\nsecond prompt").run()
    ok(at)
    assert at.session_state["prompts_signature"][1] == precision
    assert at.dataframe[0].value["prompt"].tolist() == ["first prompt", "second prompt"]


def test_long_prompt_attribution_labels_a_subset_on_screen_and_every_token_in_exports(app):
    from studio import exporting
    from studio.attribution_view import SCREEN_TOKEN_LABELS
    from studio.widgets import FIGURES

    at = ok(app("views/6_custom_prompts.py"))
    at.text_area(key="prompts_text").set_value(" ".join(["blue cube on machine"] * 60)).run()
    settle(at.button(key="prompts_attr_run").click().run())
    ok(at)
    heatmaps = [c for c in charts(at) if '"type":"heatmap"' in c.proto.spec.replace(" ", "")]
    assert len(heatmaps) == 1
    import json

    on_screen = json.loads(heatmaps[0].proto.spec)["layout"]["yaxis"]["ticktext"]
    drawn = next(iter(at.session_state[FIGURES].values())).items()
    (source,) = [d.source for name, d in drawn if name.startswith("attribution_") and "text" not in name]
    assert source.cache_info().currsize == 0  # built only when an export asks, not on every page run
    exported = list(exporting.resolve(source).layout.yaxis.ticktext)
    assert len(exported) > SCREEN_TOKEN_LABELS >= len(on_screen)
    assert on_screen == exported[:: -(-len(exported) // SCREEN_TOKEN_LABELS)]
    assert any("labelled here" in c.value for c in at.caption)


def test_a_hostile_checkpoint_name_is_shown_as_written(app, checkpoints, tmp_path):
    """A folder name with Markdown, KaTeX and a link reaches page titles escaped (shown, not rendered)."""
    name = "[click](javascript:x) **bold** $x^2$"
    folder = tmp_path / name
    shutil.copytree(checkpoints / "iclm-tiny", folder)
    at = app(state={"sidebar_folder": str(folder)})
    assert not at.exception
    assert at.title[0].value == "Overview · \\[click\\]\\(javascript:x\\) \\*\\*bold\\*\\* \\$x^2\\$".replace(
        "^", "\\^"
    )


def _attribute_typed(at: AppTest, kind: str, answer: str, other: str | None = None):
    """Run the custom-prompt attribution panel for a typed answer (and contrast); return the result."""
    at.radio(key="prompts_attr_target").set_value(kind).run()
    at.selectbox(key="prompts_attr_answer").select(OTHER).run()
    at.text_input(key="prompts_attr_answer_text").input(answer).run()
    if other is not None:
        at.selectbox(key="prompts_attr_other").select(OTHER).run()
        at.text_input(key="prompts_attr_other_text").input(other).run()
    settle(at.button(key="prompts_attr_run").click().run())
    ok(at)
    return at.session_state[RESULTS]["prompts_attr"][1]


def test_attribution_targets_in_context_whole_answers_and_contrasts(app):
    """A typed answer is tokenised with its leading space and scored over all its tokens; a contrast's
    attribution is the difference of the two single-answer runs."""
    import numpy as np

    at = ok(app("views/6_custom_prompts.py"))
    at.text_area(key="prompts_text").input("The light is").run()
    undetermined = _attribute_typed(at, "answer", "undetermined")
    table = at.dataframe[-1].value
    assert set(table["answer (as tokenised)"]) == {repr(" undetermined")}  # leading space, every token
    assert all(len(t.token_ids) == len(b" undetermined") for t in undetermined.targets.values())
    on = _attribute_typed(at, "answer", "on")
    both = _attribute_typed(at, "contrast", "on", "undetermined")
    assert both.quantity == "log p(on) - log p(undetermined)"
    np.testing.assert_allclose(
        both.frame["score"], on.frame["score"] - undetermined.frame["score"], atol=1e-5, rtol=1e-4
    )
    for module, target in both.targets.items():
        expected = on.targets[module].logprob - undetermined.targets[module].logprob
        assert abs(target.logprob - expected) < 1e-5
    text = [c for c in charts(at) if '"type":"bar"' in c.proto.spec.replace(" ", "")]
    assert len(text) == 1 and "light" in text[0].proto.spec  # the prompt as highlighted text


def test_one_colour_per_name_across_pages_and_selections(app):
    """A model keeps its name and colour whichever checkpoint is selected; no two names of a figure share a
    colour; colouring by split keeps ood's colour when the Split filter shows only ood."""
    at = ok(app())
    bars = {t.name: t.marker.color for t in figure(at, "accuracy_choice").data}
    assert len(set(bars.values())) == len(bars)
    other = ok(app(state={"sidebar_checkpoint": "baseline-tiny"}))
    again = {t.name: t.marker.color for t in figure(other, "accuracy_choice").data}
    assert again["iclm-tiny"] == bars["iclm-tiny"] and again["baseline-tiny"] == bars["baseline-tiny"]
    at.switch_page("views/2_router_clusters.py").run()
    at.selectbox(key="clusters_color").select("split").run()
    every = {t.name: t.marker.color for t in figure(at, "projection_pca_router_projected_split").data}
    at.selectbox(key="clusters_split").select("ood").run()
    ok(at)
    only = {t.name: t.marker.color for t in figure(at, "projection_pca_router_projected_split").data}
    assert only == {"ood": every["ood"]} and every["ood"] != every["iid"]
    at.switch_page("views/3_training_dynamics.py").run()
    loss = [t for t in figure(at, "dynamics_loss_terms").data if t.name]
    assert len({t.line.color for t in loss}) == len(loss)  # every loss term its own colour


def test_the_figure_set_zip_has_a_manifest_shared_plotlyjs_and_data_twice(app, checkpoints, monkeypatch):
    """Checkpoint, artifact date and every figure's settings in manifest.json; one plotly.js for all the
    HTML; each figure's data as CSV and as the same records in JSON."""
    import io
    import zipfile

    import pandas as pd

    from studio import exporting, figure_set
    from studio.checkpoints import inspect

    at = ok(app("views/4_module_correlation.py"))  # draw a figure in the session, with its settings
    drawn = next(iter(at.session_state["studio_figures"].values()))
    monkeypatch.setattr(exporting, "static_available", lambda: (False, "test: data formats only"))
    files = inspect(str(checkpoints / "iclm-tiny"))
    standard = figure_set.standard_figures(files)
    figures = standard | drawn
    manifest = figure_set.manifest(files, figures, set(standard) - set(drawn))
    with zipfile.ZipFile(io.BytesIO(exporting.zip_bytes(figures, manifest))) as zf:
        names = set(zf.namelist())
        written = json.loads(zf.read("manifest.json"))
        assert (
            written["checkpoint"]["name"] == "iclm-tiny"
            and written["checkpoint"]["config"]["variant"] == "iclm"
        )
        assert written["artifact"]["created"] and written["evaluation"]["results"]
        assert written["figures"]["similarity_cka"]["settings"]["scope"] == "all"
        assert written["figures"]["contingency_all"]["source"] == "standard"  # not drawn in this session
        assert {"contingency_all", "accuracy_by_dataset_choice", "dynamics_loss_terms"} <= set(
            written["figures"]
        )
        assert "plotly.min.js" in names
        html = zf.read("accuracy_choice.html").decode()
        assert 'src="plotly.min.js"' in html and len(html) < 200_000
        for name in figures:
            records = json.loads(zf.read(f"{name}.json"))
            assert len(records) == len(pd.read_csv(io.BytesIO(zf.read(f"{name}.csv")), keep_default_na=False))


def test_a_long_attribution_shows_progress_and_stops_on_cancel(app, monkeypatch):
    """A job longer than the inline wait: the page stays live with its progress and a Cancel button; Cancel
    stops it and the page says so; asking again starts it afresh."""
    import studio.job_view as view
    from studio.jobs import JOBS

    monkeypatch.setattr(view, "INLINE_WAIT_S", 0.0)
    monkeypatch.setattr(view, "INLINE_CAP_S", 0.0)  # and no wait on a short estimate
    at = ok(app("views/5_predictions.py"))
    at.selectbox(key="pred_attr_method").select("integrated_gradients").run()
    at.number_input(key="pred_attr_steps").set_value(512).run()
    at.button(key="pred_attr_run").click().run()
    ok(at)
    job = JOBS.unfinished()[0]
    assert any(b.key == "pred_attr_cancel" for b in at.button)
    assert any("Integrated gradients attribution" in p.proto.text for p in at.get("progress"))
    at.button(key="pred_attr_cancel").click().run()
    assert job.wait(5) and job.status == "cancelled"
    settle(at)
    ok(at)
    assert any("cancelled after" in i.value for i in at.info)


def test_compare_checkpoints_agreement_cells_and_side_by_side_attribution(app, checkpoints):
    """iclm-tiny (A) vs baseline-tiny (B) on the same test files: accuracies with intervals, the agreement
    counts adding up to n with McNemar's p, a cell's examples, and both models' attributions of one."""
    from analysis.accuracy import read_predictions
    from analysis.checkpoint_comparison import agreement_table, pair_rows

    at = ok(app("views/9_compare_checkpoints.py"))
    table = at.dataframe[0].value
    cells = table[["both right", "only A", "only B", "both wrong"]].sum(axis=1)
    assert (cells == table["n"]).all() and table["McNemar p"].between(0, 1).all()
    rows = [
        read_predictions(checkpoints / n / "eval/predictions.jsonl") for n in ("iclm-tiny", "baseline-tiny")
    ]
    expected = agreement_table(pair_rows(*rows))
    assert table["n"].tolist() == expected["n"].tolist()
    assert table["McNemar p"].tolist() == expected["McNemar p"].tolist()
    bars = figure(at, "compare_choice")
    assert {t.name for t in bars.data} == {"A: iclm-tiny (model)", "B: baseline-tiny (model)"}
    row = int(table.index[table["dataset"] == table["dataset"].iloc[0]][0])
    at.session_state["compare_table"] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    ok(at)
    for cell in ("both right", "only A", "only B", "both wrong"):
        at.radio(key="compare_cell").set_value(cell).run()
        assert len(at.dataframe[1].value) == int(table.iloc[row][cell])
    at.radio(key="compare_cell").set_value(
        "both wrong" if table.iloc[row]["both wrong"] else "both right"
    ).run()
    at.session_state["compare_examples"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    ok(at)
    for side in ("a", "b"):
        settle(at.button(key=f"compare_attr_{side}_run").click().run())
        ok(at)
    assert {"compare_attr_a", "compare_attr_b"} <= set(at.session_state[RESULTS])


def test_the_url_holds_the_checkpoint_and_main_controls_and_a_link_restores_them(
    app, checkpoints, monkeypatch
):
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(checkpoints))
    at = ok(app("views/5_predictions.py"))
    at.selectbox(key="pred_split").select("ood").run()
    ok(at)
    link = {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}
    assert link["pred_split"] == ["ood"] and link["checkpoint"] == ["iclm-tiny"]
    example = at.selectbox(key="pred_example").value
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a new session opened from that link
    for key, values in link.items():
        again.query_params[key] = values
    again.query_params["checkpoint"] = ["baseline-tiny"]
    again.run()
    again.switch_page("views/5_predictions.py").run()
    ok(again)
    assert (
        again.selectbox(key="pred_split").value == "ood"
        and again.selectbox(key="pred_example").value == example
    )
    assert "baseline-tiny" in again.title[0].value


def test_a_hand_edited_link_cannot_break_a_page(app, checkpoints):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["checkpoint"] = ["no-such-checkpoint"]
    at.query_params["pred_split"] = ["<b>nope</b>"]
    at.query_params["corr_metric"] = ["nope", "also nope"]
    at.run()
    at.switch_page("views/5_predictions.py").run()
    ok(at)
    assert "iclm-tiny" in at.title[0].value  # the default checkpoint


def test_a_file_of_prompts_runs_as_a_job_with_progress(app):
    """More prompts than a typed few run as a background job (the job's own cancel and progress are tested
    in tests/studio/test_jobs.py and on the Predictions page); its table comes when it ends."""
    from studio.jobs import JOBS

    lines = b"".join(b'{"prompt": "%d + %d =", "answer": "%d"}\n' % (i, i, 2 * i) for i in range(6))
    at = ok(app("views/6_custom_prompts.py"))
    at.file_uploader(key="prompts_upload").set_value(("sums.jsonl", lines, "application/jsonl")).run()
    ok(at)
    if JOBS.unfinished():  # still running after the inline wait: the page shows its progress and Cancel
        assert any(b.key == "prompts_job_cancel" for b in at.button)
    settle(at)
    ok(at)
    assert len(at.dataframe[0].value) == 6 and set(at.dataframe[0].value["gold"]) == {
        str(2 * i) for i in range(6)
    }


def test_the_datapoint_editor_compares_an_edited_prompt_with_the_original(app):
    """Edit an analysed example: route before and after, every module's prediction side by side with what
    changed, both prompts on the map, and the edited prompt's attribution."""
    from studio.widgets import FIGURES

    at = ok(app("views/5_predictions.py"))
    chosen = at.selectbox(key="pred_example").value
    assert any("Edit the text above" in c.value for c in at.caption)
    original = at.text_area(key=f"pred_edit_{chosen}").value
    at.text_area(key=f"pred_edit_{chosen}").input("Reworded: " + original[::-1]).run()
    ok(at)
    table = next(d.value for d in at.dataframe if "edited" in d.value.columns)
    assert {"aggregated", "invariant", "domain_0", "domain_1"} <= set(table["readout"])
    assert (table["changed"] == (table["original"] != table["edited"])).all()
    assert table["p original"].between(0, 1).all() and table["p edited"].between(0, 1).all()
    assert any("Route: domain" in m.value for m in at.markdown)
    drawn = at.session_state[FIGURES]
    assert any("edited_on_pca" in names for names in drawn.values())
    settle(at.button(key="pred_edit_attr_run").click().run())
    ok(at)
    assert at.session_state[RESULTS]["pred_edit_attr"][0].startswith("Reworded: ")


def test_linked_views_task_colours_neighbours_and_opening_an_example(app):
    """Colour and filter by task and rendering (read from the prompts), a point's nearest neighbours in the
    router space with distances, projection parameters, and an example opened on Predictions."""
    at = ok(app("views/2_router_clusters.py"))
    at.selectbox(key="clusters_color").select("task").run()
    ok(at)
    names = {t.name for t in figure(at, "projection_pca_router_projected_task").data}
    assert names == {"acre", "pvr"}  # the tiny checkpoint's data: symbolic ACRE and PVR
    at.selectbox(key="clusters_task").select("acre").run()
    ok(at)
    neighbours = next(d.value for d in at.dataframe if "distance" in d.value.columns)
    assert len(neighbours) == 10 and neighbours["distance"].is_monotonic_increasing
    focus = at.selectbox(key="clusters_focus").value
    assert focus not in set(neighbours["id"])
    at.selectbox(key="clusters_method").select("tsne").run()
    at.slider(key="clusters_perplexity").set_value(5).run()
    ok(settle_jobs(at))
    at.selectbox(key="clusters_method").select("pca").run()
    at.selectbox(key="clusters_split").select("ood").run()
    focus = at.selectbox(key="clusters_focus").value
    at.button(key="clusters_open_predictions").click().run()
    ok(at)
    assert at.selectbox(key="pred_example").value == focus and at.selectbox(key="pred_split").value == "all"


def test_a_filter_saved_as_a_slice_is_listed_with_accuracy_and_intervals(
    app, checkpoints, tmp_path, monkeypatch
):
    """Predictions' filtered examples become a named slice in the analysis folder's slices.json; the
    Slices page lists it and draws every module's accuracy with intervals (a copy: the shared test
    checkpoint stays as built)."""
    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoints / "iclm-tiny", root / "iclm-tiny")
    monkeypatch.setenv("ICLM_CHECKPOINTS_DIR", str(root))
    at = ok(app("views/5_predictions.py"))
    at.selectbox(key="pred_split").select("ood").run()
    at.text_input(key="pred_slice_name").input("ood examples").run()
    at.button(key="pred_slice_save").click().run()
    ok(at)
    assert any("Saved ood examples" in s.value for s in at.success)
    assert (root / "iclm-tiny" / "analysis" / "slices.json").is_file()
    at.switch_page("views/10_slices.py").run()
    ok(at)
    listing = at.dataframe[0].value
    assert list(listing["slice"]) == ["ood examples"]
    table = at.dataframe[-1].value
    assert {"aggregated", "invariant"} <= set(table["module"]) and (table["low"] <= table["high"]).all()
    assert len(charts(at)) == 1


def test_a_labelled_upload_shows_accuracy_for_its_chosen_split(app):
    at = ok(app("views/6_custom_prompts.py"))
    at.radio(key="prompts_split").set_value("ood").run()
    lines = b"".join(b'{"prompt": "%d + %d =", "answer": "%d"}\n' % (i, i, 2 * i) for i in range(3))
    at.file_uploader(key="prompts_upload").set_value(("sums.jsonl", lines, "application/jsonl")).run()
    settle(at)
    ok(at)
    assert any("Accuracy on sums.jsonl (ood)" in h.value for h in at.subheader)
    assert {t.name for t in figure(at, "upload_accuracy").data} >= {"aggregated", "invariant"}
