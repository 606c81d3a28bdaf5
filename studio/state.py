"""Session-state keys shared by the sidebar and the pages, and the guard every page starts with."""

from __future__ import annotations

import streamlit as st

from studio.checkpoints import CheckpointFiles, checkpoints_root

CHECKPOINT = "studio_checkpoint"  # CheckpointFiles of the selected checkpoint (or None)
DEVICE = "studio_device"  # "cpu" | "cuda"
PRECISION = "studio_precision"  # "bf16" | "fp32": autocast of live model runs

HOW_TO_GET_ONE = """\
No checkpoint found under `{root}`. Train one, or point the studio at a folder:

```bash
python -m iclm train configs/<config>.yaml            # writes runs/<name>/ (a checkpoint folder)
python -m iclm evaluate runs/<name> --data <files>    # eval/results.json
python -m analysis analyze runs/<name> --data <files>     # analysis/ artifact for the cluster pages
```

then copy the folder to `{root}/<name>/` (or set `ICLM_CHECKPOINTS_DIR`), or type its path in the sidebar.
"""


def require_checkpoint() -> CheckpointFiles:
    """The selected checkpoint; without one, explain how to get one and stop the page."""
    files = st.session_state.get(CHECKPOINT)
    if files is None:
        st.info(HOW_TO_GET_ONE.format(root=checkpoints_root()))
        st.stop()
    return files


def require_artifact(files: CheckpointFiles):
    """The checkpoint's analysis artifact; without one, say how to make it and stop the page; an unreadable
    one stops it with one line naming the file."""
    from studio import errors, loaders

    with errors.stop_on_error("Cannot read the analysis artifact", files.folder):
        art = loaders.artifact(files)
    if art is None:
        st.info(
            "This checkpoint has no analysis artifact. "
            "Run `python -m analysis analyze CHECKPOINT --data FILE...`."
        )
        st.stop()
    return art


def device() -> str:
    return st.session_state.get(DEVICE, "cpu")


def precision() -> str:
    from analysis.precision import default_precision

    return st.session_state.get(PRECISION) or default_precision(device())


def live_model(files):
    """The checkpoint's model for live runs on the sidebar's device and precision (or a stopped page with
    the engine's message). Pairs with `run_live`: a bf16 model must run under the autocast it enters."""
    from studio import loaders

    return loaders.require_model(files, device(), precision())


def run_live(job, *args, **kwargs):
    """A live model run (prompts, attribution, interventions): `job(*args, **kwargs)` in the sidebar's
    precision on the sidebar's device, on the torch lane (see `studio.torch_lane` for why)."""
    from analysis.precision import autocast
    from studio import torch_lane

    on_device, in_precision = device(), precision()  # read here: session state lives on the script thread

    def in_autocast():
        with autocast(on_device, in_precision):  # autocast is thread-local: entered on the lane
            return job(*args, **kwargs)

    return torch_lane.run(in_autocast)


def start_live_job(key, label: str, job, *args, **kwargs):
    """`job(*args, progress=..., **kwargs)` as a background job (`studio.jobs`) in the sidebar's device and
    precision; returns the `Job` (the running or finished one when `key` was asked for before)."""
    from analysis.precision import autocast
    from studio import jobs

    on_device, in_precision = device(), precision()

    def work(progress):
        with autocast(on_device, in_precision):  # autocast is thread-local: entered on the job's thread
            return job(*args, progress=progress, **kwargs)

    return jobs.JOBS.submit((*key, on_device, in_precision), label, work)


# the widget state that shows one analysed example on a page, with the filters that could hide it cleared
_OPEN_EXAMPLE = {
    "predictions": (
        "views/5_predictions.py",
        {"pred_split": "all", "pred_outcome": "all", "pred_disagree": False},
        "pred_example",
    ),
    "interventions": (
        "views/7_interventions.py",
        {"interventions_source": "from the analysed data"},
        "interventions_example",
    ),
}


def open_example(page: str, example_id: str) -> None:
    """Switch to `page` ("predictions" | "interventions") showing analysed example `example_id`."""
    script, cleared, key = _OPEN_EXAMPLE[page]
    for name, value in cleared.items():
        st.session_state[name] = value
    st.session_state.pop("pred_datasets", None)  # its default: every dataset
    st.session_state[key] = example_id
    st.switch_page(script)
