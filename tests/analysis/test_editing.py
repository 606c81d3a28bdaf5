"""analysis/editing.py: an edited prompt against its original, every readout, with what changed."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.editing import edit_comparison, route_change
from analysis.module_predictions import predict_all_modules


def test_edit_comparison_pairs_every_readout_and_scores_each_prediction(make_iclm):
    model = make_iclm(perturb=True, seed=2)
    choices = ("on", "off", "undetermined")
    original = predict_all_modules(model, model.tokenizer, "The red cube is on. The light is", choices)
    edited = predict_all_modules(model, model.tokenizer, "red cube: on ; light:", choices)
    table = edit_comparison(original, edited)
    assert list(table["readout"]) == list(original.modules)
    assert (table["changed"] == (table["original"] != table["edited"])).all()
    for row in table.itertuples(index=False):  # the share of its own prediction among the choices
        logprobs = np.asarray(edited.modules[row.readout].choice_logprobs)
        shares = np.exp(logprobs - logprobs.max()) / np.exp(logprobs - logprobs.max()).sum()
        assert row._5 == pytest.approx(shares[choices.index(row.edited)])
    same = edit_comparison(original, original)
    assert not same["changed"].any() and (same["p original"] == same["p edited"]).all()
    moved = route_change(original, edited)
    assert moved["moved"] == (original.route != edited.route) and len(moved["distances edited"]) == 2
