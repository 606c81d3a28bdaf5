"""Evaluation support for `iclm.evaluate`: batched scoring by readout, aggregation and reports."""
