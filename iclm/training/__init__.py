"""Training support for `iclm.train`: typed YAML config, metrics writer, probe-set metrics, callbacks."""
