#!/usr/bin/env bash
# Train the DiT on the AAA data set in the background, one thread, resumable across sessions:
#   bash scripts/train_aaa.sh [LightningCLI overrides of a new run, e.g. --trainer.max_steps 20000 --model.max_steps 20000]
# Resumes from checkpoints/ala3_dit_aaa/last.ckpt when it exists; the run refuses to resume on
# another data version, config or target (a new run then needs a new checkpoint folder). Commit
# checkpoints/ala3_dit_aaa/ (last.ckpt and the CSV log) before the session ends. Log: runs/train_aaa.log.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=checkpoints/ala3_dit_aaa/last.ckpt
resume=()
if [ -f "$CKPT" ]; then resume=(--ckpt_path "$CKPT"); fi
mkdir -p runs
OMP_NUM_THREADS=1 nohup .venv/bin/rexmol train --config configs/ala3_dit.yaml --config configs/aaa_run.yaml \
  "${resume[@]}" "$@" >>runs/train_aaa.log 2>&1 &
echo "training (pid $!): log runs/train_aaa.log, checkpoints $(dirname "$CKPT")/"
