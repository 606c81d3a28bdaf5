"""Interventions: force a route, drop a module or swap domain modules; one prompt, then a dataset sample."""

import streamlit as st

from analysis.accuracy import summed_intervals
from analysis.accuracy_figures import accuracy_bars
from analysis.interventions import intervention_summary, intervention_table, standard_interventions
from studio import errors, job_view, jobs, loaders, prompts, state, tables, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Interventions · {plain(files.name)}")
model = state.live_model(files)
options = {i.name: i for i in standard_interventions(model.config)}
st.caption(
    "none: the model as trained · force_route_k: every input to domain module k · drop_invariant / "
    "drop_domain: that module's states zeroed in the aggregation · swap_+1: to the next domain module."
)
chosen = st.multiselect("Interventions", list(options), default=list(options), key="interventions_chosen")
if not chosen:
    st.info("Choose at least one intervention.")
    st.stop()
interventions = [options[name] for name in chosen]

pool = errors.or_none("The analysed examples cannot be used", files.folder, loaders.examples, files) or []

st.subheader("One prompt")
example = prompts.example_picker(pool, key="interventions")
if example is not None:
    (example,) = prompts.routed_as_picker(model, [example], key="interventions")
if example is not None and st.button(
    "Run interventions on this prompt", key="interventions_one", type="primary"
):
    with st.spinner("Running the interventions…"):
        table = state.run_live(intervention_table, model, model.tokenizer, [example], interventions)
    st.dataframe(
        table[["intervention", "route", "prediction", "correct", "changed"]], hide_index=True, width="stretch"
    )

st.subheader("Dataset sample")
if not pool:
    st.info("A dataset sample needs the analysis artifact (`python -m iclm analyze`).")
    st.stop()
columns = st.columns(3)
datasets = sorted({e.dataset for e in pool})
picked = columns[0].multiselect("Datasets", datasets, default=datasets, key="interventions_datasets")
size = columns[1].slider("Examples per dataset", 2, 64, 8, key="interventions_size")
seed = columns[2].number_input("Seed", 0, 10_000, 0, key="interventions_seed")
sample = prompts.sample(pool, picked, size, int(seed))
if st.button(f"Run on {len(sample)} examples", key="interventions_many", disabled=not sample):
    ids = tuple(e.id for e in sample)
    job = state.start_live_job(
        ("interventions", id(model), ids, tuple(chosen)),
        f"{len(interventions)} interventions on {len(sample)} examples",
        intervention_table, model, model.tokenizer, sample, interventions,
    )  # fmt: skip
    st.session_state["interventions_job"] = job.key
    job_view.wait_inline(job)
job = jobs.JOBS.get(st.session_state.get("interventions_job"))
if job is not None and not job.finished:
    job_view.follow(job, key="interventions_many")
    st.stop()
if job is not None and job.status == "done":
    st.session_state["interventions_table"] = job.result
elif job is not None:
    job_view.outcome(job)
table = st.session_state.get("interventions_table")
if table is not None:
    summary = intervention_summary(table)
    rows = tables.intervention_bars(summary)
    bars = accuracy_bars(rows, title="Accuracy under interventions")
    widgets.show_figure(
        bars.figure, bars.data, "interventions_accuracy", key="interventions_bars", height=420,
        settings={"interventions": chosen, "datasets": picked, "per_dataset": size, "seed": int(seed)},
    )  # fmt: skip
    st.caption(
        f"{len(sample)} examples; error bars: 95% Wilson intervals of each intervention's accuracy per split."
    )
    per_dataset = summed_intervals(summary, ["dataset", "split", "intervention"])
    changed = summary[["dataset", "split", "intervention", "changed"]]
    st.dataframe(
        per_dataset.merge(changed, on=["dataset", "split", "intervention"]), hide_index=True, width="stretch"
    )
    with st.expander("Every prediction"):
        st.dataframe(table, hide_index=True, width="stretch")
