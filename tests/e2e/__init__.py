"""End-to-end tests: the studio served by streamlit and driven in a real Chromium (-m browser)."""
