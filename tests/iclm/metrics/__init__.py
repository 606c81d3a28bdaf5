"""Tests of iclm/metrics/ (and the analysis tables over them)."""
