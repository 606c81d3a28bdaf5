"""Training dynamics: loss terms, MI, CKA/correlation, routing and NMI over steps; the page's run solid,
other runs dashed; what a run's variant does not have is left out and named, never drawn as zeros."""

import streamlit as st

from analysis.figures import metric_lines
from analysis.palette import run_colors
from studio import errors, loaders, state, tables, variant, widgets
from studio.checkpoints import discover
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Training dynamics · {plain(files.name)}")

others = [f for f in discover() if f.resolve() != files.folder.resolve() and (f / "metrics.jsonl").is_file()]
controls = st.columns([3, 2])
overlay = controls[0].multiselect(
    "Overlay other runs", [f.name for f in others], key="dynamics_runs",
    help=f"Other checkpoints (e.g. no-invariant, baseline), drawn dashed; {plain(files.name)} stays solid.",
)  # fmt: skip
smoothing = controls[1].slider(
    "Smoothing (EMA weight)", 0.0, 0.95, 0.0, 0.05, key="dynamics_smoothing",
    help="0 = raw values; raw values stay visible faintly under the smoothed line.",
)  # fmt: skip

with errors.stop_on_error("Cannot draw the training curves", files.folder):
    logs = {files.name: (files, loaders.metrics_log(files))}
for folder in others:
    if folder.name in overlay:
        found = errors.or_none(
            f"{plain(folder.name)} not overlaid", folder, loaders.training_log, folder, warn=True
        )
        if found is not None:
            logs[folder.name] = found

frames, missing = {}, {}
for run, log in logs.values():
    if log is not None and log.skipped:
        st.warning(
            f"{len(log.skipped)} line(s) of the training log skipped, the first: "
            f"{errors.describe(log.skipped[0], run.folder)}"
        )
    frame, skipped = tables.training_records([] if log is None else log.records)
    missing[run.name] = variant.missing_terms(run)
    frames[run.name] = tables.without_columns(frame, "loss_terms", missing[run.name])
    if skipped:
        st.warning(f"{skipped} optimizer step(s) skipped because of a non-finite loss or gradient.")
if frames[files.name].empty:
    st.info("This checkpoint has no training log (metrics.jsonl). It is written by `python -m iclm train`.")
    st.stop()

available = {
    label: column for label, column in tables.DYNAMICS_GROUPS.items()
    if column not in variant.missing_dynamics(files) and not tables.metric_history(frames, column).empty
}  # fmt: skip
default = [g for g in available if available[g] in tables.DEFAULT_DYNAMICS]
groups = st.multiselect("Metrics", list(available), default=default, key="dynamics_groups")
lacking = [f"{plain(run)}: {', '.join(terms)}" for run, terms in missing.items() if terms]
notes = []
if not variant.has_router(files):
    notes.append(variant.no_router(files))
if not variant.has_invariant(files):
    notes.append(variant.no_invariant(files))
if lacking:
    notes.append(
        "Loss terms not applicable (the variant lacks the module; logged as 0.0): " + "; ".join(lacking)
    )
for note in notes:
    st.caption(note)
if any(available.get(g) == "mi_batch" for g in groups):
    st.caption(
        "MI penalty: the training term itself, on softmaxed features; values under 1e-6 nats in size "
        "(negative ones too) are float round-off of zero. The MI to report is KSG (docs/studio.md)."
    )
colors = run_colors(variant.known_runs(files))
columns = st.columns(2, gap="large")
for index, label in enumerate(groups):
    history = tables.metric_history(frames, available[label])
    with columns[index % 2]:
        lines = metric_lines(
            history,
            label,
            smoothing=smoothing or None,
            title=label,
            primary_run=files.name,
            run_colors=colors,
        )
        widgets.show_figure(
            lines.figure, lines.data, f"dynamics_{available[label]}", key=f"dynamics_{available[label]}",
            height=360, settings={"metric": label, "runs": list(frames), "smoothing": smoothing},
        )  # fmt: skip
