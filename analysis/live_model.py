"""A checkpoint's model made ready for live runs (custom prompts, attribution, interventions).

`load_live_model` loads the checkpoint, keeps its folder as `name_or_path` (so
`analysis.predict.default_max_length` finds the training run's and the artifact's max_length beside it),
moves it to the device in eval mode, stores Linear weights in bf16 for bf16 runs and warms it up.
"""

from __future__ import annotations

WARM_UP_PROMPT = "Warm-up: the first backward sets up autograd."


def warm_up(model, device: str, precision: str) -> None:
    """One short attribution (forward + backward): PyTorch's first backward in a process pays for its
    set-up, which the user's first click would otherwise pay."""
    from analysis.attribution import attribute
    from analysis.precision import autocast
    from analysis.predict import routes_by_dataset

    domain = 0 if routes_by_dataset(model) else None  # an oracle router needs a dataset: any will do here
    with autocast(device, precision):
        attribute(model, model.tokenizer, WARM_UP_PROMPT, method="saliency", domain_id=domain)


def load_live_model(folder: str, device: str, precision: str = "fp32"):
    """The checkpoint's `ICLMForCausalLM` in eval mode on `device`, ready for runs in `precision` ("fp32";
    "bf16": Linear weights stored in bf16, to run under bf16 autocast, `analysis.precision`), warmed up."""
    from analysis.precision import store_linear_weights_in_bf16
    from iclm.model import ICLMForCausalLM

    loaded = ICLMForCausalLM.from_pretrained(folder)
    loaded.name_or_path = folder
    loaded.to(device).eval()
    if precision == "bf16":
        store_linear_weights_in_bf16(loaded)
    warm_up(loaded, device, precision)
    return loaded
