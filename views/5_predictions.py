"""Predictions & attribution: browse examples by dataset, split and correctness; compare the modules'
predictions and token attributions for one example."""

import numpy as np
import pandas as pd
import streamlit as st

from analysis.editing import edit_comparison, route_change
from analysis.figures import projection_scatter
from iclm.data import Example
from studio import attribution_view, loaders, slicing, state, tables, widgets
from studio.live import run_prompts
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Predictions & attribution · {plain(files.name)}")
art = state.require_artifact(files)
examples = art.examples

filters = st.columns(4)
datasets = sorted(examples["dataset"].unique())
picked = filters[0].multiselect("Dataset", datasets, default=datasets, key="pred_datasets")
split = filters[1].selectbox("Split", ["all", "iid", "ood"], key="pred_split")
outcome = filters[2].selectbox("Model answer", ["all", "correct", "wrong"], key="pred_outcome")
disagree = filters[3].checkbox(
    "Modules disagree", key="pred_disagree", help="aggregated, invariant, domain differ"
)

mask = examples["dataset"].isin(picked)
if split != "all":
    mask &= examples["split"] == split
if outcome != "all":
    mask &= examples["correct_aggregated"].fillna(False) == (outcome == "correct")
if disagree:
    mask &= tables.disagree_mask(examples)
shown = examples[mask]
columns = tables.prediction_columns(examples)
st.caption(f"{len(shown)} of {len(examples)} examples.")
st.dataframe(
    shown[["id", "dataset", "split", "gold", "route", *columns]], hide_index=True, width="stretch", height=260
)
if shown.empty:
    st.info("No example matches these filters.")
    st.stop()
described = " · ".join(x for x in (split if split != "all" else "", outcome if outcome != "all" else "") if x)
slicing.save_controls(
    files,
    list(shown["id"]),
    "filter",
    key="pred_slice",
    default_name=f"filter {described or 'all'} ({len(shown)})",
)

chosen = st.selectbox("Example", list(shown["id"]), key="pred_example")
row = shown[shown["id"] == chosen].iloc[0]
left, right = st.columns([3, 2], gap="large")
with left:
    st.caption(f"{plain(row['dataset'])} · {plain(row['split'])} · gold answer: {plain(row['gold'])}")
    st.text(row["prompt"])
with right:
    st.caption("Each module's prediction (from the analysis run)")
    st.dataframe(tables.module_predictions(row, columns), hide_index=True, width="stretch")

st.subheader("Token attribution per module")
model = state.live_model(files)
choices = next((e.choices for e in loaders.examples(files) if e.id == chosen), None)
prediction = None if pd.isna(row["pred_aggregated"]) else str(row["pred_aggregated"])
options = attribution_view.answer_options(str(row["gold"]), prediction, choices)
attribution_view.panel(model, row["prompt"], options, key="pred_attr", dataset=row["dataset"])

st.subheader("Edit this example")
st.caption(
    "Change the prompt to test a hypothesis (e.g. reword a symbolic puzzle as text: does its route "
    "move?): the edited prompt is routed, placed on the cluster map and predicted by every module beside "
    "the original."
)
edited = st.text_area("Edited prompt", value=row["prompt"], key=f"pred_edit_{chosen}", height=180)
if not edited.strip() or edited == row["prompt"]:
    st.caption("Edit the text above to compare.")
    st.stop()
pair = [
    Example(f"{chosen} (original)", row["prompt"], str(row["gold"]), choices, row["dataset"], row["split"]),
    Example(f"{chosen} (edited)", edited, str(row["gold"]), choices, row["dataset"], row["split"]),
]
runs, router_states, details = state.run_live(run_prompts, model, model.tokenizer, pair)
original, changed = details[pair[0].id], details[pair[1].id]
moved = route_change(original, changed)
st.markdown(
    f"Route: domain\\_{moved['route original']} → domain\\_{moved['route edited']}"
    + (" (**moved**)" if moved["moved"] else " (unchanged)")
)
st.caption(f"Squared distances to the codes: {moved['distances original']} → {moved['distances edited']}")
st.dataframe(edit_comparison(original, changed), hide_index=True, width="stretch", key="pred_edit_table")
if files.artifact is not None and "router_projected" in art.states:
    fitted = loaders.fitted_projection(files, "router_projected", "pca")
    placed = fitted.transform(router_states["router_projected"])
    labels = [f"cluster {r}" for r in examples["route"]] + ["original", "edited"]
    scatter = projection_scatter(
        np.vstack([fitted.coords, placed]), list(examples["id"]) + [p.id for p in pair], labels,
        color_by="dataset", hover=list(examples["dataset"]) + ["original", "edited"],
        title="The original and the edited prompt on the PCA map", size="two_column",
    )  # fmt: skip
    widgets.show_figure(
        scatter.figure, scatter.data, "edited_on_pca", key="pred_edit_map", height=480,
        settings={"example": chosen, "projection": "pca", "embedding": "router_projected"},
    )  # fmt: skip
edited_prediction = changed.modules.get("aggregated")
edit_options = attribution_view.answer_options(
    str(row["gold"]), edited_prediction.prediction if edited_prediction else None, choices
)
attribution_view.panel(model, edited, edit_options, key="pred_edit_attr", dataset=row["dataset"])
