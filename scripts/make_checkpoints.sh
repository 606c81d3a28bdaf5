#!/usr/bin/env bash
# Reproduce the shipped checkpoints: data mix -> train -> ship (bf16) -> evaluate -> analyze, per model.
#   scripts/make_checkpoints.sh                 # all three: iclm-k2 no-invariant-k2 baseline
#   scripts/make_checkpoints.sh baseline        # just one
# Each step is resumable: training continues from its last checkpoint, analyze reuses a matching artifact.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EVAL_LIMIT=${EVAL_LIMIT:-8}        # examples per test dataset (16 datasets: ACRE/RAVEN x text/symbolic x splits)
MAX_LENGTH=${MAX_LENGTH:-1400}     # o.o.d. RAVEN text prompts reach ~1260 SmolLM2 tokens: never truncate them
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(iclm-k2 no-invariant-k2 baseline)

stamp() { date -u +%H:%M:%S; }
[ -f data/mix-cpu/manifest.json ] || $PY -m iclm data mix configs/data-mix-cpu.yaml -o data/mix-cpu
for name in "${NAMES[@]}"; do
  echo "[$(stamp)] train $name"
  $PY -m iclm train "configs/ship/$name.yaml"
  echo "[$(stamp)] ship $name"
  $PY scripts/ship_checkpoint.py "runs/ship/$name" "checkpoints/$name"
  echo "[$(stamp)] evaluate $name"
  $PY -m iclm evaluate "checkpoints/$name" --data data/mix-cpu --limit "$EVAL_LIMIT" --max-length "$MAX_LENGTH"
  echo "[$(stamp)] analyze $name"
  $PY -m analysis analyze "checkpoints/$name" --data data/mix-cpu --limit "$EVAL_LIMIT" --max-length "$MAX_LENGTH" \
    --no-progress
  echo "[$(stamp)] done $name"
done
