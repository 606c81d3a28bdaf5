"""ICLM engine: independent causal language modules on one frozen base model with LoRA adapters.

The public names live in the modules that define them (`iclm.model.ICLMForCausalLM`, `iclm.config.ICLMConfig`,
`iclm.backbone.load_backbone`, ...; docs/api.md). Importing `iclm.model` registers `ICLMConfig` /
`ICLMForCausalLM` with transformers' AutoConfig and AutoModelForCausalLM, so
`AutoModelForCausalLM.from_pretrained(checkpoint)` works afterwards.

This file imports nothing on purpose: Python runs it for every `iclm.*` import, and the light modules (the
JSON readers, the checkpoint-format rules, the data generators) must not pay for torch and transformers
(5.5 s here). When it loaded the model, the studio's first page, which reads only JSON, took 1.5-3 s
longer (bench/compare_revisions.py --app), and `python -m iclm data` needed a special case.
"""
