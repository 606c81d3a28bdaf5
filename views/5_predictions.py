"""Predictions & attribution: browse examples by dataset, split and correctness; compare the modules'
predictions and token attributions for one example."""

import pandas as pd
import streamlit as st

from studio import attribution_view, loaders, state, tables
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
attribution_view.panel(model, row["prompt"], options, key="pred_attr")
