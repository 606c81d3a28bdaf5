"""Training: `run.run_training` (one resumable run from a `config.TrainConfig`), `trainer.ICLMTrainer` (the
transformers Trainer it drives), the typed YAML config, metrics writer, probe-set metrics and safe
checkpoints."""
