"""Tests of iclm/evaluation/."""
