"""analysis.predict: how prompts are cut for live analysis of a checkpoint."""

import json

from analysis.inputs import DEFAULT_MAX_LENGTH
from analysis.predict import default_max_length, prompt_ids


def test_default_max_length_prefers_the_artifact_then_training_then_default(make_iclm, tmp_path):
    model = make_iclm(num_domains=2)
    model.name_or_path = str(tmp_path)
    assert default_max_length(model) == DEFAULT_MAX_LENGTH
    (tmp_path / "training_config.json").write_text(json.dumps({"training": {"max_length": 448}}))
    assert default_max_length(model) == 448
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "manifest.json").write_text(json.dumps({"max_length": 1400}))
    assert default_max_length(model) == 1400  # live results then match the precomputed artifact


def test_prompt_ids_cut_from_the_left_keeping_bos(tiny_tokenizer):
    full = tiny_tokenizer("abcdefghij", add_special_tokens=True)["input_ids"]
    ids = prompt_ids(tiny_tokenizer, "abcdefghij", max_length=6, reserve=1)
    if full[0] == tiny_tokenizer.bos_token_id:  # a leading BOS survives the cut
        assert ids == [full[0], *full[-4:]]
    else:
        assert ids == full[-5:]
    short = tiny_tokenizer("abc", add_special_tokens=True)["input_ids"]
    assert prompt_ids(tiny_tokenizer, "abc", max_length=64) == short  # fits: untouched


def test_shared_state_predictions_equal_plain_full_forwards(make_iclm):
    """The fast path (one pass per module, choices and greedy from KV caches) predicts exactly what plain
    full forwards predict, for every field and for explicit routes that differ from the router's."""
    import torch

    from analysis.predict import FIELDS, _reference_predictions, make_collator, predict_examples
    from iclm.data import Example

    model = make_iclm(num_domains=3, perturb=True)
    tokenizer = model.tokenizer
    examples = [
        Example(id=f"e{i}", prompt=prompt, answer=answer, choices=choices, dataset="toy", split="iid")
        for i, (prompt, answer, choices) in enumerate(
            [
                ("1 2 3 ->", "4", ("4", "5", "66")),
                ("a much longer prompt with many more tokens ->", "x", ("x", "y", "zz")),
                ("no choices here ->", "ok", None),
                ("short", "ab", None),
            ]
        )
    ]
    routes = torch.tensor([2, 0, 1, 2])
    collator = make_collator(model, tokenizer, examples)
    fast = predict_examples(model, tokenizer, examples, routes, fields=FIELDS, batch_size=3)
    reference = _reference_predictions(model, tokenizer, examples, routes, FIELDS, None, collator, 3, 8)
    assert fast == reference
