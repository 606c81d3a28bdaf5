"""Module correlation & MI at inference: CKA / Pearson between modules, per dataset and split, with CIs."""

import streamlit as st

from analysis.figures import similarity_heatmap
from analysis.similarity import similarity_matrix
from studio import loaders, state, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Module correlation & MI · {plain(files.name)}")
art = state.require_artifact(files)
stamp = art.manifest.get("created", "")

METRICS = {"cka": "Linear CKA", "cka_debiased": "Debiased linear CKA", "correlation": "Mean |Pearson r|"}
controls = st.columns(3)
metric = controls[0].selectbox("Similarity", list(METRICS), format_func=METRICS.get, key="corr_metric")
states, rows = loaders.module_states(files, "forced")
scopes = ["all"] + [f"split: {s}" for s in sorted(rows["split"].unique())]
scopes += [f"dataset: {d}" for d in sorted(rows["dataset"].unique())]
scope = controls[1].selectbox("Examples", scopes, key="corr_scope")
n_boot = controls[2].select_slider("Bootstrap resamples", [20, 50, 100, 200], value=50, key="corr_boot")

st.subheader("Between modules (forced sample: every module on the same examples)")
mask = slice(None)
if scope.startswith("split: "):
    mask = (rows["split"] == scope.removeprefix("split: ")).to_numpy()
elif scope.startswith("dataset: "):
    mask = (rows["dataset"] == scope.removeprefix("dataset: ")).to_numpy()
subset = {name: value[mask] for name, value in states.items()}
n_rows = len(next(iter(subset.values()))) if subset else 0
if len(subset) < 2 or n_rows < 4:
    st.info(
        f"Need at least two modules and four examples here (have {len(subset)} modules, {n_rows} examples)."
    )
else:
    matrix = similarity_matrix(subset, metric=metric)
    zmin = None if metric == "cka_debiased" else 0.0
    heat = similarity_heatmap(matrix, metric=METRICS[metric], zmin=zmin, title=f"{METRICS[metric]} ({scope})")
    st.caption(f"{n_rows} examples of the forced sample.")
    widgets.show_figure(heat.figure, heat.data, f"similarity_{metric}", key="corr_heatmap", height=420)

if "invariant" not in art.states or "domain" not in art.states:
    st.info("This model has no invariant module: invariant-vs-domain correlation and MI do not apply.")
    st.stop()

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Invariant vs routed domain module")
    st.caption("All examples, per dataset and split; percentile bootstrap 95% CI over examples.")
    grouped = loaders.grouped_similarity(str(files.folder), stamp, metric, n_boot, files)
    st.dataframe(grouped, hide_index=True, width="stretch")
with right:
    st.subheader("Mutual information (nats)")
    st.caption("batch: the training estimator; ksg: Kraskov k-NN on PCA-reduced states; binned: first PCs.")
    st.dataframe(loaders.mi_table(str(files.folder), stamp, n_boot, files), hide_index=True, width="stretch")
