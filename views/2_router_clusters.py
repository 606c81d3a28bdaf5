"""Router clusters: a 2-D projection of router embeddings, selectable, with cluster-vs-dataset agreement."""

import numpy as np
import pandas as pd
import streamlit as st

from analysis.clusters import cluster_report
from analysis.figures import contingency_heatmap, projection_scatter
from analysis.neighbours import nearest_neighbours
from analysis.scopes import scope_mask
from studio import job_view, loaders, slicing, state, variant, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Router clusters · {plain(files.name)}")
art = state.require_artifact(files)
examples = pd.concat([art.examples, loaders.task_and_rendering(files)], axis=1)

controls = st.columns(6)
method = controls[0].selectbox(
    "Projection", ["pca", "umap", "tsne"], key="clusters_method", format_func=str.upper
)
spaces = [s for s in ("router_projected", "router_embeddings") if s in art.states]
space = controls[1].selectbox(
    "Embedding", spaces, key="clusters_space",
    help="router_projected: the space the codebook clusters in; router_embeddings: mean base hidden states.",
)  # fmt: skip
routed = variant.has_router(files)
colour_help = "task and rendering are read from each prompt by the task parsers."
if not routed:
    colour_help = f"No clusters: this variant has no router. {colour_help}"
color_by = controls[2].selectbox(
    "Colour by", (["cluster"] if routed else []) + ["dataset", "task", "rendering", "split", "correctness"],
    key="clusters_color", help=colour_help,
)  # fmt: skip
split = controls[3].selectbox("Split", ["all", "iid", "ood"], key="clusters_split")
task = controls[4].selectbox("Task", ["all", *sorted(examples["task"].unique())], key="clusters_task")
rendering = controls[5].selectbox(
    "Rendering", ["all", *sorted(examples["rendering"].unique())], key="clusters_rendering"
)
params: tuple = ()
if method == "tsne":
    params = (("perplexity", float(st.slider("t-SNE perplexity", 2, 100, 30, key="clusters_perplexity"))),)
elif method == "umap":
    params = (("n_neighbors", st.slider("UMAP n_neighbors", 2, 200, 15, key="clusters_neighbors")),)

colour_values = {
    "cluster": examples["route"].to_numpy(),
    "dataset": examples["dataset"].to_numpy(),
    "task": examples["task"].to_numpy(),
    "rendering": examples["rendering"].to_numpy(),
    "split": examples["split"].to_numpy(),
    "correctness": examples["correct_aggregated"].fillna(False).to_numpy(),
}[color_by]
proj = loaders.projection_at_once(files, space, method, params=params)
if proj is None:  # a UMAP / t-SNE not fitted yet: a job in the projection worker, with progress and Cancel
    job = loaders.projection_job(files, space, method, params=params)
    proj = job_view.result_or_stop(
        job, key="clusters_projection",
        again=lambda: loaders.projection_job(files, space, method, params=params, restart=True),
    )  # fmt: skip
keep = np.array(scope_mask(examples, "all" if split == "all" else f"split: {split}"), dtype=bool)  # a copy
if task != "all":
    keep &= (examples["task"] == task).to_numpy()
if rendering != "all":
    keep &= (examples["rendering"] == rendering).to_numpy()
shown = examples[keep]
hover = (shown["dataset"] + " · " + shown["split"] + " · gold " + shown["gold"].astype(str)).to_numpy()
scatter = projection_scatter(
    proj.coords[keep], shown["id"].to_numpy(), colour_values[keep], color_by=color_by,
    hover=hover, title=f"{method.upper()} of {space}", size="two_column", categories=colour_values,
)  # fmt: skip
cache_note = " (from cache)" if proj.from_cache else f" ({proj.seconds:.1f} s)"
st.caption(
    f"{len(scatter.data)} examples, {method.upper()}{cache_note}. Lasso or box-select points to list them."
)
event = widgets.show_figure(
    scatter.figure, scatter.data, f"projection_{method}_{space}_{color_by}", key="clusters_scatter",
    on_select=True, height=560,
    settings={
        "projection": method, "embedding": space, "colour_by": color_by, "split": split, "task": task,
        "rendering": rendering, "params": dict(params),
    },
)  # fmt: skip

selected = [p.get("customdata") for p in (event.selection.points if event else [])]
listed = [
    "id",
    "dataset",
    "task",
    "rendering",
    "split",
    "route",
    "gold",
    "pred_aggregated",
    "correct_aggregated",
]
if selected:
    st.subheader(f"Selected examples ({len(selected)})")
    st.dataframe(
        examples[examples["id"].isin(selected)][[*listed, "prompt"]], hide_index=True, width="stretch"
    )
    slicing.save_controls(
        files,
        selected,
        "selection",
        key="clusters_slice",
        default_name=f"{method} selection ({len(selected)})",
    )

st.subheader("One example: its neighbours and its pages")
pickable = selected or list(shown["id"])
focus = st.selectbox(
    "Example", pickable, key="clusters_focus",
    help="A selected point (lasso or box), else any shown example.",
)  # fmt: skip
if focus is not None:
    near = nearest_neighbours(art.states[space], list(examples["id"]), focus, k=10)
    near = near.merge(examples[["id", "dataset", "task", "rendering", "route", "gold"]], on="id")
    st.caption(f"The 10 nearest analysed examples to {plain(focus)} in {space} (Euclidean, full dimension).")
    st.dataframe(near, hide_index=True, width="stretch", key="clusters_neighbours")
    links = st.columns(2)
    if links[0].button("Open in Predictions & attribution", key="clusters_open_predictions"):
        state.open_example("predictions", focus)
    if links[1].button("Open in Interventions", key="clusters_open_interventions"):
        state.open_example("interventions", focus)

scope = ", ".join(
    part for part in (
        "all examples" if split == "all" else f"split {split}",
        None if task == "all" else f"task {task}",
        None if rendering == "all" else f"rendering {rendering}",
    ) if part
)  # fmt: skip
st.subheader(f"Router cluster vs true dataset ({scope}, {len(shown)} examples)")
if not routed:
    st.info(variant.no_router(files))
    st.stop()
report = cluster_report(shown["route"].to_numpy(), shown["dataset"].to_numpy(), shown["split"].to_numpy())
metrics = st.columns(4)
metrics[0].metric("NMI", f"{report.overall.nmi:.3f}", help="Normalised mutual information (arithmetic mean).")
metrics[1].metric("ARI", f"{report.overall.ari:.3f}", help="Adjusted Rand index: 0 = chance, 1 = identical.")
metrics[2].metric(
    "Purity", f"{report.overall.purity:.3f}", help="Share of examples in their cluster's majority."
)
metrics[3].metric("Examples", report.overall.n)
left, right = st.columns([3, 2], gap="large")
with left:
    heat = contingency_heatmap(
        report.contingency, title=f"Examples per cluster and dataset ({scope})", size="two_column"
    )
    widgets.show_figure(
        heat.figure, heat.data, f"contingency_{split}", key="clusters_contingency", settings={"split": split}
    )
with right:
    st.caption(f"Scores for {scope}" + (" and per split" if split == "all" else ""))
    st.dataframe(report.scores_frame(), hide_index=True, width="stretch")
