"""ICLM Studio: `streamlit run app.py`. Navigation over views/ and the shared sidebar (checkpoint, device).

The page scripts live in views/, not pages/: Streamlit treats a `pages/` folder beside the entry point as a
legacy multipage app until `st.navigation` first runs, so the first visitor of a fresh server would get
pages that bypass this file (no sidebar, no checkpoint)."""

from __future__ import annotations

import logging

import streamlit as st

from studio import sidebar, url_state
from studio.jobs import LANE

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="ICLM Studio", page_icon=":material/hub:", layout="wide")

# (script, url path, title, icon); the first is the default page. Streamlit serves it at "/" and reserves
# its path without serving it ("Page not found"), so it reserves "home" and /overview is an alias
# (url_state.aliases) like any path that names no page.
PAGE_SPECS = [
    ("views/1_overview.py", "home", "Overview", ":material/dashboard:"),
    ("views/2_router_clusters.py", "clusters", "Router clusters", ":material/scatter_plot:"),
    ("views/3_training_dynamics.py", "dynamics", "Training dynamics", ":material/show_chart:"),
    ("views/4_module_correlation.py", "correlation", "Module correlation & MI", ":material/grid_on:"),
    ("views/5_predictions.py", "predictions", "Predictions & attribution", ":material/manage_search:"),
    ("views/6_custom_prompts.py", "prompts", "Custom prompts", ":material/edit_note:"),
    ("views/7_interventions.py", "interventions", "Interventions", ":material/alt_route:"),
    ("views/10_slices.py", "slices", "Slices", ":material/filter_alt:"),
    ("views/9_compare_checkpoints.py", "compare", "Compare checkpoints", ":material/compare_arrows:"),
    ("views/8_continual_learning.py", "continual", "Continual learning", ":material/account_tree:"),
]
PAGES = [
    st.Page(script, url_path=path, title=title, icon=icon, default=index == 0)
    for index, (script, path, title, icon) in enumerate(PAGE_SPECS)
]

url_state.restore()  # a link's checkpoint and controls, before any widget exists
known = {path for _, path, _, _ in PAGE_SPECS[1:]} | {""}
aliases = url_state.alias_for_unknown_path(PAGE_SPECS[0][0], PAGE_SPECS[0][2], known, silent={"overview"})
page = st.navigation(PAGES + aliases)
url_state.publish(page.url_path)  # the view as the last interaction left it (every interaction reruns)
with LANE.page_run():  # background jobs take no new step while this run draws (studio.jobs.Lane.page_run)
    sidebar.render()
    url_state.note_unknown_path()
    page.run()
