"""Choosing prompts on a page: an artifact example or a typed prompt, and seeded dataset samples; the
dataset a typed prompt is routed as when the model's router is the oracle."""

from __future__ import annotations

import dataclasses
import random

import streamlit as st

from studio.text import plain


def example_picker(pool: list, *, key: str):
    """An `Example` chosen from `pool` (the artifact's, `loaders.examples`) or typed by the user (None until
    there is one)."""
    from iclm.data import Example

    source = st.radio(
        "Prompt", ["from the analysed data", "type a prompt"] if pool else ["type a prompt"],
        horizontal=True, key=f"{key}_source",
    )  # fmt: skip
    if source == "from the analysed data":
        ids = [e.id for e in pool]
        chosen = st.selectbox("Example", ids, key=f"{key}_example")
        example = pool[ids.index(chosen)]
        with st.expander("Prompt text", expanded=False):
            st.text(example.prompt)
        where = f"dataset {plain(example.dataset)} · split {plain(example.split)}"
        st.caption(f"{where} · gold answer: {plain(example.answer)}")
        return example
    text = st.text_area("Prompt", key=f"{key}_prompt", height=140)
    columns = st.columns(2)
    choices = columns[0].text_input("Choices (optional, separated by |)", key=f"{key}_choices")
    answer = columns[1].text_input("Gold answer (optional)", key=f"{key}_answer")
    if not text.strip():
        return None
    options = tuple(c.strip() for c in choices.split("|") if c.strip()) or None
    return Example(
        id="typed", prompt=text, answer=answer.strip(), choices=options, dataset="typed", split="iid"
    )


def sample(pool: list, datasets: list[str], per_dataset: int, seed: int) -> list:
    """Up to `per_dataset` examples of each chosen dataset, drawn with `seed` (same seed, same sample)."""
    rng = random.Random(seed)
    out = []
    for name in datasets:
        members = [e for e in pool if e.dataset == name]
        out += rng.sample(members, min(per_dataset, len(members)))
    return out


def routed_as_picker(model, examples: list, *, key: str) -> list:
    """`examples`, each one that is of none of the model's datasets given the dataset chosen here, when the
    model's router is the oracle (it routes a prompt by its true dataset, so a typed prompt needs one);
    unchanged for every other model (no widget)."""
    from analysis.predict import oracle_domain, routes_by_dataset

    if not routes_by_dataset(model):
        return examples
    names = list(model.config.dataset_names)
    chosen = st.selectbox(
        "Route as dataset", names, key=f"{key}_routed_as",
        help="This model's router is the oracle: it sends a prompt to the domain module of its true "
        "dataset. Prompts of none of its datasets are routed as the one chosen here.",
    )  # fmt: skip

    def known(example) -> bool:
        try:
            oracle_domain(model, example.domain or example.dataset)
        except ValueError:
            return False
        return True

    return [e if known(e) else dataclasses.replace(e, domain=chosen) for e in examples]
