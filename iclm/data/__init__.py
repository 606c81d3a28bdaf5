"""Reasoning-task data: generators (ACRE, RAVEN, PVR), the evals-JSONL loader, checks and collation.

Torch-free on import; `iclm.data.collate` (ICLMCollator) imports torch when used.
"""

from iclm.data.examples import DataFileError, Example, LineError, LoaderLimits, LoadResult
from iclm.data.generate import TASKS, generate_records, task_spec, write_task_file
from iclm.data.loader import dataset_name, load_examples
from iclm.data.task_spec import TaskSpec

__all__ = [
    "DataFileError",
    "Example",
    "LineError",
    "LoadResult",
    "LoaderLimits",
    "TASKS",
    "TaskSpec",
    "dataset_name",
    "generate_records",
    "load_examples",
    "task_spec",
    "write_task_file",
]


def __getattr__(name: str):  # lazy torch-dependent exports
    if name in ("ICLMCollator", "encode_examples", "ExampleDataset"):
        from iclm.data import collate

        return getattr(collate, name)
    raise AttributeError(f"module 'iclm.data' has no attribute {name!r}")
