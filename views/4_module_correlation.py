"""Module correlation & MI at inference: CKA / Pearson between modules and invariant-vs-domain MI, every
number for the one scope of examples chosen at the top, with bootstrap CIs."""

import streamlit as st

from analysis.figures import similarity_heatmap
from analysis.mi_report import MIN_ROWS, PRIMARY, WHAT
from analysis.scopes import in_scope, scope_mask, scopes
from analysis.similarity import similarity_matrix
from studio import figure_loaders, loaders, state, variant, widgets
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Module correlation & MI · {plain(files.name)}")
art = state.require_artifact(files)
stamp = art.manifest.get("created", "")

METRICS = {"cka": "Linear CKA", "cka_debiased": "Debiased linear CKA", "correlation": "Mean |Pearson r|"}
controls = st.columns([2, 2, 2, 1])
metric = controls[0].selectbox("Similarity", list(METRICS), format_func=METRICS.get, key="corr_metric")
states, rows = loaders.module_states(files, "forced")
scope = controls[1].selectbox(
    "Examples",
    scopes(art.examples),
    key="corr_scope",
    help="Every number on this page is for these examples.",
)
n_boot = controls[2].select_slider("Bootstrap resamples", [20, 50, 100, 200], value=50, key="corr_boot")
fixed = controls[3].checkbox(
    "Fixed 0–1 colours",
    key="corr_fixed",
    help="Off: the colour range is the data's own, so near values differ.",
)

st.subheader("Between modules (forced sample: every module on the same examples)")
mask = scope_mask(rows, scope)
subset = {name: value[mask] for name, value in states.items()}
n_rows = int(mask.sum())
if len(subset) < 2 or n_rows < 4:
    st.info(
        f"Need at least two modules and four examples here (have {len(subset)} modules, {n_rows} examples)."
    )
else:
    matrix = similarity_matrix(subset, metric=metric)
    bounds = (0.0, 1.0) if fixed and metric != "cka_debiased" else None
    heat = similarity_heatmap(
        matrix, metric=METRICS[metric], fixed_range=bounds, title=f"{METRICS[metric]} ({scope})"
    )
    st.caption(f"{n_rows} examples of the forced sample ({plain(scope)}).")
    widgets.show_figure(
        heat.figure, heat.data, f"similarity_{metric}", key="corr_heatmap", height=420,
        settings={"metric": metric, "scope": scope, "colour_range": "0-1" if bounds else "data"},
    )  # fmt: skip

if not variant.has_invariant(files) or "invariant" not in art.states or "domain" not in art.states:
    st.info(variant.no_invariant(files))
    st.stop()

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Invariant vs routed domain module")
    st.caption(f"{plain(scope)}: per dataset and split; percentile bootstrap 95% CI over examples.")
    grouped = loaders.grouped_similarity(str(files.folder), stamp, metric, n_boot, files)
    st.dataframe(in_scope(grouped, scope), hide_index=True, width="stretch")
with right:
    st.subheader("Mutual information (nats)")
    report = figure_loaders.mi_report(str(files.folder), stamp, scope, n_boot, files)
    if report.empty:
        st.info(f"Too few examples in {plain(scope)} to estimate mutual information (need {MIN_ROWS}).")
    else:
        primary = report[report["primary"]].iloc[0]
        st.metric(
            f"MI, {PRIMARY.upper()} (nats)", f"{primary['mi']:.3f}",
            help=WHAT[PRIMARY] + " See docs/studio.md for why it is the one to report.",
        )  # fmt: skip
        st.caption(
            f"95% CI [{primary['low']:.3f}, {primary['high']:.3f}], n = {int(primary['n'])} ({plain(scope)})."
        )
        if primary["note"]:
            st.caption(f"{plain(primary['note'])}.")
        with st.expander("Other estimators: what each measures"):
            for name, text in WHAT.items():
                if name != PRIMARY:
                    st.caption(f"**{name}**: {text}")
            st.dataframe(report[~report["primary"]].drop(columns="primary"), hide_index=True, width="stretch")
