"""Evaluation: `run.evaluate` (accuracy of a checkpoint per dataset and readout) and its parts: batched
scoring by readout, shared contexts, module states, statistics and reports."""
