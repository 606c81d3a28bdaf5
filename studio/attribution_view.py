"""The attribution panel of the predictions and custom-prompt pages: method, target, progress, heatmap."""

from __future__ import annotations

import streamlit as st

from analysis.figures import attribution_heatmap
from studio import state, widgets

METHODS = {
    "input_x_gradient": "Gradient × input",
    "saliency": "Saliency |gradient|",
    "integrated_gradients": "Integrated gradients",
    "feature_ablation": "Word ablation",
}
RESULTS = "studio_attributions"  # {key: AttributionResult}


def panel(model, prompt: str, gold: str | None, *, key: str) -> None:
    """Controls + button; the latest result for `key` stays shown across reruns."""
    from analysis.attribution import attribute

    columns = st.columns([2, 2, 1])
    method = columns[0].selectbox(
        "Attribution method", list(METHODS), format_func=METHODS.get, key=f"{key}_method"
    )
    targets = (["gold answer"] if gold else []) + ["each module's own top token"]
    target = columns[1].selectbox("Attributed token", targets, key=f"{key}_target")
    steps = (
        columns[2].number_input("IG steps", 4, 128, 16, key=f"{key}_steps")
        if method == "integrated_gradients"
        else 16
    )
    if st.button("Attribute", key=f"{key}_run", type="primary"):
        bar = st.progress(0.0, text="Attributing…")

        def progress(done: int, total: int) -> None:
            bar.progress(min(done / max(total, 1), 1.0), text=f"Attributing… {done}/{total} forward passes")

        attributed = gold if target == "gold answer" else None
        result = state.run_live(
            attribute, model, model.tokenizer, prompt, method=method, target=attributed, n_steps=int(steps),
            progress=progress,
        )  # fmt: skip
        bar.empty()
        st.session_state.setdefault(RESULTS, {})[key] = (prompt, result)
    stored = st.session_state.get(RESULTS, {}).get(key)
    if stored is None or stored[0] != prompt:
        return
    show(stored[1], key=key)


# Tokens labelled on the on-screen heatmap (plotly.js draws each label on its own: see attribution_heatmap).
SCREEN_TOKEN_LABELS = 64


def show(result, *, key: str) -> None:
    """Heatmap (tokens x modules) and the attributed token of every module."""
    modules = list(result.targets)
    matrix = result.frame.pivot_table(index="token_index", columns="module", values="score", aggfunc="first")
    matrix = matrix.reindex(columns=modules)
    title = f"{METHODS[result.method]} (route {result.route})"
    tokens, scores = list(result.tokens), matrix.to_numpy()
    heat = attribution_heatmap(tokens, scores, modules, title=title)  # exports: every token labelled
    on_screen = attribution_heatmap(
        tokens, scores, modules, title=title, max_token_labels=SCREEN_TOKEN_LABELS
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        if len(tokens) > SCREEN_TOKEN_LABELS:
            every = -(-len(tokens) // SCREEN_TOKEN_LABELS)
            st.caption(f"One token in {every} labelled here (hover names every row); exports label them all.")
        widgets.show_figure(
            on_screen.figure, heat.data, f"attribution_{result.method}", key=f"{key}_heat", export=heat.figure
        )
    with right:
        st.caption("Attributed token per module (log-probability; for IG the completeness error delta).")
        rows = [
            {"module": t.module, "route": t.route, "token": t.token, "logprob": t.logprob, "delta": t.delta}
            for t in result.targets.values()
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
