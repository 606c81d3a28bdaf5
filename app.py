"""ICLM Studio: `streamlit run app.py`. Navigation over views/ and the shared sidebar (checkpoint, device).

The page scripts live in views/, not pages/: Streamlit treats a `pages/` folder beside the entry point as a
legacy multipage app until `st.navigation` first runs, so the first visitor of a fresh server would get
pages that bypass this file (no sidebar, no checkpoint)."""

from __future__ import annotations

import logging

import streamlit as st

from studio import sidebar

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="ICLM Studio", page_icon=":material/hub:", layout="wide")

PAGES = [
    st.Page(
        "views/1_overview.py",
        url_path="overview",
        title="Overview",
        icon=":material/dashboard:",
        default=True,
    ),
    st.Page(
        "views/2_router_clusters.py",
        url_path="clusters",
        title="Router clusters",
        icon=":material/scatter_plot:",
    ),
    st.Page(
        "views/3_training_dynamics.py",
        url_path="dynamics",
        title="Training dynamics",
        icon=":material/show_chart:",
    ),
    st.Page(
        "views/4_module_correlation.py",
        url_path="correlation",
        title="Module correlation & MI",
        icon=":material/grid_on:",
    ),
    st.Page(
        "views/5_predictions.py",
        url_path="predictions",
        title="Predictions & attribution",
        icon=":material/manage_search:",
    ),
    st.Page(
        "views/6_custom_prompts.py", url_path="prompts", title="Custom prompts", icon=":material/edit_note:"
    ),
    st.Page(
        "views/7_interventions.py",
        url_path="interventions",
        title="Interventions",
        icon=":material/alt_route:",
    ),
    st.Page(
        "views/9_compare_checkpoints.py",
        url_path="compare",
        title="Compare checkpoints",
        icon=":material/compare_arrows:",
    ),
    st.Page(
        "views/8_continual_learning.py",
        url_path="continual",
        title="Continual learning",
        icon=":material/account_tree:",
    ),
]

page = st.navigation(PAGES)
sidebar.render()
page.run()
