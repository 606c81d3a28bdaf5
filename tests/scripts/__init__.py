"""Tests of scripts/ (loaded from their files)."""
