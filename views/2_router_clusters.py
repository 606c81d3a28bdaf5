"""Router clusters: a 2-D projection of router embeddings, selectable, with cluster-vs-dataset agreement."""

import streamlit as st

from analysis.clusters import cluster_report
from analysis.figures import contingency_heatmap, projection_scatter
from studio import loaders, state, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Router clusters · {plain(files.name)}")
art = state.require_artifact(files)
examples = art.examples

controls = st.columns(4)
method = controls[0].selectbox(
    "Projection", ["pca", "umap", "tsne"], key="clusters_method", format_func=str.upper
)
spaces = [s for s in ("router_projected", "router_embeddings") if s in art.states]
space = controls[1].selectbox(
    "Embedding", spaces, key="clusters_space",
    help="router_projected: the space the codebook clusters in; router_embeddings: mean base hidden states.",
)  # fmt: skip
color_by = controls[2].selectbox(
    "Colour by", ["cluster", "dataset", "split", "correctness"], key="clusters_color"
)
split = controls[3].selectbox("Split", ["all", "iid", "ood"], key="clusters_split")

colour_values = {
    "cluster": examples["route"].to_numpy(),
    "dataset": examples["dataset"].to_numpy(),
    "split": examples["split"].to_numpy(),
    "correctness": examples["correct_aggregated"].fillna(False).to_numpy(),
}[color_by]
proj = loaders.projection(files, space, method)
keep = (examples["split"] == split).to_numpy() if split != "all" else slice(None)
hover = (
    examples["dataset"] + " · " + examples["split"] + " · gold " + examples["gold"].astype(str)
).to_numpy()
scatter = projection_scatter(
    proj.coords[keep], examples["id"].to_numpy()[keep], colour_values[keep], color_by=color_by,
    hover=hover[keep], title=f"{method.upper()} of {space}", size="two_column",
)  # fmt: skip
cache_note = " (from cache)" if proj.from_cache else f" ({proj.seconds:.1f} s)"
st.caption(
    f"{len(scatter.data)} examples, {method.upper()}{cache_note}. Lasso or box-select points to list them."
)
event = widgets.show_figure(
    scatter.figure, scatter.data, f"projection_{method}_{space}_{color_by}", key="clusters_scatter",
    on_select=True, height=560,
)  # fmt: skip

selected = [p.get("customdata") for p in (event.selection.points if event else [])]
if selected:
    st.subheader(f"Selected examples ({len(selected)})")
    columns = ["id", "dataset", "split", "route", "gold", "pred_aggregated", "correct_aggregated", "prompt"]
    st.dataframe(examples[examples["id"].isin(selected)][columns], hide_index=True, width="stretch")

report = cluster_report(
    examples["route"].to_numpy(), examples["dataset"].to_numpy(), examples["split"].to_numpy()
)
st.subheader("Router cluster vs true dataset")
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
        report.contingency, title="Examples per cluster and dataset", size="two_column"
    )
    widgets.show_figure(heat.figure, heat.data, "contingency", key="clusters_contingency")
with right:
    st.caption("Scores overall and per split")
    st.dataframe(report.scores_frame(), hide_index=True, width="stretch")
