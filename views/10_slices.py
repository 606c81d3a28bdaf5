"""Slices: named sets of analysed examples (a lasso selection on Router clusters, a filter on Predictions),
each with every module's accuracy and its 95% Wilson interval, compared side by side."""

import pandas as pd
import streamlit as st

from analysis.accuracy_figures import accuracy_bars
from analysis.slices import read_slices, slice_accuracy
from studio import errors, state, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Slices · {plain(files.name)}")
art = state.require_artifact(files)
with errors.stop_on_error("Cannot read the saved slices", files.folder):
    slices = read_slices(files.artifact)
if not slices:
    st.info(
        "No slice yet. Save one from a lasso or box selection on Router clusters, or from the filtered "
        "examples on Predictions & attribution; slices are kept in the analysis folder (slices.json)."
    )
    st.stop()
listing = pd.DataFrame(
    [{"slice": s.name, "examples": len(s.ids), "source": s.source, "created": s.created} for s in slices]
)
st.dataframe(listing, hide_index=True, width="stretch", key="slices_list")
names = [s.name for s in slices]
chosen = st.multiselect("Compare", names, default=names[-2:], key="slices_chosen")
if not chosen:
    st.stop()
frames = [slice_accuracy(art.examples, s) for s in slices if s.name in chosen]
table = pd.concat(frames, ignore_index=True)
missing = table.groupby("slice")["missing"].first()
for name, count in missing[missing > 0].items():
    st.warning(f"{plain(name)}: {count} example(s) are not in this artifact (collected again on other data).")
bars = accuracy_bars(
    table.dropna(subset=["accuracy"]),
    category="slice",
    title="Accuracy per slice and module",
    size="two_column",
)
widgets.show_figure(
    bars.figure, bars.data, "slices_accuracy", key="slices_bars", height=420, settings={"slices": chosen}
)  # fmt: skip
st.caption("Error bars: 95% Wilson intervals; n counts the slice's examples with a gold answer.")
st.dataframe(table, hide_index=True, width="stretch", key="slices_table")
