"""The task registry (iclm/data/generate.py): each task's own spec, names from strings, a new task added."""

from __future__ import annotations

import dataclasses

import pytest

from iclm.data.generate import TASKS, generate_records, task_fields, task_spec, write_task_file
from iclm.data.task_spec import TaskSpec


def test_each_task_declares_only_its_own_fields():
    common = {"n", "seed", "render", "part"}
    assert set(task_fields("acre")) == common | {"split"}
    assert set(task_fields("raven")) == common | {"config", "candidates"}
    assert set(task_fields("pvr")) == common | {"split", "complexity", "aggregation", "n_examples", "holdout"}
    assert all(TASKS[name].task == name for name in TASKS)


def test_unknown_task_lists_the_registered_ones():
    expected = r"task='sudoku' is invalid; choose one of \['acre', 'raven', 'pvr'\]"
    with pytest.raises(ValueError, match=expected):
        task_spec("sudoku", n=1)


def test_a_field_of_another_task_is_refused():
    with pytest.raises(ValueError, match=r"acre has no field \['config'\]; its fields are"):
        task_spec("acre", n=1, config="distribute_four")


def test_pvr_is_symbolic_only():
    assert task_spec("pvr", n=1).render == "symbolic"
    with pytest.raises(ValueError, match="render must be 'symbolic' for pvr"):
        task_spec("pvr", n=1, render="text")


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"n": 0}, "n must be positive"), ({"part": "dev"}, "part must be")]
)
def test_common_fields_are_checked_for_every_task(kwargs, message):
    for name in TASKS:
        with pytest.raises(ValueError, match=message):
            task_spec(name, **{"n": 1} | kwargs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CountSpec(TaskSpec):
    """A toy task: "count to k" lines."""

    task = "count"
    render: str = "symbolic"
    k: int = 3

    @property
    def dataset(self) -> str:
        return f"count-{self.render}-{self.k}"

    @property
    def is_ood(self) -> bool:
        return False

    def generate(self) -> list[dict]:
        prompt = [{"role": "user", "content": f"count to {self.k} from {self.seed}:"}]
        return [{"input": prompt, "ideal": " ".join(str(self.seed + j) for j in range(self.k))}] * self.n


def test_a_new_task_is_one_class_and_one_registry_line(monkeypatch, tmp_path):
    from iclm.__main__ import main
    from iclm.data.loader import load_examples

    monkeypatch.setitem(TASKS, "count", CountSpec)
    spec = task_spec("count", n=2, seed=5, k=2)
    assert (spec.dataset, spec.domain) == ("count-symbolic-2", "count-symbolic")
    examples = load_examples(write_task_file(spec, tmp_path / "count.jsonl")).examples
    assert [e.answer for e in examples] == ["5 6", "5 6"] and generate_records(spec)[0]["ideal"] == "5 6"
    out = tmp_path / "cli.jsonl"  # the CLI takes the new task and the common flags it declares
    assert (
        main(
            [
                "data",
                "make",
                "--task",
                "count",
                "--render",
                "symbolic",
                "--n",
                "2",
                "--seed",
                "5",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert load_examples(out).examples[0].answer == "5 6 7"
