"""Router clusters: a 2-D projection of router embeddings, selectable, with cluster-vs-dataset agreement."""

import streamlit as st

from analysis.clusters import cluster_report
from analysis.figures import contingency_heatmap, projection_scatter
from analysis.scopes import scope_mask
from studio import loaders, state, variant, widgets
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
routed = variant.has_router(files)
color_by = controls[2].selectbox(
    "Colour by", (["cluster"] if routed else []) + ["dataset", "split", "correctness"], key="clusters_color",
    help=None if routed else "No clusters: this variant has no router.",
)  # fmt: skip
split = controls[3].selectbox("Split", ["all", "iid", "ood"], key="clusters_split")

colour_values = {
    "cluster": examples["route"].to_numpy(),
    "dataset": examples["dataset"].to_numpy(),
    "split": examples["split"].to_numpy(),
    "correctness": examples["correct_aggregated"].fillna(False).to_numpy(),
}[color_by]
proj = loaders.projection(files, space, method)
keep = scope_mask(examples, "all" if split == "all" else f"split: {split}")
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
    settings={"projection": method, "embedding": space, "colour_by": color_by, "split": split},
)  # fmt: skip

selected = [p.get("customdata") for p in (event.selection.points if event else [])]
if selected:
    st.subheader(f"Selected examples ({len(selected)})")
    columns = ["id", "dataset", "split", "route", "gold", "pred_aggregated", "correct_aggregated", "prompt"]
    st.dataframe(examples[examples["id"].isin(selected)][columns], hide_index=True, width="stretch")

scope = "all examples" if split == "all" else f"split {split}"
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
