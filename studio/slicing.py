"""Save a set of analysed examples as a named slice (`analysis.slices`) from any page that has one."""

from __future__ import annotations

import streamlit as st

from studio import errors
from studio.text import plain


def save_controls(files, ids: list[str], source: str, *, key: str, default_name: str) -> None:
    """A name field and a Save button for the examples `ids`; the slice goes to the artifact's
    slices.json (listed and compared on the Slices page)."""
    from analysis.slices import Slice, save_slice

    columns = st.columns([3, 1], vertical_alignment="bottom")
    name = columns[0].text_input("Slice name", value=default_name, key=f"{key}_name", max_chars=80)
    if not columns[1].button(f"Save {len(ids)} as a slice", key=f"{key}_save", disabled=not ids):
        return
    try:
        saved = save_slice(files.artifact, Slice.make(name, ids, source))
    except ValueError as error:
        st.error(plain(str(error)))
    except OSError as error:
        why = errors.describe(error, files.folder)
        st.error(f"Cannot save the slice (is the analysis folder read-only?): {why}")
    else:
        st.success(f"Saved {plain(name)} ({len(ids)} examples); {len(saved)} slice(s) on the Slices page.")
