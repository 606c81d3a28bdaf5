"""Read task files into typed Examples: evals JSONL, simple JSONL/CSV (prompt, answer), plain text.

Every bad line becomes a LineError (path, line, field, reason) while valid lines are kept; a file that
cannot be read at all raises DataFileError naming it. User text is only ever parsed as data.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

from iclm.data.evals_format import ROLES
from iclm.data.examples import (
    DEFAULT_LIMITS,
    SPLITS,
    DataFileError,
    Example,
    LineError,
    LoaderLimits,
    LoadResult,
)
from iclm.data.safe_json import JsonLineError, loads

GENERIC_STEMS = {"train", "test", "val", "valid", "validation", "dev"}
OOD_TOKENS = {"comp", "sys", "ood", "holdout"}
OOD_CONFIGS = ("distribute_four", "distribute_nine", "in_center", "left_center", "up_center")
_ROLE_SUFFIX = re.compile(r"[-_](train|test|val|valid|validation|dev)$")


def dataset_name(path: str | os.PathLike[str]) -> str:
    """Dataset name from a path: ".../data/ACRE/text/IID/test.jsonl" -> "acre-text-iid",
    "data/mix/acre-text-comp-test.jsonl" -> "acre-text-comp" (a trailing train/test part is dropped; a
    stem with "-" is a full name, otherwise the folders after the last "data" folder prefix it)."""
    p = Path(path)
    parents = list(p.parent.parts)
    stem = _ROLE_SUFFIX.sub("", p.stem)
    stem = "" if stem.lower() in GENERIC_STEMS else stem
    lowered = [q.lower() for q in parents]
    after = parents[len(lowered) - 1 - lowered[::-1].index("data") + 1 :] if "data" in lowered else []
    if "-" in stem:  # already a full name such as "acre-text-comp"
        return stem.lower()
    if not stem and not after:
        after = parents[-1:]
    return "-".join([*after, stem] if stem else after).lower() or "dataset"


def default_split(name: str) -> str:
    """ "ood" when the name marks an o.o.d. split (comp, sys, holdout, RAVEN o.o.d. configurations)."""
    lowered = name.lower()
    tokens = set(re.split(r"[-/. ]", lowered))
    return "ood" if tokens & OOD_TOKENS or any(c in lowered for c in OOD_CONFIGS) else "iid"


def _read_text(path: Path, limits: LoaderLimits) -> str:
    try:
        if path.is_dir():
            raise DataFileError(str(path), "is a folder, not a file")
        if not path.exists():
            if path.is_symlink():
                raise DataFileError(str(path), "cannot be opened: a symbolic link that is broken or a loop")
            raise DataFileError(str(path), "no such file")
        if not path.is_file():
            raise DataFileError(str(path), "not a regular file (a pipe, socket or device)")
    except OSError as err:  # a symlink loop, a name too long, ...
        raise DataFileError(str(path), f"cannot be opened: {err.strerror or err}") from err
    size = path.stat().st_size
    if size == 0:
        raise DataFileError(str(path), "the file is empty")
    if size > limits.max_file_bytes:
        raise DataFileError(
            str(path), f"the file has {size} bytes, more than max_file_bytes={limits.max_file_bytes}"
        )
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFileError(str(path), "UTF-16 text (byte-order mark); re-save it as UTF-8")
    if b"\x00" in raw[:8192]:
        raise DataFileError(str(path), "looks like a binary file (NUL bytes); expected UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(
            str(path), f"not valid UTF-8 text (byte {err.start}); re-save it as UTF-8"
        ) from err
    if not text.strip():
        raise DataFileError(str(path), "the file holds only whitespace")
    n_lines = sum(1 for line in records(text) if line.strip())
    if n_lines > limits.max_lines:
        raise DataFileError(str(path), f"{n_lines} lines, more than max_lines={limits.max_lines}")
    return text


def records(text: str) -> list[str]:
    """The lines of a file split on "\\n" only ("\\r\\n" too): U+2028, U+0085 and other characters that
    `str.splitlines` also breaks on are allowed inside a JSON string, and the project's writer emits them."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _unencodable(value: str) -> bool:
    """A lone surrogate (JSON "\\ud800") cannot be encoded, so no tokenizer can read it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _choices(value: Any) -> tuple[str, ...] | None | str:
    """Choices as strings, None when absent, or an error reason string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [c for c in value.split("|") if c]
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of strings or integers"
    if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in value):
        return "must be a list of strings or integers"
    return tuple(str(c) for c in value)


def _evals_fields(obj: dict) -> tuple[str, str, Any] | tuple[None, str, str]:
    """(prompt, answer, choices) of an evals record, or (None, field, reason)."""
    messages = obj["input"]
    if not isinstance(messages, list) or not messages:
        return None, "input", "must be a non-empty list of {role, content} messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            return None, f"input[{i}].content", "each message needs a string 'content'"
        if m.get("role") not in ROLES:
            return None, f"input[{i}].role", f"must be one of {list(ROLES)}, got {m.get('role')!r}"
    if "ideal" not in obj:
        return None, "ideal", "missing"
    ideal = obj["ideal"]
    if isinstance(ideal, list) and len(ideal) == 1:
        ideal = ideal[0]
    if isinstance(ideal, bool) or not isinstance(ideal, str | int):
        return None, "ideal", f"must be a string or an integer, got {type(ideal).__name__}"
    return "\n".join(m["content"] for m in messages), str(ideal), obj.get("choice_strings")


def _simple_fields(obj: dict, need_answer: bool) -> tuple[str, str, Any] | tuple[None, str, str]:
    """(prompt, answer, choices) of a {prompt, answer, choices?} record, or (None, field, reason)."""
    if "prompt" not in obj:
        return None, "prompt", "missing (expected an evals 'input' list or a 'prompt' string)"
    if not isinstance(obj["prompt"], str):
        return None, "prompt", f"must be a string, got {type(obj['prompt']).__name__}"
    answer = obj.get("answer")
    if answer is None or answer == "":
        if need_answer:
            return None, "answer", "missing"
        answer = ""
    if isinstance(answer, bool) or not isinstance(answer, str | int):
        return None, "answer", f"must be a string or an integer, got {type(answer).__name__}"
    return obj["prompt"], str(answer), obj.get("choices")


class _Builder:
    """Turns raw per-line dicts into Examples or LineErrors for one file."""

    def __init__(self, path: Path, dataset: str, split: str, domain: str | None, limits: LoaderLimits):
        self.path, self.dataset, self.split, self.domain, self.limits = (
            str(path),
            dataset,
            split,
            domain,
            limits,
        )
        self.result = LoadResult()

    def error(self, line: int, field: str, reason: str) -> None:
        self.result.errors.append(LineError(self.path, line, field, reason))

    def add(self, line: int, obj: Any, need_answer: bool = True) -> None:
        if not isinstance(obj, dict):
            return self.error(line, "<line>", f"must be a JSON object, got {type(obj).__name__}")
        fields = _evals_fields(obj) if "input" in obj else _simple_fields(obj, need_answer)
        if fields[0] is None:
            return self.error(line, fields[1], fields[2])
        prompt, answer, raw_choices = fields
        prompt_field = "input" if "input" in obj else "prompt"
        if not prompt.strip():
            return self.error(line, prompt_field, "the prompt is empty")
        if len(prompt) > self.limits.max_prompt_chars:
            cap = self.limits.max_prompt_chars
            reason = f"the prompt has {len(prompt)} characters, more than max_prompt_chars={cap}"
            return self.error(line, prompt_field, reason)
        choices = _choices(raw_choices)
        choice_field = "choice_strings" if "input" in obj else "choices"
        if isinstance(choices, str):
            return self.error(line, choice_field, choices)
        for field_name, value in (
            (prompt_field, prompt),
            ("answer", answer),
            (choice_field, "".join(choices or ())),
        ):
            if _unencodable(value):
                return self.error(
                    line, field_name, "holds a lone surrogate (e.g. \\ud800): not valid Unicode text"
                )
        if choices is not None and answer and answer not in choices:
            gold = "ideal" if "input" in obj else "answer"
            return self.error(line, gold, f"{answer!r} is not one of the choices {list(choices)}")
        domain = obj.get("domain", self.domain)
        if domain is not None and not isinstance(domain, str):
            return self.error(line, "domain", f"must be a string, got {type(domain).__name__}")
        ex_id = f"{self.dataset}:{line}"
        self.result.examples.append(Example(ex_id, prompt, answer, choices, self.dataset, self.split, domain))  # type: ignore[arg-type]


def _load_jsonl(text: str, builder: _Builder) -> None:
    parsed_any = False
    for number, line in enumerate(records(text), start=1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except JsonLineError as err:
            builder.error(number, "<line>", err.reason)
            continue
        parsed_any = True
        builder.add(number, obj)
    if not parsed_any:
        raise DataFileError(builder.path, "no line is valid JSON; expected JSONL (one JSON object per line)")


CSV_FIELD_LIMIT = 131_072  # the csv module's own default cap on one field, in characters


def _load_csv(text: str, builder: _Builder) -> None:
    # a field may be as long as a prompt may be, and never less than the csv module's default; the cap is
    # the process's global state, so it is set for this file and put back (the same file then gives the
    # same errors whatever was loaded before it)
    previous = csv.field_size_limit(max(CSV_FIELD_LIMIT, builder.limits.max_prompt_chars + 1))
    try:
        _read_csv_rows(text, builder)
    finally:
        csv.field_size_limit(previous)


def _read_csv_rows(text: str, builder: _Builder) -> None:
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    for needed in ("prompt", "answer"):
        if needed not in columns:
            raise DataFileError(builder.path, f"CSV has no '{needed}' column (columns: {sorted(columns)})")
    while True:
        first_line = reader.line_num + 1  # csv counts a failing record's lines only once it succeeds
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # an over-long field, a NUL byte: that record only
            builder.error(first_line, "<line>", f"unreadable CSV: {err}")
            continue
        if any("\x00" in (v or "") for v in row.values() if isinstance(v, str)):
            builder.error(reader.line_num, "<line>", "holds a NUL byte")
            continue
        row = {k: v for k, v in row.items() if k is not None}
        if row.get("choices") == "":
            row["choices"] = None
        if row.get("domain") == "":
            row["domain"] = None
        builder.add(reader.line_num, row)


def _load_txt(text: str, builder: _Builder) -> None:
    for number, line in enumerate(records(text), start=1):
        if line.strip():
            builder.add(number, {"prompt": line.replace("\\n", "\n")}, need_answer=False)


def load_examples(
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    split: str | None = None,
    domain: str | None = None,
    limits: LoaderLimits = DEFAULT_LIMITS,
) -> LoadResult:
    """Load a .jsonl (evals or {prompt, answer}), .csv (prompt, answer[, choices, domain]) or .txt file.

    dataset defaults to `dataset_name(path)`, split to "ood"/"iid" from that name, domain to None
    (a per-line "domain" field overrides it). Raises DataFileError for unreadable files.
    """
    p = Path(path)
    name = dataset or dataset_name(p)
    chosen_split = split or default_split(name)
    if chosen_split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {chosen_split!r}")
    text = _read_text(p, limits)
    builder = _Builder(p, name, chosen_split, domain, limits)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        _load_csv(text, builder)
    elif suffix == ".txt":
        _load_txt(text, builder)
    else:
        _load_jsonl(text, builder)
    return builder.result
