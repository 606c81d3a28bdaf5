import streamlit as st

from studio import state

files = state.require_checkpoint()
st.title("7_interventions")
