"""analysis.mi_report and analysis.scopes: the primary estimator first, units, notes for intervals that
cannot be read, one scope for every number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.mi_report import MIN_ROWS, PRIMARY, mi_report
from analysis.scopes import in_scope, scope_mask, scopes


def _examples(n: int) -> pd.DataFrame:
    return pd.DataFrame({"split": ["iid", "ood"] * (n // 2), "dataset": ["a"] * (n // 2) + ["b"] * (n // 2)})


def test_primary_estimator_first_with_units_and_the_scope_applied():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6))
    y = x + 0.5 * rng.normal(size=(64, 6))
    report = mi_report(x, y, _examples(64), "split: ood", n_boot=10)
    assert report["estimator"].iloc[0] == PRIMARY == "ksg" and report["primary"].tolist()[0]
    assert (
        set(report["units"]) == {"nats"}
        and set(report["n"]) == {32}
        and set(report["scope"]) == {"split: ood"}
    )


def test_a_saturated_binned_estimate_explains_its_zero_width_interval():
    """First PCs in matching bins for every example: every plug-in term is log(bins), so the bootstrap of
    the terms cannot move (the studio showed [1.4097, 1.4097] without a word)."""
    x = np.linspace(-1, 1, 64)[:, None] * np.ones((1, 4))
    report = mi_report(x, x.copy(), _examples(64), "all", n_boot=10).set_index("estimator")
    binned = report.loc["binned"]
    assert binned["low"] == pytest.approx(binned["high"])
    assert "zero-width" in binned["note"] and "log(bins)" in binned["note"]


def test_too_few_rows_give_an_empty_report():
    x = np.zeros((MIN_ROWS - 1, 2))
    assert mi_report(x, x, _examples(MIN_ROWS - 1), "all").empty


@pytest.mark.parametrize("n", [5, 6, 7])
def test_a_scope_of_five_to_seven_examples_caps_the_components_and_says_so(n):
    """Wide states of a small split: KSG keeps n - 1 components instead of failing on 8 (the studio's Module
    correlation crashed here), and its note says the value is not comparable with 8-component ones."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(2 * n, 16))
    report = mi_report(x, x + rng.normal(size=x.shape), _examples(2 * n), "split: ood", n_boot=5)
    ksg = report.set_index("estimator").loc["ksg"]
    assert ksg["n"] == n and np.isfinite(ksg["mi"])
    assert f"KSG on {n - 1} principal components per module, not 8" in ksg["note"]
    wide = rng.normal(size=(64, 16))
    enough = mi_report(wide, wide + rng.normal(size=wide.shape), _examples(64), "all", n_boot=5)
    assert enough.set_index("estimator").loc["ksg", "note"] == ""


def test_scopes_masks_and_tables():
    examples = _examples(4)
    assert scopes(examples) == ["all", "split: iid", "split: ood", "dataset: a", "dataset: b"]
    assert scope_mask(examples, "dataset: b").tolist() == [False, False, True, True]
    table = pd.DataFrame({"dataset": ["a", "b", "all"], "split": ["iid", "ood", "all"], "value": [1, 2, 3]})
    assert in_scope(table, "split: ood")["value"].tolist() == [2]
    with pytest.raises(ValueError, match="scope='x' is invalid"):
        scope_mask(examples, "x")
