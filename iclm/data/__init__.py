"""Reasoning-task data: generators (ACRE, RAVEN, PVR), the evals-JSONL loader, checks and collation.

Torch-free on import: the torch-dependent collation (`ICLMCollator`, `encode_examples`, `ExampleDataset`)
is imported from `iclm.data.collate` itself.
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
