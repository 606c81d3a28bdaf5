"""Overview: the model card and i.i.d. vs o.o.d. accuracy per module, next to the baselines, every accuracy
with its n and 95% Wilson interval, and the chance and majority baselines per dataset and split."""

import streamlit as st

from analysis.accuracy import dataset_accuracy, dataset_baselines, split_accuracy, split_baselines
from analysis.accuracy_figures import accuracy_bars, references_frame
from analysis.palette import run_colors
from studio import errors, figure_loaders, loaders, state, tables, variant, widgets
from studio.checkpoints import discover
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Overview · {plain(files.name)}")

records = errors.or_none("Steps trained unknown", files.folder, loaders.metrics, files, warn=True) or []
training = None
if files.training_config is not None:
    training = errors.or_none(
        "Training files unknown", files.folder, loaders.json_object, files.training_config,
        "training config", warn=True,
    )  # fmt: skip
last_step = max((r["step"] for r in records), default=None)

card, results_column = st.columns([2, 3], gap="large")
with card:
    st.subheader("Model card")
    card_table = tables.model_card(
        files.config, training, last_step, has_router=variant.has_router(files),
        has_invariant=variant.has_invariant(files),
    )  # fmt: skip
    st.table(card_table.map(plain), hide_index=True, hide_header=True)  # lists whole, text as written

with results_column:
    st.subheader("Accuracy")
    with errors.stop_on_error("Cannot show the accuracy", files.folder):
        results = figure_loaders.results(files)
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
for folder in others:
    if folder.name in compare:
        with results_column:
            other = errors.or_none(
                f"{plain(folder.name)} left out", folder, figure_loaders.checkpoint_results, folder, warn=True
            )
        if other is not None:
            named.append(other)
colors = run_colors(variant.known_runs(files))

rows = split_accuracy(named, method)
baselines = dataset_baselines(results)
references = references_frame(split_baselines(baselines), "split", tables.SPLIT_LABELS)
with results_column:
    if rows.empty:
        st.info(f"No {method} accuracies in the results (no examples with choices?). Try the other scoring.")
    else:
        st.dataframe(
            tables.accuracy_wide(rows), hide_index=True, width="stretch",
            column_config={s: st.column_config.NumberColumn(s, format="%.3f") for s in ("i.i.d.", "o.o.d.")},
        )  # fmt: skip
        st.caption(
            "95% Wilson intervals; n = examples scored. Bars: the same intervals; marks: chance, majority."
        )

if not rows.empty:
    bars = accuracy_bars(
        tables.bar_rows(rows, files.name), references, title=f"Accuracy ({method} scoring)", colors=colors
    )
    widgets.show_figure(
        bars.figure, bars.data, f"accuracy_{method}", key="overview_bars", height=420,
        settings={"scoring": method, "compare": compare},
    )  # fmt: skip

st.subheader("Per dataset")
per_dataset = dataset_accuracy(files.name, results, method)
st.dataframe(tables.accuracy_by_dataset(per_dataset, baselines), hide_index=True, width="stretch")
if baselines["chance"].isna().all():
    st.caption(
        "Chance is not known: this evaluation predates the record of each example's number of choices; "
        "re-run `python -m iclm evaluate` to get it. Majority comes from the gold answers."
    )
if not per_dataset.empty:
    dataset_bars = accuracy_bars(
        tables.bar_rows(per_dataset, files.name),
        references_frame(baselines, "dataset"),
        category="dataset",
        title=f"Accuracy per dataset ({method} scoring)",
        size="two_column",
        colors=colors,
    )
    widgets.show_figure(
        dataset_bars.figure,
        dataset_bars.data,
        f"accuracy_by_dataset_{method}",
        key="overview_dataset_bars",
        settings={"scoring": method},
    )
