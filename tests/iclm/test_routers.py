"""Router kinds (iclm/routers/): the registry, what each kind needs, and a new kind added by a test alone."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import torch

from iclm.config import ICLMConfig, RouterConfig
from iclm.router import Router
from iclm.routers import ROUTER_KINDS, router_kind
from tests.helpers.paths import ROOT

EXTENDING = ROOT / "docs" / "extending.md"


@pytest.mark.parametrize(
    ("kind", "learns", "needs_base_pass", "needs_init", "needs_domain_ids"),
    [
        ("vq", True, True, True, False),
        ("kmeans", False, True, True, False),
        ("oracle", False, False, False, True),
    ],
)
def test_each_kind_says_what_it_needs(kind, learns, needs_base_pass, needs_init, needs_domain_ids):
    router = Router(32, 3, RouterConfig(kind=kind))
    found = (router.learns, router.needs_base_pass, router.needs_init, router.needs_domain_ids)
    assert found == (learns, needs_base_pass, needs_init, needs_domain_ids)
    assert any(p.requires_grad for p in router.parameters()) == learns


def test_every_kind_keeps_the_same_state_dict():
    """Checkpoints do not depend on the kind: the Router module owns the same tensors for all of them."""
    shapes = {
        kind: {k: tuple(v.shape) for k, v in Router(32, 3, RouterConfig(kind=kind)).state_dict().items()}
        for kind in ROUTER_KINDS
    }
    expected = {"projector.weight": (64, 32), "projector.bias": (64,), "codebook": (3, 64), "initialised": ()}
    assert all(found == expected for found in shapes.values()), shapes


def test_unknown_kind_lists_the_registered_ones():
    with pytest.raises(
        ValueError, match=r"router.kind='soft' is invalid; choose one of \['vq', 'kmeans', 'oracle'\]"
    ):
        router_kind("soft")
    with pytest.raises(ValueError, match=r"router.kind='soft'.*'oracle'"):
        ICLMConfig(router={"kind": "soft"})


def test_routes_without_base_are_the_oracle_domain_ids():
    router = Router(32, 3, RouterConfig(kind="oracle"))
    ids = torch.tensor([2, 0, 1])
    assert torch.equal(router.routes_without_base(ids, 3), ids)
    with pytest.raises(NotImplementedError, match="needs the base pass"):
        Router(32, 3, RouterConfig(kind="vq")).routes_without_base(ids, 3)


# ---------------------------------------------------------------- a new kind, registered here only
def cosine_kind() -> type:
    """The worked example's `CosineKind`, run from docs/extending.md itself so the page stays true."""
    blocks = re.findall(r"```python\n(.*?)```", EXTENDING.read_text(encoding="utf-8"), flags=re.S)
    source = next(block for block in blocks if "class CosineKind" in block)
    namespace: dict = {}
    exec(compile(source, "iclm/routers/cosine.py (docs/extending.md)", "exec"), namespace)  # noqa: S102
    return namespace["CosineKind"]


@pytest.fixture
def cosine(monkeypatch):
    """Registers the example kind as "cosine" for one test: the one registry line, nothing else edited."""
    kind = cosine_kind()
    monkeypatch.setitem(ROUTER_KINDS, "cosine", kind)
    return kind


def write_two_datasets(folder: Path, n: int = 24) -> list[str]:
    """Two toy datasets whose first word decides the answer."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    paths = []
    for name, answer in (("alpha", "x"), ("beta", "y")):
        lines = []
        for _ in range(n):
            digits = " ".join(str(rng.randint(0, 9)) for _ in range(4))
            lines.append(
                json.dumps({"prompt": f"{name} {digits} ->", "answer": answer, "choices": ["x", "y"]})
            )
        path = folder / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def cosine_routes(model, out) -> torch.Tensor:
    """The example's rule recomputed from the model's codes and the output's projected embeddings."""
    codes = torch.nn.functional.normalize(model.router.codebook.float(), dim=-1)
    return (torch.nn.functional.normalize(out.router_projected.float(), dim=-1) @ codes.T).argmax(-1)


def test_a_new_kind_routes_by_its_own_rule(cosine, make_iclm, tiny_batch):
    model = make_iclm(num_domains=3, router={"kind": "cosine"})
    assert model.router.needs_init and model.router.needs_base_pass and not model.router.learns
    out = model(**tiny_batch)
    assert torch.equal(out.routes, cosine_routes(model, out))
    assert out.loss_terms.routing == 0 and not any(p.requires_grad for p in model.router.parameters())


def test_a_new_kind_trains_and_reloads_with_the_same_routes(cosine, tmp_path, tiny_batch):
    from iclm.model import ICLMForCausalLM
    from iclm.training.config import config_from_dict
    from iclm.training.run import run_training

    raw = {
        "model": {"num_domains": 2, "backbone": "tiny", "router": {"kind": "cosine"}, "adapters": {"r": 2}},
        "data": {"train": write_two_datasets(tmp_path / "data"), "probe_size": 8},
        "training": {
            "batch_size": 4,
            "max_steps": 2,
            "log_every": 1,
            "save_every": 2,
            "max_length": 32,
            "router_init_examples": 16,
            "tensorboard": False,
            "output_dir": str(tmp_path / "run"),
        },
    }
    result = run_training(config_from_dict(raw))
    assert result.global_step == 2
    assert json.loads((result.run_dir / "config.json").read_text())["router"]["kind"] == "cosine"
    model = ICLMForCausalLM.from_pretrained(str(result.run_dir)).eval()
    assert bool(model.router.initialised)  # fitted before training (needs_init)
    with torch.no_grad():
        out = model(**tiny_batch)
    assert torch.equal(out.routes, cosine_routes(model, out))
    model.save_pretrained(str(tmp_path / "copy"))
    with torch.no_grad():
        again = ICLMForCausalLM.from_pretrained(str(tmp_path / "copy")).eval()(**tiny_batch)
    assert torch.equal(again.routes, out.routes) and torch.equal(again.logits, out.logits)
