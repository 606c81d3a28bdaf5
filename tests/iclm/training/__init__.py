"""Tests of iclm/training/."""
