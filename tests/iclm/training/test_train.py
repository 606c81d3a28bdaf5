"""ICLMTrainer and `python -m iclm train` on the tiny backbone: learning, logging, resume, safe steps."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from iclm.training import state_io
from iclm.training.config import config_from_dict, load_train_config
from iclm.training.metrics_log import read_metrics
from iclm.training.run import build_model, run_training
from iclm.training.trainer import ICLMTrainer
from tests.helpers.paths import ROOT
from tests.helpers.toy_training import toy_config

PROBE_FIELDS = ("codebook_perplexity", "router_purity", "router_nmi", "probe_loss")
PER_MODULE_FIELDS = ("mi_batch", "mi_ksg", "cka", "pearson", "probe_routing_fraction", "routing_fraction")


def _finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    return isinstance(value, int | float) and math.isfinite(value)


def test_tiny_run_lowers_loss_and_logs_every_field(tmp_path):
    config = config_from_dict(toy_config(tmp_path))
    result = run_training(config)
    records = read_metrics(result.run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    assert records[-1]["loss"] < records[0]["loss"]
    assert records[-1]["probe_loss"] < records[0]["probe_loss"]  # the probe set learns too
    for record in records:
        for name in ("loss", "learning_rate", "epoch", "loss_terms", *PROBE_FIELDS, *PER_MODULE_FIELDS):
            assert name in record and _finite_numbers(record[name]), (name, record.get(name))
        assert set(record["loss_terms"]) == {"lm", "invariant_lm", "domain_lm", "routing", "mi"}
        assert set(record["cka"]) == {"domain_0", "domain_1"}
    final = sorted(p.name for p in result.run_dir.iterdir() if p.is_file())
    assert all(name.endswith((".json", ".safetensors", ".jsonl")) for name in final), final
    assert json.loads((result.run_dir / "training_config.json").read_text())["dataset_names"] == [
        "alpha",
        "beta",
    ]
    assert not list(result.run_dir.rglob("*.pt")) and not list(result.run_dir.rglob("*.pth"))


class _Killed(RuntimeError):
    pass


class _KillAfterSave(TrainerCallback):
    """Simulates a process killed right after the checkpoint of step `step` was written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise _Killed


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    overrides = {"max_steps": 12, "log_every": 3, "save_every": 6}
    whole = run_training(config_from_dict(toy_config(tmp_path / "a", **overrides)))
    config = config_from_dict(toy_config(tmp_path / "b", **overrides))
    with pytest.raises(_Killed):
        run_training(config, callbacks=[_KillAfterSave(6)])
    resumed = run_training(config)  # the same command again
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-6")
    assert resumed.global_step == whole.global_step == 12
    a, b = read_metrics(whole.run_dir / "metrics.jsonl"), read_metrics(resumed.run_dir / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [3, 6, 9, 12]
    for ra, rb in zip(a, b, strict=True):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-4, abs=1e-5)
        assert rb["cka"]["domain_0"] == pytest.approx(ra["cka"]["domain_0"], rel=1e-3, abs=1e-4)


class _NaNAtStep3(ICLMTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return loss * float("nan") if self.state.global_step == 2 else loss


class _Snapshots(TrainerCallback):
    def __init__(self) -> None:
        self.before: dict[int, dict] = {}
        self.after: dict[int, dict] = {}

    def _state(self, model):
        return {k: v.detach().clone() for k, v in state_io.trainable_state(model).items()}

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        self.before[state.global_step + 1] = self._state(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.after[state.global_step] = self._state(model)


def test_nonfinite_loss_skips_the_step_and_is_logged(tmp_path):
    snapshots = _Snapshots()
    config = config_from_dict(toy_config(tmp_path, max_steps=4, log_every=2))
    run_training(config, trainer_cls=_NaNAtStep3, callbacks=[snapshots])
    for name, before in snapshots.before[3].items():
        assert torch.equal(before, snapshots.after[3][name]), name  # skipped: nothing moved
    moved = [n for n, v in snapshots.before[4].items() if not torch.equal(v, snapshots.after[4][n])]
    assert moved  # the next step trains normally
    records = read_metrics(Path(config.training.output_dir) / "metrics.jsonl")
    events = [(r["step"], r["event"]) for r in records if "event" in r]
    assert events == [(3, "skipped_nonfinite")]
    assert all(_finite_numbers(r["loss"]) for r in records if "event" not in r)


@pytest.mark.parametrize("weight", ["lm", "invariant", "domain", "routing", "mi"])
def test_each_loss_weight_changes_the_loss_by_delta_times_its_term(tmp_path, weight):
    term = {"lm": "lm", "invariant": "invariant_lm", "domain": "domain_lm", "routing": "routing", "mi": "mi"}
    raw = toy_config(tmp_path)
    losses, terms = [], None
    for value in (0.5, 1.75):
        raw["model"]["loss_weights"] = {weight: value}
        config = config_from_dict(raw)
        model, tokenizer = build_model(config, ["alpha", "beta"])
        from iclm.data.collate import ICLMCollator
        from iclm.training.data import load_files

        examples = load_files(config.data.train)[::12]
        model.init_router(
            torch.randn(16, model.base.config.hidden_size, generator=torch.Generator().manual_seed(0))
        )
        batch = ICLMCollator(tokenizer, {"alpha": 0, "beta": 1}, 48)(examples)
        with torch.no_grad():
            out = model(**batch)
        losses.append(float(out.loss))
        terms = out.loss_terms
    delta = float(getattr(terms, term[weight]))
    assert delta > 0
    assert losses[1] - losses[0] == pytest.approx(1.25 * delta, rel=1e-4)


@pytest.mark.parametrize(
    "model",
    [
        {"variant": "baseline"},
        {"variant": "no_invariant", "num_domains": 2},
        {"variant": "iclm", "router": {"kind": "oracle"}},
    ],
)
def test_baselines_train_through_the_cli(tmp_path, model):
    from iclm.__main__ import main

    raw = toy_config(tmp_path, max_steps=2, log_every=1, save_every=2)
    raw["model"] = {"backbone": "tiny", "adapters": {"r": 2, "alpha": 4}} | model
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path)]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["variant"] == model["variant"]
    if model.get("router") == {"kind": "oracle"}:
        assert config["num_domains"] == 2  # K = number of training datasets
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 2


def test_unknown_config_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: {variant: iclm}\ndata: {train: [a.jsonl]}\ntraining: {learning_rat: 0.1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*learning_rat"):
        load_train_config(path)


def test_oracle_router_rejects_a_k_that_differs_from_the_dataset_count(tmp_path):
    raw = toy_config(tmp_path)
    raw["model"] = {"num_domains": 3, "router": {"kind": "oracle"}, "backbone": "tiny"}
    with pytest.raises(ValueError, match="num_domains=3"):
        build_model(config_from_dict(raw), ["alpha", "beta"])


def test_shipped_configs_load():
    for name in ("paper", "cpu", "tiny", "experiment/iclm-k2", "experiment/baseline", "experiment/oracle-k4"):
        config = load_train_config(ROOT / "configs" / f"{name}.yaml")
        assert config.model.backbone in ("tiny", "smollm2-135m")


class _WidthRecordingTrainer(ICLMTrainer):
    """Records the padded width of every training batch."""

    widths: list[int] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        type(self).widths.append(int(inputs["attention_mask"].sum(-1).max()))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def test_group_by_length_batches_examples_of_similar_length(tmp_path):
    """Short and long prompts never share a batch, so no batch of short prompts pays the long padding."""
    data = tmp_path / "data"
    data.mkdir()
    lines = [json.dumps({"prompt": f"s {i % 10} ->", "answer": "x"}) for i in range(16)]
    lines += [
        json.dumps({"prompt": "long " + " ".join("7" * 30) + f" {i % 10} ->", "answer": "y"})
        for i in range(16)
    ]
    (data / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    raw = toy_config(tmp_path, max_steps=4, batch_size=8, max_length=96, group_by_length=True)
    raw["data"]["train"] = [str(data / "mixed.jsonl")]
    raw["model"]["num_domains"] = 1
    _WidthRecordingTrainer.widths = []
    run_training(config_from_dict(raw), trainer_cls=_WidthRecordingTrainer)
    widths = _WidthRecordingTrainer.widths
    assert len(widths) == 4
    assert sorted(widths)[:2] == [min(widths)] * 2 and min(widths) < 20 < max(widths)


class _CacheStats(ICLMTrainer):
    seen: dict = {}

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        cache = self.router_cache
        _CacheStats.seen = {"hits": cache.hits, "misses": cache.misses} if cache is not None else {}
        return result


def test_cached_router_embeddings_train_exactly_like_recomputed_ones(tmp_path):
    # 96 examples, batch 8, 24 steps = two epochs: the second epoch routes from the cache only
    overrides = {"max_steps": 24, "log_every": 6, "save_every": 100}
    cached = run_training(config_from_dict(toy_config(tmp_path / "a", **overrides)), trainer_cls=_CacheStats)
    stats = dict(_CacheStats.seen)
    plain = run_training(
        config_from_dict(toy_config(tmp_path / "b", cache_router_embeddings=False, **overrides)),
        trainer_cls=_CacheStats,
    )
    assert _CacheStats.seen == {}
    assert stats["misses"] == 96 and stats["hits"] == 24 * 8 - 96
    a = read_metrics(cached.run_dir / "metrics.jsonl")
    b = read_metrics(plain.run_dir / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [6, 12, 18, 24]
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4, abs=1e-5)
        assert ra["routing_fraction"] == rb["routing_fraction"]


def test_recomputing_the_invariant_pass_trains_like_keeping_its_activations(tmp_path):
    overrides = {"max_steps": 10, "log_every": 5, "save_every": 100}
    kept = run_training(config_from_dict(toy_config(tmp_path / "a", **overrides)))
    config = toy_config(tmp_path / "b", **overrides)
    config["model"]["recompute"] = "invariant"
    recomputed = run_training(config_from_dict(config))
    a = read_metrics(kept.run_dir / "metrics.jsonl")
    b = read_metrics(recomputed.run_dir / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [5, 10]
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4, abs=1e-5)
    saved = json.loads((recomputed.run_dir / "config.json").read_text())
    assert saved["recompute"] == "invariant"


class _NaNGradientAtStep3(ICLMTrainer):
    """A finite loss whose gradient is NaN at step 3: 0 * sqrt(|u|) at u = 0 has value 0, gradient 0/0."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.state.global_step == 2 and model.training:
            param = next(p for p in model.parameters() if p.requires_grad)
            loss = loss + 0.0 * (param.sum() - param.sum().detach()).abs().sqrt()
        return loss


def test_nonfinite_gradient_with_a_finite_loss_skips_the_step(tmp_path):
    snapshots = _Snapshots()
    config = config_from_dict(toy_config(tmp_path, max_steps=4, log_every=1))
    run_training(config, trainer_cls=_NaNGradientAtStep3, callbacks=[snapshots])
    for name, before in snapshots.before[3].items():
        assert torch.equal(before, snapshots.after[3][name]), name  # skipped: nothing moved
    assert any(not torch.equal(v, snapshots.after[4][n]) for n, v in snapshots.before[4].items())
    assert all(torch.isfinite(v).all() for v in snapshots.after[4].values())
    records = read_metrics(Path(config.training.output_dir) / "metrics.jsonl")
    events = [(r["step"], r["event"], r["cause"]) for r in records if "event" in r]
    assert events == [(3, "skipped_nonfinite", "gradient")]
    assert math.isfinite(next(r for r in records if "event" in r)["loss"])  # the loss itself was finite


def test_a_skipped_step_is_logged_as_skipped_not_as_zero(tmp_path):
    config = config_from_dict(toy_config(tmp_path, max_steps=4, log_every=1))
    run_training(config, trainer_cls=_NaNAtStep3)
    records = read_metrics(Path(config.training.output_dir) / "metrics.jsonl")
    records = [r for r in records if "event" not in r]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    skipped = records[2]
    assert skipped["skipped"] is True
    assert skipped["loss"] is None and skipped["grad_norm"] is None
    assert set(skipped["loss_terms"].values()) == {None}
    assert set(skipped["routing_fraction"].values()) == {None}
    for record in (records[1], records[3]):
        assert "skipped" not in record and record["loss"] > 0 and record["grad_norm"] > 0


def test_rerunning_a_finished_run_trains_nothing(tmp_path, caplog):
    config = config_from_dict(toy_config(tmp_path, max_steps=4, log_every=2, save_every=2))
    first = run_training(config)
    run = first.run_dir
    metrics = (run / "metrics.jsonl").read_text()
    adapters = (run / "adapters.safetensors").read_bytes()
    with caplog.at_level(logging.INFO, logger="iclm.training.run"):
        again = run_training(config)
    assert again.global_step == 4 and "already finished at step 4" in caplog.text
    assert (run / "metrics.jsonl").read_text() == metrics
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert json.loads((run / "checkpoints/checkpoint-4/trainer_state.json").read_text())["global_step"] == 4
    assert (run / "adapters.safetensors").read_bytes() == adapters
    longer = run_training(config, max_steps=6)  # a larger --max-steps continues the run
    assert longer.global_step == 6 and longer.resumed_from.endswith("checkpoint-4")


def test_output_dir_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    from iclm.__main__ import main

    raw = toy_config(tmp_path, max_steps=1)
    target = Path(raw["training"]["output_dir"])
    target.write_text("my notes\n")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "training.output_dir" in err and "is a file" in err and str(path) in err
    assert target.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["cfg.json", "data", "run"]
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "shown"),
    [
        ("training", "learning_rate", ".inf", "inf"),
        ("training", "learning_rate", "1.0e+30", "1e+30"),
        ("training", "learning_rate", ".nan", "nan"),
        ("training", "learning_rate", "0", "0"),
        ("training", "epochs", ".inf", "inf"),
        ("training", "weight_decay", ".inf", "inf"),
        ("training", "max_grad_norm", ".inf", "inf"),
        ("model", "loss_weights", "{lm: .inf}", "inf"),
        ("model", "loss_weights", "{mi: -.inf}", "-inf"),
        ("model", "router", "{beta: .inf}", "inf"),
        ("model", "adapters", "{alpha: .inf}", "inf"),
        ("model", "num_domains", "65", "65"),
        ("model", "recompute_share", "1.5", "1.5"),
    ],
)
def test_numeric_training_config_values_must_be_finite_and_in_range(tmp_path, section, key, value, shown):
    field = {
        "loss_weights": "loss_weights.lm" if "lm" in value else "loss_weights.mi",
        "router": "router.beta",
        "adapters": "adapters.alpha",
    }.get(key, key)
    sections = {"model": ["variant: iclm"], "data": ["train: [a.jsonl]"], "training": []}
    sections[section].append(f"{key}: {value}")
    path = tmp_path / "cfg.yaml"
    path.write_text("".join(f"{name}: {{{', '.join(items)}}}\n" for name, items in sections.items()))
    expected = re.escape(f"cfg.yaml: {section}.{field}={shown} is invalid")
    with pytest.raises(ValueError, match=expected) as error:
        load_train_config(path)
    assert "\n" not in str(error.value)


def test_probe_set_from_a_mix_folder_keeps_its_domains(tmp_path):
    from iclm.data.mix import MixConfig, build_mix
    from iclm.training.data import load_probe_pool

    build_mix(MixConfig(seed=1, n_train=8, n_test=4), tmp_path / "probe-mix")
    pool = load_probe_pool((str(tmp_path / "probe-mix"),))
    assert {e.domain for e in pool} == {"acre-text", "acre-symbolic", "raven-text", "raven-symbolic"}
    assert len(pool) == 32 and all(e.split == "iid" for e in pool)


def _acre_toy_config(tmp_path: Path, **training) -> dict:
    from iclm.data.acre import generate_acre
    from iclm.data.evals_format import write_jsonl

    path = tmp_path / "data" / "acre-symbolic-iid.jsonl"
    write_jsonl(path, generate_acre(48, 0, "symbolic", "iid", "train"))
    raw = toy_config(tmp_path, max_length=512, **training)
    raw["data"]["train"] = [str(path), raw["data"]["train"][0]]  # ACRE puzzles beside unpackable toy lines
    return raw


@pytest.mark.parametrize("pack", [True, False])
def test_training_packs_shared_contexts_when_asked(tmp_path, pack):
    from iclm.packing import PackedBatch

    seen: list[int] = []

    class Recording(ICLMTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            packed = inputs.get("packed")
            seen.append(
                len(packed.rows) if isinstance(packed, PackedBatch) else -inputs["input_ids"].shape[0]
            )
            return super().compute_loss(model, inputs, *args, **kwargs)

    raw = _acre_toy_config(tmp_path, max_steps=6, log_every=3, save_every=6, pack_shared_context=pack)
    records = read_metrics(
        run_training(config_from_dict(raw), trainer_cls=Recording).run_dir / "metrics.jsonl"
    )
    assert all(math.isfinite(r["loss"]) for r in records)
    if pack:  # packed batches hold fewer rows than examples: whole puzzles share one row
        assert any(0 < rows < 8 for rows in seen), seen
    else:
        assert all(rows == -8 for rows in seen), seen


def test_constant_schedule_makes_step_n_of_a_longer_run_the_n_step_run(tmp_path):
    """lr_schedule: constant is what lets the experiment read its step count off a learning curve: the
    checkpoint at step 4 of an 8-step run holds the same adapters as a run of max_steps 4."""
    from safetensors.torch import load_file

    schedule = {"lr_schedule": "constant", "warmup_steps": 2, "log_every": 2, "save_every": 4}
    short = run_training(config_from_dict(toy_config(tmp_path / "short", max_steps=4, **schedule)))
    long = run_training(config_from_dict(toy_config(tmp_path / "long", max_steps=8, **schedule)))
    rates = [r["learning_rate"] for r in read_metrics(long.run_dir / "metrics.jsonl")]
    assert rates == pytest.approx([2.5e-3] + [5e-3] * 3)  # warm-up, then flat
    at_four = load_file(long.run_dir / "checkpoints/checkpoint-4/adapters.safetensors")
    final_short = load_file(short.run_dir / "adapters.safetensors")
    assert at_four.keys() == final_short.keys()
    for name, tensor in final_short.items():
        torch.testing.assert_close(at_four[name], tensor, rtol=0, atol=0)
    linear = run_training(config_from_dict(toy_config(tmp_path / "linear", max_steps=8, log_every=2)))
    assert read_metrics(linear.run_dir / "metrics.jsonl")[-1]["learning_rate"] < 5e-3 / 4


def test_unknown_lr_schedule_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"training.lr_schedule='step' is invalid; choose one of"):
        config_from_dict(toy_config(tmp_path, lr_schedule="step"))
