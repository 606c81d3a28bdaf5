"""Tests of iclm/data/."""
