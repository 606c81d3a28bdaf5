"""Compare two checkpoints on the same examples: per dataset both accuracies with intervals, the agreement
table (both right / only A / only B / both wrong) with McNemar's exact p, the examples of any cell, and one
example's attribution by both models side by side."""

import streamlit as st

from analysis.accuracy import read_predictions
from analysis.accuracy_figures import accuracy_bars
from analysis.checkpoint_comparison import CELLS, agreement_table, cell_examples, comparison_bars, pair_rows
from analysis.palette import run_colors
from studio import attribution_view, errors, loaders, state, variant, widgets
from studio.checkpoints import discover
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Compare checkpoints · {plain(files.name)}")
others = [
    f
    for f in discover()
    if f.resolve() != files.folder.resolve() and (f / "eval/predictions.jsonl").is_file()
]
if files.predictions is None or not others:
    st.info(
        "Comparing needs this checkpoint and another one evaluated on the same files "
        "(`python -m iclm evaluate CHECKPOINT --data ...` writes eval/predictions.jsonl)."
    )
    st.stop()
controls = st.columns([2, 1, 1, 1])
other_name = controls[0].selectbox("Compare with (B)", [f.name for f in others], key="compare_other")
other = next(f for f in others if f.name == other_name)
with errors.stop_on_error("Cannot open the other checkpoint", other):
    other_files = loaders.inspect_checkpoint(str(other))
method = controls[1].radio("Scoring", ["choice", "greedy"], key="compare_method")
readout_a = controls[2].selectbox("Readout of A", ["model", "invariant", "oracle"], key="compare_readout_a")
readout_b = controls[3].selectbox("Readout of B", ["model", "invariant", "oracle"], key="compare_readout_b")
with errors.stop_on_error("Cannot read the predictions", files.folder):
    paired = pair_rows(read_predictions(files.predictions), read_predictions(other_files.predictions))
if paired.only_in_a or paired.only_in_b:
    st.caption(
        f"Paired by example id: {paired.only_in_a} example(s) only {plain(files.name)} was evaluated on and "
        f"{paired.only_in_b} only {plain(other.name)} was are left out."
    )
table = agreement_table(paired, readout_a, readout_b, method)
if table.empty:
    st.info("The two evaluations share no example scored this way (readout and scoring).")
    st.stop()
name_a, name_b = f"A: {files.name} ({readout_a})", f"B: {other.name} ({readout_b})"
colors = run_colors(variant.known_runs(files))
bar_colors = {name_a: colors.get(files.name, "#000000"), name_b: colors.get(other.name, "#888888")}
per_dataset = table[~table["dataset"].str.startswith("all ")]
bars = accuracy_bars(
    comparison_bars(per_dataset, name_a, name_b), category="dataset", size="two_column",
    title=f"{files.name} vs {other.name} ({method} scoring)", colors=bar_colors,
)  # fmt: skip
widgets.show_figure(
    bars.figure, bars.data, f"compare_{method}", key="compare_bars", height=420,
    settings={"A": files.name, "B": other.name, "readouts": [readout_a, readout_b], "scoring": method},
)  # fmt: skip
st.caption(
    "Bars: 95% Wilson intervals. McNemar's exact test on the examples exactly one model gets right (only A, "
    "only B): the paired test for two models scored on the same examples."
)
dataset = widgets.picked_row(table, key="compare_table", hint="Select a row to list its examples.")["dataset"]
cell = st.radio("Cell", CELLS, horizontal=True, key="compare_cell")
examples = cell_examples(paired, dataset, cell, readout_a, readout_b, method)
st.subheader(f"{plain(dataset)} · {cell}: {len(examples)} example(s)")
hint = "Select an example for both models' attributions side by side."
example_id = widgets.picked_row(examples, key="compare_examples", hint=hint)["id"]
pool = errors.or_none("The analysed examples cannot be used", files.folder, loaders.examples, files) or []
example = next((e for e in pool if e.id == example_id), None)
if example is None:
    st.info(
        "This example's prompt is not in this checkpoint's analysis artifact: analyse it on the same files."
    )
    st.stop()
with st.expander("Prompt text"):
    st.text(example.prompt)
options = attribution_view.answer_options(example.answer, None, example.choices)
sides = st.columns(2, gap="large")
for column, side_files, label, key in (
    (sides[0], files, name_a, "compare_attr_a"),
    (sides[1], other_files, name_b, "compare_attr_b"),
):
    with column:
        st.markdown(f"**{plain(label)}**")
        model = state.live_model(side_files)
        attribution_view.panel(
            model, example.prompt, options, key=key, dataset=example.domain or example.dataset
        )
