"""Run a checkpoint over a dataset once and write the analysis artifact the studio reads (docs/api.md).

`collect(checkpoint, data, out_dir)` writes, atomically (a temp folder renamed into place):
- manifest.json: format, checkpoint path + hash, data files + hashes, versions, modules, forced sample size;
- examples.parquet: one row per example (ids, gold, true domain id, route, per-module predictions);
- states.safetensors: router embeddings / projections and prompt-pooled module states, float16 on disk.
A second call with the same checkpoint hash, data hashes and forced sample size returns the existing
artifact without running the model.

Variants: "baseline" and "no_invariant" have no invariant module: `pred_invariant` / `correct_invariant` are
null and the `invariant` tensor is absent; "baseline" has no router: route is 0 and the router tensors hold
the frozen base's prompt embedding and the (untrained) projector's output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from analysis import inputs, predict
from analysis.journal import AnalysisJournal, BatchRecord
from iclm.file_modes import share_tree
from iclm.fingerprints import model_hash

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
EXAMPLES = "examples.parquet"
STATES = "states.safetensors"
_CHECKPOINT_SUFFIXES = (".json", ".safetensors")
_SKIP_DIRS = {"analysis", "eval"}


class ArtifactError(ValueError):
    """An artifact folder is missing a file or its files disagree; the message names the file."""


@dataclass
class Artifact:
    """manifest (manifest.json as a dict); examples (one row per example); states {name: float32 array}."""

    manifest: dict
    examples: pd.DataFrame
    states: dict[str, np.ndarray]


def checkpoint_hash(folder: str | os.PathLike) -> str:
    """sha256 over the names and bytes of the checkpoint's top-level JSON + safetensors files (sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix in _CHECKPOINT_SUFFIXES)
    for path in files:
        digest.update(path.name.encode())
        digest.update(inputs.file_hash(path).encode())
    return digest.hexdigest()


def _resolve_model(checkpoint, tokenizer):
    """-> (model, tokenizer, checkpoint path or None, checkpoint hash)."""
    if isinstance(checkpoint, str | os.PathLike):
        folder = Path(checkpoint)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} is not a checkpoint folder (no config.json)")
        from iclm.model import ICLMForCausalLM

        model = ICLMForCausalLM.from_pretrained(str(folder))
        model.name_or_path = str(folder)  # read by predict.default_max_length
        return model, tokenizer or model.tokenizer, str(folder), checkpoint_hash(folder)
    path = getattr(checkpoint, "name_or_path", "") or ""
    if path and (Path(path) / "config.json").is_file():
        return checkpoint, tokenizer or checkpoint.tokenizer, path, checkpoint_hash(path)
    return checkpoint, tokenizer or checkpoint.tokenizer, None, model_hash(checkpoint)


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Never replace what collect did not write: a file, or a non-empty folder that is no artifact."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ArtifactError(f"{out_dir} is a file, not an artifact folder; choose another output folder")
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        ours = (
            isinstance(manifest, dict) and manifest.get("format") == FORMAT and "checkpoint_hash" in manifest
        )
    except (OSError, ValueError):
        ours = False
    if not (ours or overwrite or not any(out_dir.iterdir())):
        raise ArtifactError(
            f"{out_dir} is a non-empty folder without an analysis {MANIFEST}; choose another output folder "
            "or overwrite it (--overwrite) to replace its contents"
        )


_SETTING_DEFAULTS = {"precision": "fp32"}  # what an artifact written before the setting existed used


def _reusable(out_dir: Path, checkpoint_sha: str, entries: list[dict], settings: dict) -> bool:
    """True when out_dir holds an artifact of the same checkpoint, data and settings (forced_sample, limit,
    max_length, precision)."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        manifest.get("format") == FORMAT
        and manifest.get("checkpoint_hash") == checkpoint_sha
        and [d.get("sha256") for d in manifest.get("data", [])] == [d["sha256"] for d in entries]
        and all(manifest.get(key, _SETTING_DEFAULTS.get(key)) == value for key, value in settings.items())
        and all((out_dir / name).is_file() for name in (EXAMPLES, STATES))
    )


def collect(
    checkpoint,
    data: Sequence,
    out_dir: str | os.PathLike | None = None,
    *,
    tokenizer=None,
    forced_sample: int = 32,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    seed: int = 0,
    limit: int | None = None,
    max_length: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    precision: str = "fp32",
    journal: str | os.PathLike | None = None,
) -> Artifact:
    """Run `checkpoint` (a checkpoint folder or a loaded ICLMForCausalLM) over `data` (data files,
    `python -m iclm data mix` folders (their test files) or Examples) once and write the artifact to
    `out_dir` (default CHECKPOINT/analysis). The forced sample is `forced_sample` examples drawn with `seed`,
    run through every domain module. `limit`: at most N examples per dataset (the first, in file order).
    `max_length`: prompt + answer tokens kept (prompts cut from the left, BOS kept); default the
    checkpoint's training max_length, else 2048. `out_dir` is replaced only when it is absent, empty or an
    earlier artifact (else ArtifactError, unless `overwrite`); a regular file there is always refused.
    `precision`: "fp32" (default: the numbers `python -m iclm evaluate` gives) or "bf16" (autocast: about 2x
    faster where the hardware has bf16 math, `analysis.precision`; scores carry bf16 rounding, so an answer
    whose choices score nearly alike can differ from the fp32 evaluation's); saved in the manifest.
    `journal`: a folder (`analysis.journal`) keeping every finished batch, so a stopped collection continues
    where it left off when called again with the same journal, model, examples and settings."""
    from analysis.precision import PRECISIONS

    if forced_sample < 0 or batch_size <= 0:
        raise ValueError(f"forced_sample={forced_sample}, batch_size={batch_size}: expected >= 0 and > 0")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid; choose one of {list(PRECISIONS)}")
    model, tokenizer, path, sha = _resolve_model(checkpoint, tokenizer)
    max_length = inputs.resolve_max_length(max_length, path)
    examples, entries = inputs.resolve_data(data, limit)
    if not examples:
        raise ValueError(f"no valid examples in {[d['path'] for d in entries]}")
    if out_dir is None:
        if path is None:
            raise ValueError("out_dir is required when checkpoint is an in-memory model")
        out_dir = Path(path) / "analysis"
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    settings = {
        "forced_sample": forced_sample,
        "limit": limit,
        "max_length": max_length,
        "precision": precision,
    }
    if _reusable(out_dir, sha, entries, settings):
        logger.info("reusing the analysis artifact in %s (same checkpoint, data and settings)", out_dir)
        return load_artifact(out_dir)
    frame, states = _run_collection(
        model,
        tokenizer,
        examples,
        forced_sample=forced_sample,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        max_length=max_length,
        seed=seed,
        progress=progress,
        precision=precision,
        journal=journal,
    )
    manifest = _manifest(model, path, sha, entries, len(examples)) | settings
    manifest["domain_names"] = predict.domain_names(model, examples)
    _write(out_dir, manifest, frame, states)
    return load_artifact(out_dir)


def _manifest(model, path, sha, entries, n_examples) -> dict:
    import transformers

    import iclm

    return {
        "format": FORMAT,
        "checkpoint": path,
        "checkpoint_hash": sha,
        "data": entries,
        "versions": {
            "iclm": getattr(iclm, "__version__", "0"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "n_examples": n_examples,
        "modules": list(model.config.module_names),
        "variant": model.config.variant,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write(out_dir: Path, manifest: dict, frame: pd.DataFrame, states: dict[str, np.ndarray]) -> None:
    """Write the three files into a temp folder beside out_dir, then swap it into place."""
    from safetensors.numpy import save_file

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        frame.to_parquet(tmp / EXAMPLES, engine="pyarrow", index=False)
        save_file({k: np.ascontiguousarray(v) for k, v in states.items()}, str(tmp / STATES))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        share_tree(tmp)  # mkdtemp's 0700 and safetensors' 0600 would keep a studio of another account out
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_RERUN = "run `python -m analysis analyze`"
#: What the readers of an artifact use: manifest fields and their types, examples.parquet columns, tensors.
_MANIFEST_FIELDS = {"n_examples": int, "modules": list, "data": list}
_COLUMNS = ("id", "dataset", "split", "prompt", "gold", "route", "pred_aggregated", "correct_aggregated")
_TENSORS = ("router_embeddings", "router_projected", "domain", "forced_index")


def load_artifact(folder: str | os.PathLike) -> Artifact:
    """Read an artifact folder; raises ArtifactError naming the bad file and what is wrong with it."""
    folder = Path(folder)
    for name in (MANIFEST, EXAMPLES, STATES):
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder / name} is missing; {_RERUN} to (re)create it")
    manifest = _read_manifest(folder / MANIFEST)
    examples = _read_examples(folder / EXAMPLES)
    states = _read_states(folder / STATES)
    _check_consistent(folder, manifest, examples, states)
    return Artifact(manifest=manifest, examples=examples, states=states)


def _read_manifest(path: Path) -> dict:
    from iclm.json_files import JsonFileError, read_json_object

    try:
        manifest = read_json_object(path, "analysis manifest")
    except JsonFileError as error:
        raise ArtifactError(f"{error}; {_RERUN} again") from error
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: format is not {FORMAT}; re-{_RERUN}")
    for key, kind in _MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise ArtifactError(f"{path}: field '{key}' must be a {kind.__name__}; {_RERUN} again")
    if not all(isinstance(m, str) for m in manifest["modules"]) or not all(
        isinstance(d, dict) and isinstance(d.get("path"), str | None) for d in manifest["data"]
    ):
        raise ArtifactError(f"{path}: 'modules' must list names and 'data' objects with a path or null")
    return manifest


def _read_examples(path: Path) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError, pyarrow.ArrowException) as error:  # ArrowInvalid is a ValueError
        raise ArtifactError(f"{path}: not a readable Parquet table ({error}); {_RERUN} again") from error


def _read_states(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ArtifactError(f"{path}: not a readable safetensors file ({error}); {_RERUN} again") from error
    return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in tensors.items()}


def _check_consistent(folder: Path, manifest: dict, examples: pd.DataFrame, states: dict) -> None:
    n = manifest["n_examples"]
    if len(examples) != n:
        raise ArtifactError(
            f"{folder / EXAMPLES} has {len(examples)} rows but {MANIFEST} says n_examples={n}"
        )
    missing = [c for c in _COLUMNS if c not in examples.columns]
    if missing:
        raise ArtifactError(f"{folder / EXAMPLES} lacks the columns {missing}; {_RERUN} again")
    absent = [t for t in _TENSORS if t not in states]
    if absent:
        raise ArtifactError(f"{folder / STATES} lacks the tensors {absent}; {_RERUN} again")
    for name in ("router_embeddings", "router_projected", "domain", "invariant"):
        if name in states and (states[name].ndim != 2 or states[name].shape[0] != n):
            raise ArtifactError(
                f"{folder / STATES}: '{name}' has shape {states[name].shape}, expected ({n}, hidden)"
            )
    forced = states["forced_index"]
    if forced.ndim != 1 or forced.dtype.kind not in "iu" or ((forced < 0) | (forced >= n)).any():
        raise ArtifactError(f"{folder / STATES}: 'forced_index' must list example rows 0..{n - 1}")
    for name in (k for k in states if k.startswith("forced_domain_")):
        if states[name].ndim != 2 or states[name].shape[0] != len(forced):
            raise ArtifactError(
                f"{folder / STATES}: '{name}' has {states[name].shape[0]} rows, forced_index {len(forced)}"
            )


# ---------------------------------------------------------------- the one pass over the data
def _batch_pass(model, tokenizer, examples, encoded, groups, readouts, forced_rows, pad_id):
    """One batch of prompt groups: routes (B,), pooled states {name: (B, .)}, predictions {readout name: [B]}
    and the forced sample's {k: (pooled (F, H), predictions [F])}, all from one router pass over the shared
    contexts and one pass per module. On the packed path domain module k runs only over the prompt groups
    holding an example routed to k or one of the forced sample (which reads every domain module): a K = 4
    model costs about one domain pass a batch, not four."""
    from analysis.predict import router_domain_ids, scorer_answers
    from iclm.evaluation import fast, packed_states
    from iclm.evaluation.states import ModuleStates, shared_router_embeddings
    from iclm.readout import NO_ROUTE, forced_domain

    device = predict.model_device(model)
    members = [m for group in groups for m in group.members]
    rows_examples = [examples[i] for i in members]
    domain_ids = torch.tensor([encoded[i].domain_id for i in members], dtype=torch.long, device=device)
    packed = packed_states.applies(model)  # one pass per module, no KV-cache copies (iclm/evaluation)
    embed = packed_states.packed_router_embeddings if packed else shared_router_embeddings
    embeddings = embed(model, groups, pad_id, device)  # (B, H)
    router = model.route(None, domain_ids=router_domain_ids(model, domain_ids), embeddings=embeddings)
    routes = router.routes.long().cpu()
    if packed:
        prefixes = {row: [tuple(c[:-1]) for c in encoded[i].choices] for row, i in enumerate(members)}
        forced_here = {row for row, i in enumerate(members) if i in forced_rows}
        needed = {
            f"domain_{k}": {row for row, r in enumerate(routes.tolist()) if r == k} | forced_here
            for k in range(model.config.num_domains)
        }
        states = packed_states.PackedModuleStates(
            model, model.module_names, groups, pad_id, prefixes, device=device, rows_per_module=needed
        )
    else:
        states = ModuleStates(model, model.module_names, [], pad_id, groups=groups, device=device)

    def item(i: int, route: int, live: bool) -> fast.BatchItem:  # greedy only without choices
        choices = encoded[i].choices if live else ()
        greedy = 0 if examples[i].choices or not live else encoded[i].greedy_length
        return fast.BatchItem(choices, greedy, route, NO_ROUTE)

    items = [item(i, int(r), True) for i, r in zip(members, routes.tolist(), strict=True)]
    preds = scorer_answers(tokenizer, rows_examples, fast.Scorer(model, states, items), readouts)
    pooled = {"router_embeddings": router.embeddings, "router_projected": router.projected}
    pooled["domain"] = torch.stack(
        [states.pooled[f"domain_{r}"][row] for row, r in enumerate(routes.tolist())]
    )
    if "invariant" in states.pooled:
        pooled["invariant"] = states.pooled["invariant"]
    forced: dict[int, tuple[torch.Tensor, list]] = {}
    rows = [row for row, i in enumerate(members) if i in forced_rows]
    if rows:
        live = [item(i, 0, row in rows) for row, i in enumerate(members)]
        k_readouts = [forced_domain(k) for k in range(model.config.num_domains)]
        got = scorer_answers(tokenizer, rows_examples, fast.Scorer(model, states, live), k_readouts)
        for k in range(model.config.num_domains):
            forced[k] = (
                states.pooled[f"domain_{k}"][rows].float().cpu(),
                [got[f"domain_{k}"][r] for r in rows],
            )
    return routes, {name: value.float().cpu() for name, value in pooled.items()}, preds, forced


@torch.no_grad()
def _run_collection(
    model,
    tokenizer,
    examples,
    *,
    forced_sample,
    batch_size,
    max_new_tokens,
    max_length,
    seed,
    progress,
    precision="fp32",
    journal=None,
):
    """-> (examples frame, states {name: array}); one batched pass over the data. Consecutive examples
    sharing a context (an ACRE puzzle's queries) run it once (`iclm.evaluation.groups`); `batch_size`
    counts contexts. With `journal` (a folder) finished batches are read back instead of run again."""
    from tqdm.auto import tqdm

    from analysis.precision import autocast
    from iclm.evaluation.groups import group_prompts
    from iclm.evaluation.prompts import encode_prompts
    from iclm.readout import DOMAIN, INVARIANT, MODEL

    model.eval()
    collator = predict.make_collator(model, tokenizer, examples, max_length)
    encoded = encode_prompts(list(examples), tokenizer, collator.dataset_ids, max_length, max_new_tokens)
    inputs.warn_truncated(examples, encoded, max_length)
    readouts = [MODEL, DOMAIN] + ([INVARIANT] if model.config.has_invariant else [])
    n, num_domains = len(examples), model.config.num_domains
    forced = np.sort(np.random.default_rng(seed).choice(n, size=min(forced_sample, n), replace=False))
    forced_rows = set(forced.tolist())
    groups = group_prompts([e.prompt_ids for e in encoded])
    settings = {"forced_sample": forced_sample, "seed": seed, "batch_size": batch_size}
    settings |= {"max_new_tokens": max_new_tokens, "max_length": max_length, "precision": precision}
    log = _open_journal(journal, model, examples, settings)
    routes, preds, states = [], {r.name: [] for r in readouts}, {}
    forced_preds = {k: [] for k in range(num_domains)}
    forced_states = {k: [] for k in range(num_domains)}
    with tqdm(total=n, desc="analyze", unit="example", disable=not progress) as bar:
        for start in range(0, len(groups), batch_size):
            batch = groups[start : start + batch_size]
            index, ids = start // batch_size, [examples[m].id for g in batch for m in g.members]
            kept = log.read(index, ids) if log is not None else None
            if kept is None:
                with autocast(predict.model_device(model), precision):
                    got = _batch_pass(
                        model, tokenizer, examples, encoded, batch, readouts, forced_rows, collator.pad_id
                    )
                kept = BatchRecord(ids, *got)
                if log is not None:
                    log.write(index, kept)
            chunk_routes, chunk_states, chunk_preds, chunk_forced = (
                kept.routes, kept.states, kept.predictions, kept.forced
            )  # fmt: skip
            routes.append(chunk_routes)
            for name, value in chunk_states.items():
                states.setdefault(name, []).append(value)
            for name in preds:
                preds[name] += chunk_preds[name]
            for k, (pooled, answers) in chunk_forced.items():
                forced_states[k].append(pooled)
                forced_preds[k] += answers
            bar.update(sum(len(g.members) for g in batch))
    arrays = {name: torch.cat(parts).numpy().astype(np.float16) for name, parts in states.items()}
    arrays["forced_index"] = forced.astype(np.int64)
    for k, parts in forced_states.items():
        hidden = arrays["domain"].shape[1]
        arrays[f"forced_domain_{k}"] = (
            torch.cat(parts).numpy().astype(np.float16) if parts else np.zeros((0, hidden), np.float16)
        )
    frame = _frame(model, examples, torch.cat(routes), preds, forced, forced_preds)
    return frame, arrays


def _open_journal(folder, model, examples, settings: dict) -> AnalysisJournal | None:
    if folder is None:
        return None
    from iclm.fingerprints import examples_hash

    header = {"model": model_hash(model), "examples": examples_hash(list(examples)), "n": len(examples)}
    log = AnalysisJournal.open(folder, header | settings)
    if log.batches:
        logger.info("%s: resuming; %d examples already collected", folder, log.done)
    return log


def _frame(model, examples, routes, preds, forced, forced_preds) -> pd.DataFrame:
    """The examples.parquet table (nullable string/boolean columns; null where not applicable); readout
    "model" is saved as `pred_aggregated` / `correct_aggregated` (`iclm.readout.label`)."""
    from iclm.readout import label

    names = predict.domain_names(model, examples)
    gold = [e.answer for e in examples]
    columns = {
        "id": [e.id for e in examples],
        "dataset": [e.dataset for e in examples],
        "split": [e.split for e in examples],
        "prompt": [e.prompt for e in examples],
        "gold": gold,
        "domain_id": [names.index(e.domain or e.dataset) for e in examples],
        "route": routes.numpy().astype(np.int64),
    }
    for name in ("model", "invariant", "domain"):  # no invariant module: a null column
        columns[f"pred_{label(name)}"] = preds.get(name, [None] * len(examples))
    for name in ("model", "invariant", "domain"):
        columns[f"correct_{label(name)}"] = _correct(columns[f"pred_{label(name)}"], gold)
    for k, values in forced_preds.items():
        column = [None] * len(examples)
        for row, value in zip(forced.tolist(), values, strict=True):
            column[row] = value
        columns[f"pred_domain_{k}"] = column
        columns[f"correct_domain_{k}"] = _correct(column, gold)
    frame = pd.DataFrame(columns)
    for name in [c for c in frame.columns if c.startswith("pred_")] + ["gold", "prompt", "id"]:
        frame[name] = frame[name].astype("string")
    return frame


def _correct(predictions: list, gold: list[str]) -> pd.Series:
    return pd.Series(
        [predict.is_correct(p, g) for p, g in zip(predictions, gold, strict=True)], dtype="boolean"
    )
