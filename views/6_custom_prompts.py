"""Custom prompts: type or upload prompts; each is routed, placed on the cluster map, predicted by every
module and attributed. Results download as CSV or JSONL."""

import numpy as np
import pandas as pd
import streamlit as st

from analysis.accuracy_figures import accuracy_bars
from analysis.figures import projection_scatter
from analysis.slices import prompt_accuracy
from studio import (
    attribution_view,
    errors,
    exporting,
    job_view,
    loaders,
    prompts,
    state,
    uploads,
    variant,
    widgets,
)
from studio.text import plain

MAX_PROMPTS = 64
INTERACTIVE_PROMPTS = 3  # up to this many (typed ones) run at once; a longer file runs as a job
files = state.require_checkpoint()
st.title(f"Custom prompts · {plain(files.name)}")

typed, uploaded = st.tabs(["Type prompts", "Upload a file"])
with typed:
    text = st.text_area(
        "One prompt per line (write \\n for a line break inside a prompt)", key="prompts_text"
    )
with uploaded:
    upload = st.file_uploader(
        "Evals JSONL, JSONL {prompt, answer[, choices]}, CSV (prompt, answer[, choices]) or TXT",
        type=["jsonl", "json", "csv", "txt"], key="prompts_upload",
    )  # fmt: skip
    split = st.radio(
        "Split of this file", ["iid", "ood"], horizontal=True, key="prompts_split",
        help="How its accuracy and examples are labelled: i.i.d. or o.o.d. for the model.",
    )  # fmt: skip
if upload is not None:
    loaded = uploads.load_bytes(upload.name, upload.getvalue(), split=split)
else:
    loaded = uploads.load_text(text)
if loaded.fatal:
    st.error(f"Cannot read the file: {plain(loaded.fatal)}")
if not loaded.errors.empty:
    st.warning(f"{len(loaded.errors)} line(s) skipped; the valid lines are processed.")
    st.dataframe(loaded.errors, hide_index=True, width="stretch")
examples = loaded.examples
if not examples:
    st.info("Type prompts or upload a file to route them and see every module's prediction.")
    st.stop()
if len(examples) > MAX_PROMPTS:
    st.warning(f"{len(examples)} prompts: processing the first {MAX_PROMPTS}.")
    examples = examples[:MAX_PROMPTS]

model = state.live_model(files)
examples = prompts.routed_as_picker(model, examples, key="prompts")
signature = (
    str(files.folder), state.precision(), tuple((e.id, e.prompt, e.choices, e.domain) for e in examples)
)  # fmt: skip
if st.session_state.get("prompts_signature") != signature:
    from studio.live import run_prompts

    if len(examples) <= INTERACTIVE_PROMPTS:  # typed prompts: answered at once, before any queued job
        bar = st.progress(0.0, text="Routing and predicting…")
        st.session_state["prompts_result"] = state.run_live(
            run_prompts,
            model,
            model.tokenizer,
            examples,
            lambda done, total: bar.progress(done / total, text=f"{done}/{total}"),
        )
        bar.empty()
    else:  # a file of prompts: a job with progress, ETA and Cancel (studio.jobs)
        job = state.start_live_job(
            ("prompts", id(model), signature), f"{len(examples)} prompts",
            run_prompts, model, model.tokenizer, examples,
        )  # fmt: skip
        st.session_state["prompts_result"] = job_view.result_or_stop(job, key="prompts_job")
    st.session_state["prompts_signature"] = signature
rows, router_states, details = st.session_state["prompts_result"]
labelled = prompt_accuracy(rows)
if upload is not None and labelled["n"].sum() > 0:  # a file with gold answers: every module's accuracy
    st.subheader(f"Accuracy on {plain(upload.name)} ({split})")
    bars = accuracy_bars(labelled.assign(split=split), title=f"Accuracy on {upload.name} ({split})")
    widgets.show_figure(
        bars.figure, bars.data, "upload_accuracy", key="prompts_accuracy", height=380,
        settings={"file": upload.name, "split": split},
    )  # fmt: skip
    st.caption(
        f"n = {int(labelled['n'].max())} prompts with a gold answer; error bars: 95% Wilson intervals."
    )

st.subheader(f"Predictions ({len(rows)} prompts)")
st.dataframe(rows, hide_index=True, width="stretch")
left, right = st.columns(2)
left.download_button("Download CSV", exporting.csv(rows)(), "predictions.csv", "text/csv", key="prompts_csv")
right.download_button(
    "Download JSONL", rows.to_json(orient="records", lines=True, force_ascii=False), "predictions.jsonl",
    "application/jsonl", key="prompts_jsonl",
)  # fmt: skip


def _placed_on_map(method: str, space: str):
    """(the analysed examples' coords, the prompts' coords) on the fitted map, or None while a UMAP job
    runs (its progress and Cancel are shown) or after it was cancelled."""
    if method == "pca":  # sub-second: here
        fitted = loaders.fitted_projection(files, space, method)
        return fitted.coords, fitted.transform(router_states[space])

    def start(restart: bool = False):  # a UMAP fit takes minutes the first time: the projection worker
        return loaders.placement_job(files, space, method, router_states[space], restart=restart)

    return job_view.result_or_none(start(), key="prompts_placement", again=lambda: start(restart=True))


st.subheader("On the router cluster map")
art = None
if not variant.has_router(files):
    st.info(variant.no_router(files))
elif files.artifact is None:
    st.info("No analysis artifact: the prompts cannot be placed on the cluster map.")
else:
    art = errors.or_none("Cannot place the prompts on the cluster map", files.folder, loaders.artifact, files)
if art is not None:
    columns = st.columns(2)
    method = columns[0].selectbox("Projection", ["pca", "umap"], format_func=str.upper, key="prompts_method")
    space = columns[1].selectbox("Embedding", ["router_projected", "router_embeddings"], key="prompts_space")
    placement = _placed_on_map(method, space)
    how = (
        "PCA transform (exact)"
        if method == "pca"
        else "UMAP transform (approximate, against the fitted graph)"
    )
    st.caption(f"Analysed examples as fitted; your prompts placed with the same fitted projection: {how}.")
if art is not None and placement is not None:
    coords, placed = placement
    reference = art.examples
    labels = [f"cluster {r}" for r in reference["route"]] + ["your prompt"] * len(rows)
    hover = list(reference["dataset"]) + list(rows["prompt"].str[:80])
    scatter = projection_scatter(
        np.vstack([coords, placed]), list(reference["id"]) + list(rows["id"]),
        [str(x) for x in labels], color_by="dataset", hover=hover,
        title=f"Your prompts on the {method.upper()} map", size="two_column",
    )  # fmt: skip
    widgets.show_figure(
        scatter.figure, scatter.data, f"prompts_on_{method}", key="prompts_map", height=520,
        settings={"projection": method, "embedding": space, "prompts": len(rows)},
    )  # fmt: skip

st.subheader("One prompt in detail")
chosen = st.selectbox("Prompt", list(rows["id"]), key="prompts_detail")
example = next(e for e in examples if e.id == chosen)
result = details[chosen]
st.text(example.prompt)
table = pd.DataFrame(
    [
        {
            "readout": name,
            "prediction": p.prediction,
            "top tokens": ", ".join(f"{t!r} {q:.2f}" for t, q in p.top_tokens),
        }
        for name, p in result.modules.items()
    ]
)
st.caption(
    f"Route: domain_{result.route} · distances to the codes: {[round(d, 3) for d in result.distances]}"
)
st.dataframe(table, hide_index=True, width="stretch")
predicted = result.modules.get("aggregated")
options = attribution_view.answer_options(
    example.answer, predicted.prediction if predicted else None, example.choices
)
attribution_view.panel(
    model, example.prompt, options, key="prompts_attr", dataset=example.domain or example.dataset
)
