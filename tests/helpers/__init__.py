"""Helpers several test files share (import them as `tests.helpers.NAME`). Pytest fixtures live in
tests/conftest.py; the tiny studio checkpoints and the browser server live in bench/ (the benchmarks use
them too)."""
