"""Benchmarks (run as scripts: `python bench/NAME.py`) and the helpers they share with the tests
(`tiny_checkpoints`, `browser`); tests may import from bench/, bench/ imports nothing from tests/."""
