"""analysis/slices.py: named slices with per-module accuracy and intervals, saved as JSON beside the
artifact; accuracy of a labelled upload."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from analysis.slices import Slice, prompt_accuracy, read_slices, save_slice, slice_accuracy
from iclm.evaluation.statistics import wilson_interval
from iclm.json_files import JsonFileError

EXAMPLES = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d"],
        "correct_aggregated": [True, False, True, None],
        "correct_invariant": [False, False, True, True],
    }
)


def test_slice_accuracy_per_module_with_wilson_intervals_and_missing_ids():
    table = slice_accuracy(EXAMPLES, Slice.make("mine", ["a", "b", "d", "zz"], "filter")).set_index("module")
    agg = table.loc["aggregated"]
    assert (agg["n"], agg["accuracy"], agg["missing"]) == (2, 0.5, 1)  # d has no gold answer; zz is gone
    assert (agg["low"], agg["high"]) == pytest.approx((wilson_interval(1, 2).low, wilson_interval(1, 2).high))
    assert table.loc["invariant", "n"] == 3


def test_slices_are_saved_beside_the_artifact_replaced_by_name_and_read_back(tmp_path):
    first = Slice.make("ood wrong", ["a", "b"], "filter")
    save_slice(tmp_path, first)
    save_slice(tmp_path, Slice.make("lasso", ["c"], "selection"))
    saved = save_slice(tmp_path, Slice.make("ood wrong", ["a"], "filter"))
    assert [s.name for s in saved] == ["lasso", "ood wrong"] and read_slices(tmp_path) == saved
    assert read_slices(tmp_path)[1].ids == ("a",)
    from iclm.file_modes import current_umask

    assert (tmp_path / "slices.json").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_bad_names_bad_files_and_read_only_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="name of 1 to 80"):
        Slice.make("  ", ["a"], "filter")
    with pytest.raises(ValueError, match="at least one example"):
        Slice.make("x", [], "filter")
    (tmp_path / "slices.json").write_text('[{"name": "x"}]')
    with pytest.raises(JsonFileError, match="slices.json"):
        read_slices(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode: nothing to test there
            pytest.skip("running as root: the folder stays writable")
        with pytest.raises(PermissionError):
            save_slice(locked, Slice.make("x", ["a"], "filter"))
    finally:
        os.chmod(locked, 0o700)


def test_a_labelled_upload_gets_every_modules_accuracy():
    rows = pd.DataFrame(
        {"gold": ["1", "2", ""], "pred_aggregated": ["1", "3", "x"], "pred_invariant": ["1", "2", "y"]}
    )
    table = prompt_accuracy(rows).set_index("module")
    assert table.loc["aggregated", "accuracy"] == 0.5 and table.loc["invariant", "accuracy"] == 1.0
    assert (table["n"] == 2).all()  # the row without a gold answer is not scored
