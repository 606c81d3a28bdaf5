"""Training dynamics: loss terms, MI, CKA/correlation, routing and NMI over steps; runs overlaid."""

import streamlit as st

from analysis.figures import metric_lines
from studio import loaders, state, tables, widgets
from studio.checkpoints import discover
from studio.text import plain

files = state.require_checkpoint()
st.title(f"Training dynamics · {plain(files.name)}")

others = [f for f in discover() if f.resolve() != files.folder.resolve() and (f / "metrics.jsonl").is_file()]
controls = st.columns([3, 2])
overlay = controls[0].multiselect(
    "Overlay other runs", [f.name for f in others], key="dynamics_runs",
    help="Other checkpoints (e.g. no-invariant, baseline) drawn with dashed lines.",
)  # fmt: skip
smoothing = controls[1].slider(
    "Smoothing (EMA weight)", 0.0, 0.95, 0.0, 0.05, key="dynamics_smoothing",
    help="0 = raw values; raw values stay visible faintly under the smoothed line.",
)  # fmt: skip

frames = {}
for run in [files] + [loaders.inspect_checkpoint(str(f)) for f in others if f.name in overlay]:
    frame, skipped = tables.training_records(loaders.metrics(run))
    frames[run.name] = frame
    if skipped:
        st.warning(f"{skipped} optimizer step(s) skipped because of a non-finite loss or gradient.")
if frames[files.name].empty:
    st.info("This checkpoint has no training log (metrics.jsonl). It is written by `python -m iclm train`.")
    st.stop()

available = {
    label: column for label, column in tables.DYNAMICS_GROUPS.items()
    if not tables.metric_history(frames, column).empty
}  # fmt: skip
default = [g for g in available if available[g] in tables.DEFAULT_DYNAMICS]
groups = st.multiselect("Metrics", list(available), default=default, key="dynamics_groups")
columns = st.columns(2, gap="large")
for index, label in enumerate(groups):
    history = tables.metric_history(frames, available[label])
    with columns[index % 2]:
        lines = metric_lines(history, label, smoothing=smoothing or None, title=label)
        widgets.show_figure(
            lines.figure,
            lines.data,
            f"dynamics_{available[label]}",
            key=f"dynamics_{available[label]}",
            height=360,
        )
