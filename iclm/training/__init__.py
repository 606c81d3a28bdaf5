"""Training support for `iclm.train`: typed YAML config, metrics writer, dynamics metrics, callbacks."""
