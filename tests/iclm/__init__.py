"""Tests of the engine, iclm/."""
