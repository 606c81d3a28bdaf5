import streamlit as st

from studio import state

files = state.require_checkpoint()
st.title("1_overview")
