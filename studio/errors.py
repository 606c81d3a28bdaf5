"""What a page shows when a checkpoint's file cannot be read: one line naming the file, never a traceback.

A checkpoint folder can come from anyone, and its files from an interrupted copy: a truncated
examples.parquet, a zero-byte states.safetensors, a results.json that is a list. Their readers raise one of
`expected()`, each a one-line message naming the file and what is wrong with it: `CheckpointError`
(config.json, training_config.json, a typed folder path), `JsonFileError` (eval/results.json,
metrics.jsonl, predictions.jsonl), `ArtifactError` (the analysis artifact) and `OSError` (the file
system). A page catches exactly those, through `stop_on_error` (the page cannot go on) or
`or_none` (it goes on without that part), and shows the message with the checkpoint folder's path written
as its name, so no server path reaches the browser (the full message goes to the server's log). Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import streamlit as st

from studio.text import plain

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_CHARS = 400  # a longer message is cut (in the middle): it is one line on a page, not a report


def expected() -> tuple[type[Exception], ...]:
    """The errors the readers of a checkpoint's files raise for a bad file. Imported here, when an error is
    being caught, not with this module: any `iclm.*` import runs `iclm/__init__`, which loads torch and
    transformers (5.5 s), and every page imports this module: the first page of a fresh server took 1.5-3 s
    longer (bench/compare_revisions.py --app; `python -X importtime -c "from studio import sidebar"`)."""
    from analysis.collect import ArtifactError
    from iclm.checkpoint_format import CheckpointError
    from iclm.json_files import JsonFileError

    return (CheckpointError, JsonFileError, ArtifactError, OSError)


def one_line(error: BaseException, folder: Path | None = None) -> str:
    """The error's message on one line of about MAX_CHARS at most, `folder`'s path (as given, absolute or
    resolved) written as the folder's name."""
    text = " ".join(str(error).split()) or type(error).__name__
    if folder is not None:
        spellings = {str(folder), os.path.abspath(folder), os.path.realpath(folder)}
        for spelling in sorted(spellings, key=len, reverse=True):  # the longest first: it holds the others
            text = text.replace(spelling, folder.name)
    half = MAX_CHARS // 2  # cut in the middle: the file comes first, what is wrong with it last
    return text if len(text) <= MAX_CHARS else f"{text[:half]} … {text[-half:]}"


def describe(error: BaseException, folder: Path | None = None) -> str:
    """`one_line` escaped for Markdown (`studio.text.plain`): file names and quoted values show as written."""
    return plain(one_line(error, folder))


def _show(what: str, error: BaseException, folder: Path | None, warn: bool) -> None:
    logger.warning("%s: %s", what, error)
    (st.warning if warn else st.error)(f"{what}: {describe(error, folder)}")


@contextmanager
def stop_on_error(what: str, folder: Path | None) -> Iterator[None]:
    """Run the block; on an expected error show "`what`: the message" as one st.error and stop the page.
    `what` is Markdown: escape any name in it with `plain`."""
    try:
        yield
    except expected() as error:
        _show(what, error, folder, warn=False)
        st.stop()


def or_none(what: str, folder: Path | None, read: Callable[..., T], *args, warn: bool = False) -> T | None:
    """`read(*args)`, or None after one st.error (st.warning when `warn`) saying `what` and why: the page
    goes on without that part."""
    try:
        return read(*args)
    except expected() as error:
        _show(what, error, folder, warn=warn)
        return None
