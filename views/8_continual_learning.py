"""Continual learning: an extended checkpoint's lineage, what its new domain did to the old tasks and the
new one (accuracy before and after, paired, with intervals), how the router assigned old and new data over
the extension's training, and how far the invariant module moved (CKA of its states before vs after)."""

import pandas as pd
import streamlit as st

from analysis.accuracy import read_predictions
from analysis.accuracy_figures import accuracy_bars
from analysis.continual import (
    before_after,
    before_after_bars,
    before_after_colors,
    invariant_drift,
    pooled_forgetting,
    routing_over_training,
    with_parent_on_new_task,
)
from analysis.figures import metric_lines
from iclm.checkpoint_format import variant_has_router
from iclm.extension import read_lineage
from studio import errors, loaders, state, widgets
from studio.checkpoints import parent_folder
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Continual learning · {plain(files.name)}")
with errors.stop_on_error("Cannot read the lineage", files.folder):
    lineage = read_lineage(files.folder)
if lineage is None:
    st.info(
        "This checkpoint was trained from scratch: it has no lineage.json. "
        "`python -m iclm extend CHECKPOINT --data NEW_TASK -o OUT` adds a domain module for a new task and "
        "records where it came from (docs/training.md, 'Continual learning')."
    )
    st.stop()

st.subheader("Lineage")
plan = lineage.plan
sequential = bool(plan.get("sequential"))
rows = {
    "parent": lineage.parent,
    "added": (
        "nothing: a sequential fine-tuning (every module trained on the new task)"
        if lineage.added_domain is None
        else f"domain_{lineage.added_domain} and router code {lineage.added_domain}"
    ),
    "new datasets": ", ".join(lineage.datasets),
    "frozen": ", ".join(lineage.frozen) or "nothing",
    "invariant module": "trained (sequential fine-tuning)"
    if sequential
    else plan.get("invariant", "?")
    + (
        f" ({plan.get('anchor')}, weight {plan.get('anchor_weight')})"
        if plan.get("invariant") == "anchored"
        else ""
    ),
    "aggregation": "trained" if sequential or plan.get("train_aggregation") else "frozen",
    "replayed old examples": str(plan.get("replay", 0)),
    "steps on the new task": str(lineage.steps),
    "earlier extensions": " → ".join(a.get("parent", "?") for a in lineage.ancestors) or "none",
}
st.table(
    pd.DataFrame({"": [plain(k) for k in rows], "value": [plain(v) for v in rows.values()]}).set_index("")
)
parent = parent_folder(lineage.parent, files.folder)
if parent is None:
    st.warning(
        f"The parent checkpoint {plain(lineage.parent)} is not found: before/after comparisons need it."
    )
    st.stop()
with errors.stop_on_error("Cannot open the parent checkpoint", parent):
    parent_files = loaders.inspect_checkpoint(str(parent))

st.subheader("Accuracy before and after, per dataset")
method = st.radio("Scoring", ["choice", "greedy"], horizontal=True, key="continual_method")
if files.predictions is None or parent_files.predictions is None:
    st.info(
        "Evaluate both checkpoints on the same test files (old and new tasks) to compare them: "
        f"`python -m iclm evaluate {plain(parent.name)} --data ...` and the same for {plain(files.name)}."
    )
else:
    with errors.stop_on_error("Cannot read the predictions", files.folder):
        before = read_predictions(parent_files.predictions)
        if files.parent_predictions is not None:  # the parent scored on the new task, kept with the child
            before = with_parent_on_new_task(before, read_predictions(files.parent_predictions))
        after = read_predictions(files.predictions)
    table = before_after(before, after, lineage.datasets, method=method)
    if table.empty:
        st.info("The two evaluations share no example scored this way: evaluate both on the same files.")
    else:
        names = {"before": f"before ({plain(parent.name)})", "after": f"after ({plain(files.name)})"}
        bars = accuracy_bars(
            before_after_bars(table, names),
            category="dataset",
            title=f"Accuracy before and after the extension ({method} scoring)",
            size="two_column",
            colors=before_after_colors(names),
        )
        widgets.show_figure(
            bars.figure, bars.data, f"continual_accuracy_{method}", key="continual_bars", height=420,
            settings={"scoring": method, "parent": parent.name},
        )  # fmt: skip
        st.caption(
            "Paired by example id: the change is after − before with Newcombe's 95% interval for paired "
            "proportions over the "
            "examples, McNemar's exact p on the examples only one model gets right; forgetting = − change on "
            "an old task. Bars carry 95% Wilson intervals."
        )
        st.dataframe(table, hide_index=True, key="continual_table")  # cells are text, never Markdown
        pooled = pooled_forgetting(before, after, lineage.datasets, method=method)
        if pooled is not None:
            st.metric(
                "Forgetting over every old test set (accuracy points)",
                f"{100 * pooled.forgetting:+.1f}",
            )
            st.caption(
                f"{100 * pooled.before:.1f}% before, {100 * pooled.after:.1f}% after on the n = {pooled.n} "
                f"old examples both evaluations hold ({pooled.datasets} datasets); Newcombe's paired 95% "
                "interval "
                f"[{100 * pooled.low:+.1f}, {100 * pooled.high:+.1f}], McNemar's exact p = "
                f"{pooled.p_value:.3g}. Positive = the old tasks got worse."
            )
        if not any(table["role"] == "new"):
            st.caption(
                "The new task has no before row: the parent was not scored on its test files. "
                f"`python -m iclm evaluate {plain(parent.name)} --data NEW_TEST --out "
                f"{plain(files.name)}/eval-parent` adds it."
            )

st.subheader("How the router assigned old and new data over the extension")
with errors.stop_on_error("Cannot read the training log", files.folder):
    routing = routing_over_training(loaders.metrics(files))
if not variant_has_router(files.config.get("variant", "iclm")):
    st.caption("Not applicable: the variant has no router (a single module takes every example).")
elif routing.empty:
    st.info(
        "No per-dataset routing in this run's metrics.jsonl: give old and new test files as the probe "
        "(`python -m iclm extend ... --probe OLD_TEST NEW_TEST`)."
    )
else:
    history = routing.rename(columns={"dataset": "run", "domain": "module", "share": "value"})
    lines = metric_lines(history, "share of the dataset's probe examples", title="Routing per dataset")
    widgets.show_figure(
        lines.figure, lines.data, "continual_routing", key="continual_routing", height=380,
        settings={"line style": "one per dataset", "colour": "domain module"},
    )  # fmt: skip
    st.caption("One line style per probe dataset, one colour per domain module.")

st.subheader("How far the invariant module moved")
child_artifact = errors.or_none(
    "No analysis artifact of this checkpoint", files.folder, loaders.artifact, files
)
parent_artifact = errors.or_none("No analysis artifact of the parent", parent, loaders.artifact, parent_files)
if child_artifact is None or parent_artifact is None:
    st.info(
        "Analyse both checkpoints on the same files (`python -m analysis analyze CHECKPOINT --data ...`) "
        "to compare their invariant states."
    )
elif "invariant" not in child_artifact.states or "invariant" not in parent_artifact.states:
    st.caption("Not applicable: the variant has no invariant module.")
else:
    try:
        drift = invariant_drift(
            parent_artifact.states["invariant"], list(parent_artifact.examples["id"]),
            child_artifact.states["invariant"], list(child_artifact.examples["id"]),
        )  # fmt: skip
    except ValueError as error:
        st.info(plain(str(error)))
    else:
        st.metric("Linear CKA, invariant states before vs after", f"{drift.cka:.3f}")
        st.caption(
            f"95% bootstrap interval [{drift.low:.3f}, {drift.high:.3f}] over the n = {drift.n} examples "
            "both artifacts hold; 1 = the same representation up to rotation and scale (a frozen "
            "invariant module gives 1)."
        )
