"""iclm/checkpoint_format.py: one CheckpointError and one model-type check for the engine's loader and the
studio's folder scan; the weight files a config needs."""

from __future__ import annotations

import json

import pytest

from iclm.checkpoint import CheckpointError as EngineError
from iclm.checkpoint import read_config
from iclm.checkpoint_format import (
    ADAPTERS_FILE,
    AGGREGATION_FILE,
    ROUTER_FILE,
    CheckpointError,
    MissingCheckpointFileError,
    check_model_type,
    weight_files,
)
from studio.checkpoints import CheckpointError as StudioError
from studio.checkpoints import inspect


def test_the_engine_and_the_studio_raise_one_error_class():
    assert EngineError is StudioError is CheckpointError
    assert issubclass(MissingCheckpointFileError, CheckpointError)
    assert issubclass(MissingCheckpointFileError, FileNotFoundError)


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"model_type": "llama"}, "model_type is 'llama', expected 'iclm'"),
        ([1, 2], "holds a JSON list, expected an object"),
        ({"variant": "iclm"}, "model_type is None, expected 'iclm'"),
    ],
)
def test_a_config_of_another_model_is_refused_with_one_wording_by_both_readers(tmp_path, data, expected):
    (tmp_path / "config.json").write_text(json.dumps(data))
    expected = f"config.json: {expected}"
    with pytest.raises(CheckpointError, match=expected):
        check_model_type(tmp_path / "config.json", data)
    with pytest.raises(CheckpointError, match=expected):
        read_config(tmp_path)
    with pytest.raises(CheckpointError, match=expected):
        inspect(tmp_path)


def test_an_iclm_config_passes_through():
    data = {"model_type": "iclm", "variant": "baseline"}
    assert check_model_type("config.json", data) is data


def test_weight_files_follow_the_invariant_module(tmp_path):
    assert weight_files(True) == (ADAPTERS_FILE, ROUTER_FILE, AGGREGATION_FILE)
    assert weight_files(False) == (ADAPTERS_FILE, ROUTER_FILE)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "iclm", "variant": "no_invariant"}))
    (tmp_path / ADAPTERS_FILE).write_bytes(b"")
    assert inspect(tmp_path).missing_weights() == [ROUTER_FILE]
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "iclm", "variant": "iclm"}))
    assert inspect(tmp_path).missing_weights() == [ROUTER_FILE, AGGREGATION_FILE]
