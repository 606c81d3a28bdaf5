"""Overview: the model card and i.i.d. vs o.o.d. accuracy per module, next to the baselines."""

import streamlit as st

from analysis.figures import accuracy_bars
from studio import loaders, state, tables, widgets
from studio.checkpoints import CheckpointError, discover
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Overview · {plain(files.name)}")

records = loaders.metrics(files)
training = None
if files.training_config is not None:
    try:
        training = loaders.json_file(files.training_config)
    except CheckpointError as exc:
        st.warning(plain(exc))
last_step = max((int(r["step"]) for r in records), default=None)

card, results_column = st.columns([2, 3], gap="large")
with card:
    st.subheader("Model card")
    st.dataframe(tables.model_card(files.config, training, last_step), hide_index=True, width="stretch")

results = loaders.results(files)
with results_column:
    st.subheader("Accuracy")
    if results is None:
        st.info(
            "This checkpoint has no `eval/results.json`. Run `python -m iclm evaluate CHECKPOINT --data ...`."
        )
        st.stop()
    method = st.radio(
        "Scoring", ["choice", "greedy"], horizontal=True, key="overview_method",
        help="choice: the most likely answer option; greedy: exact match of the generated answer.",
    )  # fmt: skip
    others = [
        f for f in discover() if f.resolve() != files.folder.resolve() and (f / "eval/results.json").is_file()
    ]
    compare = st.multiselect(
        "Compare with", [f.name for f in others], default=[f.name for f in others], key="overview_compare"
    )

named = [(files.name, results)]
variants = {files.name: files.config.get("variant", "")}
for folder in others:
    if folder.name in compare:
        other = loaders.inspect_checkpoint(str(folder))
        named.append((other.name, loaders.results(other)))
        variants[other.name] = other.config.get("variant", "")

long = tables.accuracy_long(named, method)
with results_column:
    if long.empty:
        st.info(f"No {method} accuracies in the results (no examples with choices?). Try the other scoring.")
    else:
        st.dataframe(
            tables.accuracy_wide(long), hide_index=True, width="stretch",
            column_config={s: st.column_config.NumberColumn(s, format="%.3f") for s in ("i.i.d.", "o.o.d.")},
        )  # fmt: skip

if not long.empty:
    bars = accuracy_bars(tables.bar_rows(long, files.name, variants), title=f"Accuracy ({method} scoring)")
    widgets.show_figure(bars.figure, bars.data, f"accuracy_{method}", key="overview_bars", height=420)

st.subheader("Per dataset")
st.dataframe(tables.accuracy_by_dataset(results, method), hide_index=True, width="stretch")
