"""The shared sidebar: checkpoint picker (shipped ones + a free-text folder), device, checkpoint summary."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio import errors, loaders, state, widgets
from studio.checkpoints import CheckpointError, checkpoints_root, default_checkpoint, discover
from studio.text import plain


def _device_options() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _precision(device: str) -> str:
    from analysis.precision import PRECISIONS, default_precision, native_bf16

    fast = native_bf16(device)
    hint = (
        "bf16 autocast: several times faster here (native bf16), scores rounded to ~3 digits. "
        if fast
        else "This device has no native bf16: fp32 is faster and exact. "
    )
    return st.radio(
        "Live precision",
        list(PRECISIONS),
        index=list(PRECISIONS).index(default_precision(device)),
        horizontal=True,
        key=f"sidebar_precision_{device}",
        help=hint
        + "Applies to custom prompts, attribution and interventions; the analysis artifact is fp32.",
    )


def _pick_shipped() -> Path | None:
    folders = discover()
    if not folders:
        st.caption(f"No checkpoints under `{checkpoints_root()}`.")
        return None
    names = [f.name for f in folders]
    first = default_checkpoint(folders)
    index = names.index(first.name) if first is not None else 0
    name = st.selectbox(
        "Checkpoint", names, index=index, key="sidebar_checkpoint", help=str(checkpoints_root())
    )
    return folders[names.index(name)]


def render() -> None:
    """Draw the sidebar and store the selected checkpoint (or None) and device in session state."""
    with st.sidebar:
        st.header("ICLM Studio")
        shipped = _pick_shipped()
        typed = st.text_input(
            "…or a checkpoint folder",
            key="sidebar_folder",
            placeholder="/path/to/run",
            help="Overrides the list.",
        ).strip()
        chosen = None
        if typed:
            try:
                chosen = loaders.inspect_checkpoint(typed)
            except CheckpointError as exc:  # the user's own path: shown as typed (one line, cut if long)
                st.error(f"Cannot open this checkpoint: {errors.describe(exc)}")
                if shipped is not None:
                    st.caption(f"Showing `{plain(shipped.name)}` instead.")
        if chosen is None and shipped is not None:
            try:
                chosen = loaders.inspect_checkpoint(str(shipped))
            except CheckpointError as exc:
                st.error(f"Cannot open this checkpoint: {errors.describe(exc, shipped)}")
        st.session_state[state.CHECKPOINT] = chosen
        st.session_state[state.DEVICE] = st.radio(
            "Device", _device_options(), horizontal=True, key="sidebar_device", help="For live model runs."
        )
        st.session_state[state.PRECISION] = _precision(st.session_state[state.DEVICE])
        if chosen is not None:
            _summary(chosen)
            widgets.figure_set_button()


def _summary(files) -> None:
    config = files.config
    parts = [
        f"**{files.name}**",
        f"variant `{config.get('variant')}`, K = {config.get('num_domains')}",
        f"backbone `{config.get('backbone')}`",
    ]
    st.caption("  \n".join(parts))
    missing = [
        label
        for label, path in (
            ("training log", files.metrics),
            ("evaluation", files.results),
            ("analysis", files.artifact),
        )
        if path is None
    ]
    if missing:
        st.caption("Missing: " + ", ".join(missing))
    weights = files.missing_weights()
    if weights:
        st.warning(
            f"Model weights missing ({plain(', '.join(weights))}): pages that run the model will not work."
        )
