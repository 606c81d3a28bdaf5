"""Tests of studio/, the pages and app.py (AppTest)."""
