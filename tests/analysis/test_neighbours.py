"""analysis/neighbours.py: nearest neighbours in a router space; task and rendering read from prompts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.neighbours import nearest_neighbours, task_and_rendering


def test_nearest_neighbours_by_full_dimension_distance_without_the_example_itself():
    states = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    near = nearest_neighbours(states, ["a", "b", "c", "d"], "a", k=2)
    assert (
        list(near["id"]) == ["c", "d"]
        and list(near["distance"]) == [1.0, 2.0]
        and list(near["rank"]) == [1, 2]
    )
    assert len(nearest_neighbours(states, ["a", "b", "c", "d"], "b", k=10)) == 3
    with pytest.raises(ValueError, match="not among"):
        nearest_neighbours(states, ["a", "b", "c", "d"], "z")


def test_task_and_rendering_come_from_the_prompts():
    from iclm.data.evals_format import prompt_text
    from iclm.data.generate import generate_records, task_spec

    prompts = []
    for task, render, extra in (
        ("acre", "text", {"split": "iid"}),
        ("acre", "symbolic", {"split": "iid"}),
        ("raven", "text", {}),
    ):
        spec = task_spec(task=task, n=1, seed=0, render=render, part="test", **extra)
        prompts.append(prompt_text(generate_records(spec)[0]["input"]))
    found = task_and_rendering(pd.Series(prompts + ["What is the capital of France?"]))
    assert list(found["task"]) == ["acre", "acre", "raven", "unknown"]
    assert list(found["rendering"]) == ["text", "symbolic", "text", "-"]
