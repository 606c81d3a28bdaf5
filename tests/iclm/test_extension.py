"""Continual learning: a domain added to a trained tiny ICLM (iclm/extension.py, iclm/training/extension.py)
leaves what it must untouched, routes as before, and records where it came from."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from iclm.extension import (
    AnchorPenalty,
    ExtensionPlan,
    add_domain,
    fisher_diagonal,
    freeze_for_extension,
    frozen_modules,
    invariant_parameters,
    read_lineage,
)
from iclm.model import ICLMForCausalLM
from iclm.training.config import config_from_dict
from iclm.training.extension import ExtensionData, run_extension, run_sequential
from iclm.training.run import run_training
from tests.helpers.toy_training import toy_config


def write_new_task(folder, n: int = 32) -> str:
    """A third toy task ("gamma ..."), learnable like the parent's two."""
    rng = random.Random(1)
    path = folder / "gamma.jsonl"
    lines = []
    for _ in range(n):
        digits = " ".join(str(rng.randint(0, 9)) for _ in range(4))
        lines.append(json.dumps({"prompt": f"gamma {digits} ->", "answer": "y", "choices": ["x", "y"]}))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A trained tiny ICLM (K = 2) on the toy tasks alpha and beta, and its data files."""
    root = tmp_path_factory.mktemp("parent")
    raw = toy_config(root, max_steps=6, save_every=6)
    result = run_training(config_from_dict(raw))
    return result.run_dir, raw["data"]["train"], write_new_task(root)


def _tensors(folder, name):
    return load_file(str(folder / name))


def _route(model, texts):
    tok = model.tokenizer
    batch = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model.route(batch["input_ids"], batch["attention_mask"]).routes.tolist()


def _prompts(path, n=12):
    return [json.loads(line)["prompt"] for line in open(path).read().splitlines()[:n]]


def test_add_domain_grows_k_keeps_old_codes_and_starts_the_new_module_at_the_base(parent):
    folder, old, new = parent
    model = ICLMForCausalLM.from_pretrained(folder).eval()
    before = model.router.codebook.detach().clone()
    tok = model.tokenizer
    ids = tok(_prompts(new, 4), return_tensors="pt", padding=True)
    embeddings = model.router_embeddings(ids["input_ids"], ids["attention_mask"])
    added = model.add_domain(embeddings)
    assert added == 2 and model.config.num_domains == 3
    assert model.config.module_names == ["invariant", "domain_0", "domain_1", "domain_2"]
    assert torch.equal(model.router.codebook[:2], before)
    expected = model.router.project(embeddings).float().mean(dim=0)
    torch.testing.assert_close(model.router.codebook[2].float(), expected)
    # LoRA's B starts at zero: the new domain module computes what the frozen base computes
    with torch.no_grad():
        state = model.module_states("domain_2", ids["input_ids"], ids["attention_mask"])
        base = model.module_states(None, ids["input_ids"], ids["attention_mask"])
    torch.testing.assert_close(state, base)


def test_a_baseline_cannot_grow_a_domain(make_iclm):
    model = make_iclm(variant="baseline", num_domains=1)
    with pytest.raises(ValueError, match="no router to extend"):
        add_domain(model, torch.zeros(2, model.base.config.hidden_size))


def test_freezing_leaves_only_the_new_module_and_code_trainable(parent):
    folder, _, new = parent
    model = ICLMForCausalLM.from_pretrained(folder)
    ids = model.tokenizer(_prompts(new, 4), return_tensors="pt", padding=True)
    k = add_domain(model, model.router_embeddings(ids["input_ids"], ids["attention_mask"]))
    names = freeze_for_extension(model, ExtensionPlan(invariant="frozen"), k)
    assert names and all(".domain_2." in n for n in names if "lora_" in n)
    assert "router.codebook" in names and not any(n.startswith("router.projector") for n in names)
    model.router.codebook.sum().backward()
    assert model.router.codebook.grad[:2].abs().sum() == 0 and model.router.codebook.grad[2].abs().sum() > 0
    trained = freeze_for_extension(model, ExtensionPlan(invariant="trained", train_aggregation=True), k)
    assert any(".invariant." in n for n in trained) and any(n.startswith("aggregation.") for n in trained)
    for plan in (ExtensionPlan(), ExtensionPlan(invariant="anchored"), ExtensionPlan(train_aggregation=True)):
        trainable = freeze_for_extension(model, plan, k)
        for module in frozen_modules(model.config, plan, k):  # what the lineage says matches what trains
            part = module.split("[")[0]
            prefix = {"router.codes": "router.codebook"}.get(part, part)
            if module.startswith("router.codes["):
                continue  # the codebook trains, its old rows are masked (tested above)
            assert not [n for n in trainable if f".{prefix}." in n or n.startswith(prefix)], module


@pytest.mark.parametrize("invariant", ["frozen", "anchored"])
def test_an_extension_run_keeps_old_modules_bit_identical_and_records_its_lineage(
    parent, tmp_path, invariant
):
    folder, old, new = parent
    plan = ExtensionPlan(invariant=invariant, anchor="ewc", anchor_weight=10.0, replay=8)
    training = {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3, "max_length": 48, "save_every": 2}
    training |= {"log_every": 2, "router_init_examples": 16}
    data = ExtensionData(new=(new,), old=tuple(old), probe=(new, *old))
    routes_before = {p: _route(ICLMForCausalLM.from_pretrained(folder).eval(), _prompts(p)) for p in old}
    result = run_extension(folder, data, tmp_path / "grown", plan, training)
    out = result.run_dir
    assert result.global_step == 4
    parent_adapters, grown_adapters = (
        _tensors(folder, "adapters.safetensors"),
        _tensors(out, "adapters.safetensors"),
    )
    for key, value in parent_adapters.items():
        if ".invariant." in key and invariant == "anchored":
            continue
        assert torch.equal(grown_adapters[key], value), key  # old domains (and a frozen invariant) untouched
    new_keys = [k for k in grown_adapters if ".domain_2." in k and "lora_B" in k]
    assert new_keys and any(grown_adapters[k].abs().sum() > 0 for k in new_keys)  # the new module learned
    if invariant == "anchored":
        moved = [
            k
            for k in parent_adapters
            if ".invariant." in k and not torch.equal(grown_adapters[k], parent_adapters[k])
        ]
        assert moved  # it trained, held by the anchor
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert any(r.get("anchor") is not None and r["anchor"] >= 0 for r in records)
    router_before, router_after = _tensors(folder, "router.safetensors"), _tensors(out, "router.safetensors")
    assert torch.equal(router_after["codebook"][:2], router_before["codebook"])
    assert torch.equal(router_after["projector.weight"], router_before["projector.weight"])
    assert torch.equal(
        _tensors(out, "aggregation.safetensors")["proj.weight"],
        _tensors(folder, "aggregation.safetensors")["proj.weight"],
    )
    grown = ICLMForCausalLM.from_pretrained(out).eval()  # loads like any checkpoint
    assert grown.config.num_domains == 3 and "gamma" in grown.config.dataset_names
    for path, routes in routes_before.items():
        assert _route(grown, _prompts(path)) == routes  # old examples keep their old codes
    lineage = read_lineage(out)
    assert lineage.parent == str(folder) and lineage.added_domain == 2 and lineage.datasets == ("gamma",)
    assert {"domain_0", "domain_1", "router.projector"} <= set(lineage.frozen)
    assert ("invariant" in lineage.frozen) == (invariant == "frozen")
    assert lineage.plan["invariant"] == invariant and lineage.steps == 4
    assert len((out / "replay.jsonl").read_text().splitlines()) == 8


def test_a_grown_checkpoint_grows_again_and_keeps_its_ancestry(parent, tmp_path):
    folder, old, new = parent
    training = {"max_steps": 2, "batch_size": 4, "max_length": 48, "save_every": 2, "router_init_examples": 8}
    first = run_extension(folder, ExtensionData(new=(new,)), tmp_path / "one", ExtensionPlan(), training)
    second = run_extension(
        first.run_dir, ExtensionData(new=(old[0],)), tmp_path / "two", ExtensionPlan(), training
    )
    lineage = read_lineage(second.run_dir)
    assert lineage.added_domain == 3 and lineage.parent == str(first.run_dir)
    assert [a["parent"] for a in lineage.ancestors] == [str(folder)]
    assert read_lineage(folder) is None  # trained from scratch


def test_a_sequential_fine_tuning_trains_every_module_adds_nothing_and_records_it(parent, tmp_path):
    """The comparison for continual learning: the parent fine-tuned on the new task as it is. Every module
    that trained before moves (old domains, invariant, router, aggregation), K stays, lineage says so."""
    folder, old, new = parent
    training = {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3, "max_length": 48, "save_every": 2}
    result = run_sequential(folder, ExtensionData(new=(new,), old=tuple(old)), tmp_path / "seq", training, 4)
    out = result.run_dir
    assert result.global_step == 4
    before, after = _tensors(folder, "adapters.safetensors"), _tensors(out, "adapters.safetensors")
    assert set(after) == set(before)  # no module added
    moved = {k.split(".lora_B.")[1].split(".")[0] for k in before if ".lora_B." in k and not torch.equal(
        after[k], before[k])}  # fmt: skip
    assert "invariant" in moved and moved & {"domain_0", "domain_1"}  # nothing frozen
    assert not torch.equal(
        _tensors(out, "aggregation.safetensors")["proj.weight"],
        _tensors(folder, "aggregation.safetensors")["proj.weight"],
    )
    tuned = ICLMForCausalLM.from_pretrained(out)
    assert tuned.config.num_domains == 2 and "gamma" in tuned.config.dataset_names
    lineage = read_lineage(out)
    assert lineage.added_domain is None and lineage.frozen == () and lineage.datasets == ("gamma",)
    assert lineage.plan == {"sequential": True, "replay": 4} and lineage.steps == 4
    assert len((out / "replay.jsonl").read_text().splitlines()) == 4


def test_the_cli_fine_tunes_a_baseline_sequentially(tmp_path, capsys):
    from iclm.__main__ import main

    raw = toy_config(tmp_path, max_steps=2, save_every=2)
    raw["model"] = {"variant": "baseline", "num_domains": 1, "backbone": "tiny"}
    run = run_training(config_from_dict(raw)).run_dir
    new = write_new_task(tmp_path)
    args = [
        "extend",
        str(run),
        "--data",
        new,
        "-o",
        str(tmp_path / "seq"),
        "--max-steps",
        "2",
        "--sequential",
    ]
    assert main(args + ["--invariant", "trained"]) == 2  # options of a grown domain do not apply
    assert "do not apply" in capsys.readouterr().err and not (tmp_path / "seq").exists()
    assert main(args + ["--probe", new, "--probe-every", "2"]) == 0
    trained = json.loads((tmp_path / "seq" / "training_config.json").read_text())["training"]
    assert trained["probe_every"] == 2 and trained["max_steps"] == 2
    before, after = _tensors(run, "adapters.safetensors"), _tensors(tmp_path / "seq", "adapters.safetensors")
    assert set(after) == set(before) and any(not torch.equal(after[k], before[k]) for k in before)
    assert read_lineage(tmp_path / "seq").added_domain is None


def test_an_oracle_router_cannot_be_fine_tuned_on_a_new_task():
    from iclm.config import ICLMConfig
    from iclm.extension import check_sequential

    check_sequential(ICLMConfig(backbone="tiny", num_domains=2))  # vq: fine
    with pytest.raises(ValueError, match="routes by training dataset id"):
        check_sequential(ICLMConfig(backbone="tiny", num_domains=2, router={"kind": "oracle"}))


def test_the_anchor_is_zero_at_the_start_and_weighs_changes_by_the_fisher(make_iclm, tiny_batch):
    model = make_iclm(perturb=True)
    batches = [{k: v for k, v in tiny_batch.items() if k != "domain_ids"}]
    fisher = fisher_diagonal(model, batches)
    assert all(
        f.shape == p.shape and (f >= 0).all()
        for f, p in zip(fisher.values(), invariant_parameters(model).values(), strict=True)
    )
    assert any(f.sum() > 0 for f in fisher.values())
    l2, ewc = AnchorPenalty(model, 2.0), AnchorPenalty(model, 2.0, fisher)
    assert float(l2().detach()) == 0.0 and float(ewc().detach()) == 0.0
    name, param = next(iter(invariant_parameters(model).items()))
    with torch.no_grad():
        param.add_(0.5)
    assert float(l2().detach()) == pytest.approx(2.0 * 0.25 * param.numel(), rel=1e-5)
    assert float(ewc().detach()) == pytest.approx(2.0 * 0.25 * float(fisher[name].sum()), rel=1e-4)


def test_the_cli_refuses_a_baseline_in_one_line(tmp_path, capsys):
    from iclm.__main__ import main

    raw = toy_config(tmp_path, max_steps=2, save_every=2)
    raw["model"] = {"variant": "baseline", "num_domains": 1, "backbone": "tiny"}
    run = run_training(config_from_dict(raw)).run_dir
    new = write_new_task(tmp_path)
    capsys.readouterr()
    assert main(["extend", str(run), "--data", new, "-o", str(tmp_path / "grown"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no router to extend" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "grown").exists()  # refused before anything is made


def test_shipping_an_extension_keeps_its_lineage_with_the_shipped_step(parent, tmp_path):
    from scripts.ship_checkpoint import ship

    folder, _, new = parent
    training = {"max_steps": 4, "batch_size": 4, "max_length": 48, "save_every": 2, "router_init_examples": 8}
    run = run_extension(folder, ExtensionData(new=(new,)), tmp_path / "grown", ExtensionPlan(), training)
    written = ship(run.run_dir, tmp_path / "shipped", step=2)
    assert "lineage.json" in written
    shipped = read_lineage(tmp_path / "shipped")
    assert shipped.steps == 2 and shipped.parent == str(folder) and shipped.added_domain == 2
    assert ICLMForCausalLM.from_pretrained(tmp_path / "shipped").config.num_domains == 3
