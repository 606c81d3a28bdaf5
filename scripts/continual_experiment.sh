#!/usr/bin/env bash
# Continual learning on the shipped models (docs/results.md, "Continual learning"): a new task, PVR, learned by
#   iclm-k2-pvr             checkpoints/iclm-k2 grown by one domain (invariant frozen, old domains frozen)
#   iclm-k2-pvr-sequential  checkpoints/iclm-k2 fine-tuned as it is (nothing frozen)
#   baseline-pvr-sequential checkpoints/baseline fine-tuned as it is (the single LoRA's only way)
# each trained STEPS steps on the same PVR lines, shipped (bf16), evaluated on the 12 old test sets and the
# new one (the first EVAL_LIMIT lines of each: the parents' eval/ holds the same examples, so before/after
# pairs by id; the parent is scored on the new task's lines into checkpoints/<run>/eval-parent) and
# analysed for the studio's Continual learning page.
#   scripts/continual_experiment.sh                     # all three
#   scripts/continual_experiment.sh baseline-pvr-sequential
#   THREADS=1 STEPS=100 EVAL_LIMIT=50 scripts/continual_experiment.sh iclm-k2-pvr
#   STAGES=train scripts/continual_experiment.sh; STAGES="evaluate analyze" scripts/continual_experiment.sh
# Each step is resumable: training continues from its newest checkpoint, evaluation from its journal
# (experiment-state/<run>/eval-journal.jsonl: commit it to carry an unfinished evaluation), analyze reuses a
# matching artifact.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-2}
STEPS=${STEPS:-200}             # PVR lines are short (~100 tokens): a few seconds a step
EVAL_LIMIT=${EVAL_LIMIT:-100}   # lines per test set (13 sets)
ANALYZE_LIMIT=${ANALYZE_LIMIT:-32}
MAX_LENGTH=${MAX_LENGTH:-1400}  # o.o.d. RAVEN text prompts reach ~1,115 tokens: never cut them
STAGES=${STAGES:-"train evaluate analyze"}  # e.g. STAGES=train for every run first, evaluations later
DATA=data/continual
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(iclm-k2-pvr iclm-k2-pvr-sequential baseline-pvr-sequential)
export OMP_NUM_THREADS=$THREADS

stamp() { date -u +%H:%M:%S; }
[ -f data/experiment/manifest.json ] || $PY -m iclm data mix configs/experiment/data-mix.yaml -o data/experiment
mkdir -p "$DATA"
# PVR (LAR's pointer-value retrieval, complexity 0): 1,000 training lines, 300 i.i.d. test lines, another seed
[ -f "$DATA/pvr-symbolic-iid-train.jsonl" ] || $PY -m iclm data make --task pvr --render symbolic \
  --split iid --part train --n 1000 --seed 0 -o "$DATA/pvr-symbolic-iid-train.jsonl"
[ -f "$DATA/pvr-symbolic-iid-test.jsonl" ] || $PY -m iclm data make --task pvr --render symbolic \
  --split iid --part test --n 300 --seed 1 -o "$DATA/pvr-symbolic-iid-test.jsonl"
NEW_TRAIN="$DATA/pvr-symbolic-iid-train.jsonl"
NEW_TEST="$DATA/pvr-symbolic-iid-test.jsonl"
# the probe follows how each old i.i.d. dataset and the new one are routed over the extension's training
PROBE=(data/experiment/acre-text-iid-test.jsonl data/experiment/acre-symbolic-iid-test.jsonl
       data/experiment/raven-text-center_single-test.jsonl data/experiment/raven-symbolic-center_single-test.jsonl
       "$NEW_TEST")

for name in "${NAMES[@]}"; do
  case "$name" in
    iclm-k2-pvr) parent=checkpoints/iclm-k2; how=() ;;
    iclm-k2-pvr-sequential) parent=checkpoints/iclm-k2; how=(--sequential) ;;
    baseline-pvr-sequential) parent=checkpoints/baseline; how=(--sequential) ;;
    *) echo "error: unknown run $name (iclm-k2-pvr, iclm-k2-pvr-sequential, baseline-pvr-sequential)" >&2; exit 2 ;;
  esac
  if [[ " $STAGES " == *" train "* ]]; then
    echo "[$(stamp)] train $name from $parent (${how[*]:-grown by one domain}), $STEPS steps"
    $PY -m iclm extend "$parent" "${how[@]}" --data "$NEW_TRAIN" -o "runs/continual/$name" \
      --max-steps "$STEPS" --probe "${PROBE[@]}" --probe-every 50 --save-every 50
    if [ -f "checkpoints/$name/config.json" ]; then  # shipping replaces the folder: eval/ and analysis/ too
      echo "[$(stamp)] checkpoints/$name is shipped already (remove it to ship again)"
    else
      echo "[$(stamp)] ship $name"
      $PY scripts/ship_checkpoint.py "runs/continual/$name" "checkpoints/$name" --step "$STEPS"
    fi
  fi
  if [[ " $STAGES " == *" evaluate "* ]]; then
    echo "[$(stamp)] evaluate $name"
    mkdir -p "experiment-state/$name"
    $PY -m iclm evaluate "checkpoints/$name" --data data/experiment "$NEW_TEST" --limit "$EVAL_LIMIT" \
      --max-length "$MAX_LENGTH" --threads "$THREADS" --journal "experiment-state/$name/eval-journal.jsonl"
    # the parent's eval/ predates the new task: its "before" on the new test lines is scored here, with
    # the same settings, and kept with the extension (the Continual learning page reads eval-parent/)
    echo "[$(stamp)] evaluate $parent on the new task"
    $PY -m iclm evaluate "$parent" --data "$NEW_TEST" --limit "$EVAL_LIMIT" --max-length "$MAX_LENGTH" \
      --threads "$THREADS" --out "checkpoints/$name/eval-parent" --name "$(basename "$parent")"
  fi
  if [[ " $STAGES " == *" analyze "* ]]; then
    echo "[$(stamp)] analyze $name"
    $PY -m analysis analyze "checkpoints/$name" --data data/experiment "$NEW_TEST" --limit "$ANALYZE_LIMIT" \
      --max-length "$MAX_LENGTH" --no-progress
  fi
  echo "[$(stamp)] done $name"
done
