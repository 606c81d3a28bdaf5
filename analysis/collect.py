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


def model_hash(model) -> str:
    """sha256 of an in-memory model: its config JSON and trainable tensors (for models without a folder)."""
    digest = hashlib.sha256(model.config.to_json_string().encode())
    for name, param in sorted(model.state_dict().items()):
        if "lora_" in name or not name.startswith("base."):
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
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


def _reusable(out_dir: Path, checkpoint_sha: str, entries: list[dict], settings: dict) -> bool:
    """True when out_dir holds an artifact of the same checkpoint, data and settings (forced_sample, limit,
    max_length)."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        manifest.get("format") == FORMAT
        and manifest.get("checkpoint_hash") == checkpoint_sha
        and [d.get("sha256") for d in manifest.get("data", [])] == [d["sha256"] for d in entries]
        and all(manifest.get(key, None) == value for key, value in settings.items())
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
) -> Artifact:
    """Run `checkpoint` (a checkpoint folder or a loaded ICLMForCausalLM) over `data` (data files,
    `python -m iclm data mix` folders (their test files) or Examples) once and write the artifact to
    `out_dir` (default CHECKPOINT/analysis). The forced sample is `forced_sample` examples drawn with `seed`,
    run through every domain module. `limit`: at most N examples per dataset (the first, in file order).
    `max_length`: prompt + answer tokens kept (prompts cut from the left, BOS kept); default the
    checkpoint's training max_length, else 2048. `out_dir` is replaced only when it is absent, empty or an
    earlier artifact (else ArtifactError, unless `overwrite`); a regular file there is always refused."""
    if forced_sample < 0 or batch_size <= 0:
        raise ValueError(f"forced_sample={forced_sample}, batch_size={batch_size}: expected >= 0 and > 0")
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
    settings = {"forced_sample": forced_sample, "limit": limit, "max_length": max_length}
    if _reusable(out_dir, sha, entries, settings):
        logger.info("reusing the analysis artifact in %s (same checkpoint, data and settings)", out_dir)
        return load_artifact(out_dir)
    inputs.warn_truncated(examples, tokenizer, max_length)
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


def load_artifact(folder: str | os.PathLike) -> Artifact:
    """Read an artifact folder; raises ArtifactError (or FileNotFoundError) naming the bad file."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    for name in (MANIFEST, EXAMPLES, STATES):
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder / name} is missing; run `python -m iclm analyze` to (re)create it")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ArtifactError(f"{folder / MANIFEST} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{folder / MANIFEST}: format is not {FORMAT}; re-run `python -m iclm analyze`")
    try:
        examples = pd.read_parquet(folder / EXAMPLES, engine="pyarrow")
        states = {
            k: v.astype(np.float32) if v.dtype == np.float16 else v
            for k, v in load_file(str(folder / STATES)).items()
        }
    except Exception as error:  # pyarrow / safetensors raise several unrelated types on corrupt files
        raise ArtifactError(f"{folder}: cannot read {EXAMPLES} or {STATES}: {error}") from error
    _check_consistent(folder, manifest, examples, states)
    return Artifact(manifest=manifest, examples=examples, states=states)


def _check_consistent(folder: Path, manifest: dict, examples: pd.DataFrame, states: dict) -> None:
    n = manifest.get("n_examples")
    if len(examples) != n:
        raise ArtifactError(
            f"{folder / EXAMPLES} has {len(examples)} rows but {MANIFEST} says n_examples={n}"
        )
    for name in ("router_embeddings", "router_projected", "domain", "invariant"):
        if name in states and states[name].shape[0] != n:
            raise ArtifactError(
                f"{folder / STATES}: '{name}' has {states[name].shape[0]} rows but n_examples={n}"
            )


# ---------------------------------------------------------------- the one pass over the data
def _chunk_states(model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Routes (B,) and pooled states {name: (B, H or P)}, on the CPU, of a `predict.route_batch` batch."""
    from iclm.router import pool_prompt

    ids, mask, prompt = batch["input_ids"], batch["attention_mask"], batch["prompt_mask"]
    router = model.route(ids, mask, prompt, domain_ids=predict.router_domain_ids(model, batch["domain_ids"]))
    # hidden states only: a full forward would also project every position onto the 49k-token vocabulary
    invariant, domain = model._run_modules(ids, mask, router.routes, None, None)  # (B, T, H) each
    states = {"router_embeddings": router.embeddings, "router_projected": router.projected}
    states["domain"] = pool_prompt(domain, prompt)
    if invariant is not None:
        states["invariant"] = pool_prompt(invariant, prompt)
    return router.routes.long().cpu(), {name: value.float().cpu() for name, value in states.items()}


def _forced_states(model, batch, k: int) -> torch.Tensor:
    """Prompt-pooled states (B, H) (on the CPU) of domain module k on every example of the batch."""
    from iclm.router import pool_prompt

    ids = batch["input_ids"]
    routes = torch.full((ids.shape[0],), k, dtype=torch.long, device=ids.device)
    domain = model._run_domains(ids, batch["attention_mask"], routes, None)  # (B, T, H), no logits
    return pool_prompt(domain, batch["prompt_mask"]).float().cpu()


def _forced_chunk(model, tokenizer, collator, sub, settings, forced_states, forced_preds) -> None:
    """Run the forced-sample examples `sub` through every domain module; append to the two dicts."""
    batch = predict.route_batch(model, collator, sub)
    for k in range(model.config.num_domains):
        forced_states[k].append(_forced_states(model, batch, k))
        routes = torch.full((len(sub),), k)
        # domain_logits never read the invariant module, so no module needs dropping: the fast path applies
        got = predict.predict_examples(model, tokenizer, sub, routes, fields=["domain_logits"], **settings)
        forced_preds[k] += got["domain_logits"]


@torch.no_grad()
def _run_collection(
    model, tokenizer, examples, *, forced_sample, batch_size, max_new_tokens, max_length, seed, progress
):
    """-> (examples frame, states {name: array}); one batched pass (+ K passes over the forced sample)."""
    from tqdm.auto import tqdm

    model.eval()
    collator = predict.make_collator(model, tokenizer, examples, max_length)
    settings = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "collator": collator}
    fields = ["logits", "domain_logits"] + (["invariant_logits"] if model.config.variant == "iclm" else [])
    n, num_domains = len(examples), model.config.num_domains
    forced = np.sort(np.random.default_rng(seed).choice(n, size=min(forced_sample, n), replace=False))
    in_forced = np.zeros(n, dtype=bool)
    in_forced[forced] = True
    routes, preds, states = [], {f: [] for f in fields}, {}
    forced_preds = {k: [] for k in range(num_domains)}
    forced_states = {k: [] for k in range(num_domains)}
    for start in tqdm(range(0, n, batch_size), desc="analyze", unit="batch", disable=not progress):
        chunk = examples[start : start + batch_size]
        chunk_routes, chunk_states = _chunk_states(model, predict.route_batch(model, collator, chunk))
        routes.append(chunk_routes)
        for name, value in chunk_states.items():
            states.setdefault(name, []).append(value)
        got = predict.predict_examples(model, tokenizer, chunk, chunk_routes, fields=fields, **settings)
        for field in fields:
            preds[field] += got[field]
        rows = np.nonzero(in_forced[start : start + batch_size])[0].tolist()
        if rows:
            sub = [chunk[i] for i in rows]
            _forced_chunk(model, tokenizer, collator, sub, settings, forced_states, forced_preds)
    arrays = {name: torch.cat(parts).numpy().astype(np.float16) for name, parts in states.items()}
    arrays["forced_index"] = forced.astype(np.int64)
    for k, parts in forced_states.items():
        hidden = arrays["domain"].shape[1]
        arrays[f"forced_domain_{k}"] = (
            torch.cat(parts).numpy().astype(np.float16) if parts else np.zeros((0, hidden), np.float16)
        )
    frame = _frame(model, examples, torch.cat(routes), preds, forced, forced_preds)
    return frame, arrays


def _frame(model, examples, routes, preds, forced, forced_preds) -> pd.DataFrame:
    """The examples.parquet table (nullable string/boolean columns; null where not applicable)."""
    names = predict.domain_names(model, examples)
    gold = [e.answer for e in examples]
    has_invariant = "invariant_logits" in preds
    columns = {
        "id": [e.id for e in examples],
        "dataset": [e.dataset for e in examples],
        "split": [e.split for e in examples],
        "prompt": [e.prompt for e in examples],
        "gold": gold,
        "domain_id": [names.index(e.domain or e.dataset) for e in examples],
        "route": routes.numpy().astype(np.int64),
        "pred_aggregated": preds["logits"],
        "pred_invariant": preds["invariant_logits"] if has_invariant else [None] * len(examples),
        "pred_domain": preds["domain_logits"],
    }
    for name in ("aggregated", "invariant", "domain"):
        columns[f"correct_{name}"] = _correct(columns[f"pred_{name}"], gold)
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
