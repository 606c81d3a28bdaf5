"""analysis.collect: the artifact's files, columns and shapes, reuse, load errors, the analyze CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from analysis.collect import ArtifactError, collect, load_artifact

BASE_COLUMNS = {
    "id", "dataset", "split", "prompt", "gold", "domain_id", "route",
    "pred_aggregated", "pred_invariant", "pred_domain",
    "correct_aggregated", "correct_invariant", "correct_domain",
}  # fmt: skip


def test_artifact_files_columns_and_shapes(checkpoint, data_files):
    artifact = collect(str(checkpoint), data_files, forced_sample=4, batch_size=4, progress=False)
    folder = checkpoint / "analysis"
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "examples.parquet", "states.safetensors"}
    manifest = artifact.manifest
    assert manifest["n_examples"] == 10 and manifest["forced_sample"] == 4
    assert manifest["modules"] == ["invariant", "domain_0", "domain_1"]
    assert [d["split"] for d in manifest["data"]] == ["iid", "ood"]
    assert len(manifest["checkpoint_hash"]) == 64 and set(manifest["versions"]) >= {
        "iclm",
        "torch",
        "transformers",
    }
    frame = artifact.examples
    k_columns = {f"{p}_domain_{k}" for p in ("pred", "correct") for k in range(2)}
    assert set(frame.columns) == BASE_COLUMNS | k_columns
    assert frame["pred_aggregated"].notna().all() and frame["correct_invariant"].notna().all()
    assert set(frame["split"]) == {"iid", "ood"} and set(frame["domain_id"]) == {0, 1}
    states = artifact.states
    forced = states["forced_index"]
    assert forced.dtype == np.int64 and len(forced) == 4
    assert frame["pred_domain_1"].notna().sum() == 4 and frame.loc[forced, "pred_domain_1"].notna().all()
    for name in ("router_embeddings", "invariant", "domain"):
        assert states[name].shape == (10, 64) and states[name].dtype == np.float32
    assert states["router_projected"].shape[0] == 10 and states["forced_domain_0"].shape == (4, 64)


def test_forced_domain_of_the_routed_module_matches_pred_domain(checkpoint, data_files):
    frame = collect(str(checkpoint), data_files, forced_sample=10, progress=False).examples
    for k in (0, 1):
        routed = frame["route"] == k
        assert (frame.loc[routed, f"pred_domain_{k}"] == frame.loc[routed, "pred_domain"]).all()


def test_second_run_reuses_the_artifact(checkpoint, data_files):
    collect(str(checkpoint), data_files, forced_sample=2, progress=False)
    parquet = checkpoint / "analysis" / "examples.parquet"
    before = (
        parquet.stat().st_mtime_ns,
        json.loads((parquet.parent / "manifest.json").read_text())["created"],
    )
    collect(str(checkpoint), data_files, forced_sample=2, progress=False)
    after = (
        parquet.stat().st_mtime_ns,
        json.loads((parquet.parent / "manifest.json").read_text())["created"],
    )
    assert before == after
    again = collect(str(checkpoint), data_files[:1], forced_sample=2, progress=False)  # other data: recompute
    assert again.manifest["n_examples"] == 5


def test_bf16_collection_is_its_own_setting_and_close_to_fp32(checkpoint, data_files, tmp_path):
    fp32 = collect(str(checkpoint), data_files, tmp_path / "a", forced_sample=2, progress=False)
    assert fp32.manifest["precision"] == "fp32"
    bf16 = collect(
        str(checkpoint), data_files, tmp_path / "a", forced_sample=2, progress=False, precision="bf16"
    )
    assert bf16.manifest["precision"] == "bf16"  # not reused: another setting
    for name in ("domain", "invariant", "router_embeddings"):
        scale = np.abs(fp32.states[name]).max()
        assert np.abs(bf16.states[name] - fp32.states[name]).max() < 0.05 * scale  # bf16 rounding only
    # an artifact written before the setting existed was fp32: reused for precision="fp32"
    fp32 = collect(str(checkpoint), data_files, tmp_path / "b", forced_sample=2, progress=False)
    older = json.loads((tmp_path / "b" / "manifest.json").read_text())
    del older["precision"]
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(older))
    stamp = (tmp_path / "b" / "examples.parquet").stat().st_mtime_ns
    collect(str(checkpoint), data_files, tmp_path / "b", forced_sample=2, progress=False)
    assert (tmp_path / "b" / "examples.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="precision='fp16' is invalid"):
        collect(str(checkpoint), data_files, tmp_path / "c", precision="fp16", progress=False)


@pytest.mark.parametrize("variant", ["no_invariant", "baseline"])
def test_variants_without_invariant(tmp_path, make_iclm, data_files, variant):
    model = make_iclm(perturb=True, variant=variant, num_domains=2)
    artifact = collect(model, data_files, tmp_path / "art", forced_sample=3, progress=False)
    frame = artifact.examples
    assert frame["pred_invariant"].isna().all() and frame["correct_invariant"].isna().all()
    assert "invariant" not in artifact.states
    assert (frame["pred_aggregated"] == frame["pred_domain"]).all()
    if variant == "baseline":
        assert (frame["route"] == 0).all() and "pred_domain_1" not in frame.columns


def test_in_memory_examples(tmp_path, make_iclm, data_files):
    from iclm.data.loader import load_examples

    examples = load_examples(data_files[0]).examples
    artifact = collect(make_iclm(), examples, tmp_path / "art", forced_sample=0, progress=False)
    assert artifact.manifest["data"][0]["path"] is None and len(artifact.states["forced_index"]) == 0


def test_missing_file_is_named(checkpoint, data_files):
    collect(str(checkpoint), data_files[:1], forced_sample=1, progress=False)
    (checkpoint / "analysis" / "states.safetensors").unlink()
    with pytest.raises(ArtifactError, match="states.safetensors is missing"):
        load_artifact(checkpoint / "analysis")


def test_row_count_mismatch_is_named(checkpoint, data_files):
    collect(str(checkpoint), data_files[:1], forced_sample=1, progress=False)
    manifest = checkpoint / "analysis" / "manifest.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"n_examples": 7}))
    with pytest.raises(ArtifactError, match="examples.parquet has 5 rows"):
        load_artifact(checkpoint / "analysis")


def test_bad_manifest_json_is_named(checkpoint, data_files):
    collect(str(checkpoint), data_files[:1], forced_sample=1, progress=False)
    (checkpoint / "analysis" / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json: the analysis manifest is not valid JSON"):
        load_artifact(checkpoint / "analysis")


@pytest.fixture(scope="module")
def artifact_folder(tmp_path_factory, data_files):
    """One artifact collected once for the corruption cases (each corrupts its own copy)."""
    from iclm.backbone import load_backbone
    from iclm.config import ICLMConfig
    from iclm.model import ICLMForCausalLM

    model = ICLMForCausalLM.from_config_and_backbone(
        ICLMConfig(backbone="tiny", num_domains=2), load_backbone("tiny")
    ).eval()
    out = tmp_path_factory.mktemp("artifact") / "analysis"
    collect(model, data_files, out, forced_sample=2, progress=False)
    return out


def _edit_manifest(folder, **fields):
    path = folder / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | fields))


def _drop_column(folder, column):
    import pandas as pd

    path = folder / "examples.parquet"
    pd.read_parquet(path).drop(columns=column).to_parquet(path)


def _edit_states(folder, **tensors):
    from safetensors.numpy import load_file, save_file

    path = folder / "states.safetensors"
    states = {k: v for k, v in load_file(str(path)).items() if k not in tensors} | {
        k: v for k, v in tensors.items() if v is not None
    }
    save_file(states, str(path))


def _write(name, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


def _truncate(name, size: int):
    return lambda folder: (folder / name).write_bytes((folder / name).read_bytes()[:size])


CORRUPTIONS = {
    "manifest truncated": (_write("manifest.json", b'{"format": 1, '), "manifest.json: the analysis manifest "
                           "is not valid JSON"),
    "manifest a list": (_write("manifest.json", b"[]"), "holds a JSON list, expected an object"),
    "modules not a list": (lambda f: _edit_manifest(f, modules="x"), "field 'modules' must be a list"),
    "data path a number": (lambda f: _edit_manifest(f, data=[{"path": 3}]), "'data' objects with a path"),
    "parquet truncated": (_truncate("examples.parquet", 200), "examples.parquet: not a readable Parquet"),
    "route column gone": (lambda f: _drop_column(f, "route"), "examples.parquet lacks the columns ['route']"),
    "states zero bytes": (_write("states.safetensors", b""), "states.safetensors: not a readable"),
    "forced_index gone": (lambda f: _edit_states(f, forced_index=None), "lacks the tensors ['forced_index']"),
    "forced_index out of range": (
        lambda f: _edit_states(f, forced_index=np.array([0, 99], dtype=np.int64)),
        "'forced_index' must list example rows 0..9",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupt_artifact_file_is_named_with_what_is_wrong(artifact_folder, tmp_path, case):
    """The studio shows these messages instead of a traceback: each names its file and the problem."""
    import shutil

    corrupt, message = CORRUPTIONS[case]
    folder = shutil.copytree(artifact_folder, tmp_path / "analysis")
    corrupt(folder)
    with pytest.raises(ArtifactError, match=re.escape(message)) as error:
        load_artifact(folder)
    assert str(folder) in str(error.value) and "\n" not in str(error.value)


def test_not_a_checkpoint_folder(tmp_path, data_files):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        collect(str(tmp_path), data_files)


def test_analyze_cli(checkpoint, data_files, tmp_path):
    from iclm.__main__ import main

    out = tmp_path / "cli-art"
    args = ["analyze", str(checkpoint), "--data", *data_files, "--out", str(out), "--forced-sample", "2"]
    assert main(args + ["--no-progress"]) == 0
    assert load_artifact(out).manifest["forced_sample"] == 2
    assert main(args + ["--no-progress", "--precision", "bf16"]) == 0
    assert load_artifact(out).manifest["precision"] == "bf16"
    assert main(["analyze", str(checkpoint), "--data", *data_files, "--forced-sample", "-1"]) == 2
    assert main(["analyze", str(tmp_path / "nothing"), "--data", *data_files]) == 2


# ---------------------------------------------------------------- routes = training / evaluation routes
@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """The studio tests' real tiny checkpoint (trainer-built, max_length 192 < its ~330-token prompts)."""
    from bench.tiny_checkpoints import build_checkpoints

    return build_checkpoints(tmp_path_factory.mktemp("studio")) / "iclm-tiny"


def test_routes_equal_the_collator_batch_routes_and_the_evaluation_routes(trained_checkpoint, tmp_path):
    import torch

    from analysis import predict
    from iclm.data.collate import ICLMCollator
    from iclm.data.loader import load_examples
    from iclm.evaluation.run import evaluate
    from iclm.model import ICLMForCausalLM

    files = sorted(str(p) for p in (trained_checkpoint.parents[1] / "data").glob("*-test.jsonl"))
    artifact = collect(str(trained_checkpoint), files, tmp_path / "art", forced_sample=0, progress=False)
    max_length = json.loads((trained_checkpoint / "training_config.json").read_text())["training"][
        "max_length"
    ]
    assert artifact.manifest["max_length"] == max_length
    model = ICLMForCausalLM.from_pretrained(str(trained_checkpoint))
    examples = [e for path in files for e in load_examples(path).examples]
    names = predict.domain_names(model, examples)
    batch = ICLMCollator(model.tokenizer, {n: i for i, n in enumerate(names)}, max_length)(examples)
    with torch.no_grad():
        routes = model.route(
            batch["input_ids"], batch["attention_mask"], batch["prompt_mask"]
        ).routes.tolist()
    assert artifact.examples["route"].tolist() == routes
    evaluation = evaluate(model, model.tokenizer, examples, max_length=max_length, progress=False)
    assert [p["route"] for p in evaluation.predictions] == routes
    # the trained router separates its two training tasks (probe router_nmi 1.0) on their test sets too
    by_dataset = artifact.examples.groupby("dataset")["route"].agg(lambda r: set(r.tolist()))
    assert by_dataset["acre-symbolic-iid"].isdisjoint(by_dataset["pvr-symbolic-c0-iid"])


def test_single_prompt_and_intervention_routes_equal_the_artifact(trained_checkpoint, tmp_path):
    from analysis.interventions import InterventionChoice, intervention_table, predict_all_modules
    from iclm.data.loader import load_examples
    from iclm.model import ICLMForCausalLM

    files = sorted(str(p) for p in (trained_checkpoint.parents[1] / "data").glob("*-iid-test.jsonl"))
    frame = collect(
        str(trained_checkpoint), files, tmp_path / "art", forced_sample=0, progress=False
    ).examples
    model = ICLMForCausalLM.from_pretrained(str(trained_checkpoint))
    model.name_or_path = str(trained_checkpoint)  # as the studio loads it: default max_length = training's
    examples = [e for path in files for e in load_examples(path).examples][::4]
    table = intervention_table(model, model.tokenizer, examples, [InterventionChoice("none")])
    expected = frame.set_index("id").loc[[e.id for e in examples], "route"].tolist()
    assert table["route"].tolist() == expected
    singles = [predict_all_modules(model, model.tokenizer, e.prompt, e.choices).route for e in examples]
    assert singles == expected


def test_routed_and_forced_states_equal_each_modules_own_forward(tmp_path, make_iclm, data_files):
    """Domain module k runs only over the prompt groups routed to k or holding a forced example: every saved
    state still equals that module's full forward over the example alone (mean over its prompt)."""
    import torch

    from analysis import inputs, predict
    from iclm.evaluation.prompts import encode_prompts

    model = make_iclm(perturb=True, num_domains=3)
    artifact = collect(model, data_files, tmp_path / "art", forced_sample=3, progress=False)
    routes = artifact.examples["route"].to_numpy()
    assert len(set(routes.tolist())) < 3  # so some domain module skipped the groups no forced example is in
    examples, _ = inputs.resolve_data(data_files, None)
    collator = predict.make_collator(model, model.tokenizer, examples, 2048)
    encoded = encode_prompts(examples, model.tokenizer, collator.dataset_ids, 2048, 8)

    def own(module: str, i: int) -> np.ndarray:
        ids = torch.tensor([encoded[i].prompt_ids])
        with torch.no_grad():
            return model.module_states(module, ids, torch.ones_like(ids)).mean(1)[0].numpy()

    close = {"atol": 5e-3, "rtol": 5e-3}  # float16 on disk
    for i, route in enumerate(routes.tolist()):
        np.testing.assert_allclose(artifact.states["domain"][i], own(f"domain_{route}", i), **close)
        np.testing.assert_allclose(artifact.states["invariant"][i], own("invariant", i), **close)
    for j, i in enumerate(artifact.states["forced_index"].tolist()):
        for k in range(3):
            np.testing.assert_allclose(
                artifact.states[f"forced_domain_{k}"][j], own(f"domain_{k}", i), **close
            )
