"""The attribution panel of the predictions and custom-prompt pages: method, target, progress, heatmap and
the prompt as highlighted text, with integrated gradients' completeness judged on the page."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from studio import job_view, jobs, state, widgets
from studio.text import plain

METHODS = {
    "input_x_gradient": "Gradient × input",
    "saliency": "Saliency |gradient|",
    "integrated_gradients": "Integrated gradients",
    "feature_ablation": "Word ablation",
}
EXPLAIN = {
    "answer": "an answer's log-probability",
    "contrast": "a contrast log p(a) − log p(b)",
    "top": "each module's own top token",
}
RESULTS = "studio_attributions"  # {key: (prompt, AttributionResult)}
JOBS = "studio_attribution_jobs"  # {key: (prompt, job key)}: the panel's latest job
OTHER = "other…"
# Integrated gradients one interpolation point per step: a job hands the lane over (and sees Cancel) only
# between steps, and a step of 8 points took 10-17 s on the shipped checkpoint (250 tokens, 2 cores, bf16)
# against 1.5-1.7 s for one point, for ~10% more total time (measured with bench/app_latency.py's prompt).
LIVE_IG_BATCH = 1


def answer_options(gold: str | None, prediction: str | None, choices: Sequence[str] | None) -> dict[str, str]:
    """Label -> answer text for the target pickers: the gold answer, the model's prediction, every choice
    (one entry per distinct answer, its roles named)."""
    roles: dict[str, list[str]] = {}
    for role, answer in [("gold", gold), ("prediction", prediction), *(("choice", c) for c in choices or ())]:
        if answer is not None and str(answer).strip():
            roles.setdefault(str(answer), []).append(role)
    return {f"{answer} ({', '.join(dict.fromkeys(r))})": answer for answer, r in roles.items()}


def _answer(column, options: dict[str, str], label: str, key: str, index: int = 0) -> str | None:
    picked = column.selectbox(label, [*options, OTHER], index=min(index, len(options)), key=key)
    if picked != OTHER:
        return options[picked]
    return column.text_input(f"{label}: text", key=f"{key}_text").strip() or None


def _target(options: dict[str, str], key: str):
    """The chosen target (`analysis.attribution_targets`), or False when it is incomplete."""
    from analysis.attribution_targets import Contrast

    kind = st.radio("Explain", list(EXPLAIN), format_func=EXPLAIN.get, horizontal=True, key=f"{key}_target")
    if kind == "top":
        return None
    columns = st.columns(2)
    first = _answer(columns[0], options, "Answer", f"{key}_answer")
    if kind == "answer":
        return first if first else False
    other = _answer(columns[1], options, "…rather than", f"{key}_other", index=1)
    return Contrast(first, other) if first and other and first != other else False


def panel(model, prompt: str, options: dict[str, str], *, key: str, dataset: str | None = None) -> None:
    """Controls + button; the latest result for `key` stays shown across reruns. `options`: label ->
    answer text (`answer_options`); `dataset`: the prompt's, which an oracle router routes by."""
    from analysis.attribution import BASELINES, DEFAULT_IG_STEPS, attribute
    from analysis.predict import oracle_domain

    columns = st.columns([2, 1, 1])
    method = columns[0].selectbox(
        "Attribution method", list(METHODS), format_func=METHODS.get, key=f"{key}_method"
    )
    steps, baseline = DEFAULT_IG_STEPS, BASELINES[0]
    if method in ("integrated_gradients", "feature_ablation"):
        baseline = columns[1].selectbox(
            "Baseline", list(BASELINES), key=f"{key}_baseline",
            help="scaled: each prompt embedding at 10% of itself (IG converges fastest from it); pad: the "
            "pad token everywhere; zeros. IG keeps the first token (the attention sink) itself.",
        )  # fmt: skip
    if method == "integrated_gradients":
        steps = columns[2].number_input(
            "IG steps", 1, 512, DEFAULT_IG_STEPS, key=f"{key}_steps",
            help=f"{DEFAULT_IG_STEPS} kept the completeness error under 5% where it was measured "
            "(docs/studio.md); the page warns when it does not.",
        )  # fmt: skip
    target = _target(options, key)
    if target is False:
        st.info("Choose or type the answer(s) to explain (a contrast needs two different answers).")
    if st.button("Attribute", key=f"{key}_run", type="primary", disabled=target is False):
        domain = oracle_domain(model, dataset)  # None unless the router is the oracle
        settings = (method, repr(target), int(steps), baseline, domain)
        job = state.start_live_job(
            ("attribution", id(model), prompt, *settings), f"{METHODS[method]} attribution",
            attribute, model, model.tokenizer, prompt, method=method, target=target, n_steps=int(steps),
            baseline=baseline, internal_batch_size=LIVE_IG_BATCH, domain_id=domain,
        )  # fmt: skip
        st.session_state.setdefault(JOBS, {})[key] = (prompt, job.key)
        with st.spinner(f"{METHODS[method]}…"):
            job_view.wait_inline(job)  # a quick job comes with this run; a long one shows progress
    asked = st.session_state.get(JOBS, {}).get(key)
    job = jobs.JOBS.get(asked[1]) if asked is not None and asked[0] == prompt else None
    if job is not None and not job.finished:
        job_view.follow(job, key=key)
        return
    if job is not None and job.status == "done":
        st.session_state.setdefault(RESULTS, {})[key] = (prompt, job.result)
    elif job is not None:
        job_view.outcome(job)
    stored = st.session_state.get(RESULTS, {}).get(key)
    if stored is None or stored[0] != prompt:
        return
    show(stored[1], key=key)


# Tokens labelled on the on-screen heatmap (plotly.js draws each label on its own: see attribution_heatmap).
SCREEN_TOKEN_LABELS = 64


def targets_table(result) -> pd.DataFrame:
    """What each readout explains: f(x), and for integrated gradients f(baseline), the attributions' sum,
    the completeness error and that error relative to f(x) - f(baseline)."""
    rows = []
    for t in result.targets.values():
        answer = repr(t.token) + ("" if t.contrast_token is None else f" vs {t.contrast_token!r}")
        row = {"module": t.module, "route": t.route, "answer (as tokenised)": answer, "f(x)": t.logprob}
        if t.delta is not None:
            row |= {"f(baseline)": t.baseline_logprob, "delta": t.delta, "relative error": t.relative_delta}
        rows.append(row)
    return pd.DataFrame(rows)


def settings(result) -> dict:
    """What an attribution figure was computed with (for the figure set's manifest)."""
    return {
        "method": result.method, "explained": result.quantity, "n_steps": result.n_steps,
        "baseline": result.baseline, "route": result.route, "tokens": len(result.tokens),
    }  # fmt: skip


def show(result, *, key: str) -> None:
    """Heatmap (tokens x modules), the prompt as highlighted text, and what every module explains."""
    from analysis.attribution_figures import attribution_heatmap, highlighted_text
    from analysis.attribution_words import word_scores

    if (advice := result.advice()) is not None:
        st.warning(plain(advice), icon=":material/warning:")
    modules = list(result.targets)
    matrix = result.frame.pivot_table(index="token_index", columns="module", values="score", aggfunc="first")
    scores, tokens = matrix.reindex(columns=modules).to_numpy(), list(result.tokens)
    title = f"{METHODS[result.method]}: {result.quantity} (route {result.route})"
    on_screen = attribution_heatmap(
        tokens, scores, modules, title=title, max_token_labels=SCREEN_TOKEN_LABELS
    )

    def every_token_labelled():  # exports' figure, built when one asks: 0.3-0.5 s for 250 tokens
        return attribution_heatmap(tokens, scores, modules, title=title).figure

    left, right = st.columns([2, 3], gap="large")
    with left:
        if len(tokens) > SCREEN_TOKEN_LABELS:
            every = -(-len(tokens) // SCREEN_TOKEN_LABELS)
            st.caption(f"One token in {every} labelled here (hover names every row); exports label them all.")
        widgets.show_figure(
            on_screen.figure,
            on_screen.data,
            f"attribution_{result.method}",
            key=f"{key}_heat",
            export=every_token_labelled,
            settings=settings(result),
        )
    with right:
        module = st.selectbox("Highlight the prompt for", modules, key=f"{key}_highlight")
        words = word_scores(result.frame, module)
        text = highlighted_text(words, title=f"{module}: {result.quantity}")
        widgets.show_figure(
            text.figure,
            text.data,
            f"attribution_text_{result.method}_{module}",
            key=f"{key}_text",
            settings=settings(result) | {"module": module},
        )
        st.caption(
            f"Explained: {plain(result.quantity)} (the answer tokenised as it follows the prompt, "
            "log-probabilities summed over its tokens). Word scores sum their tokens' scores."
        )
        st.dataframe(
            targets_table(result), hide_index=True, width="stretch",
            column_config={"relative error": st.column_config.NumberColumn(format="percent")},
        )  # fmt: skip
