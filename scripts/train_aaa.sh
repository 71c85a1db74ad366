#!/usr/bin/env bash
# Train the DiT on the AAA data set in the background, one thread (REXMOL_TRAIN_THREADS=N for more),
# resumable across sessions:
#   bash scripts/train_aaa.sh [OVERLAY.yaml] [LightningCLI overrides of a new run]
# The run is configs/ala3_dit.yaml + configs/aaa_run.yaml (+ OVERLAY, e.g. configs/aaa_harmonic.yaml
# for an A/B of one lever). It resumes from last.ckpt in the run's checkpoint folder (the last
# ModelCheckpoint dirpath in those files) when it exists; the run refuses to resume on another data
# version, config or target (a new run then needs a new checkpoint folder). Commit that folder
# (last.ckpt and the CSV log) before the session ends. Log: runs/<folder name>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
configs=(configs/ala3_dit.yaml configs/aaa_run.yaml)
if [[ ${1:-} == *.yaml ]]; then configs+=("$1"); shift; fi
ckpt_dir=$(grep -hE "^[[:space:]]*dirpath:" "${configs[@]}" | tail -1 | awk '{print $2}')
CKPT=$ckpt_dir/last.ckpt
args=()
for c in "${configs[@]}"; do args+=(--config "$c"); done
if [ -f "$CKPT" ]; then args+=(--ckpt_path "$CKPT"); fi
mkdir -p runs
log=runs/$(basename "$ckpt_dir").log
OMP_NUM_THREADS=${REXMOL_TRAIN_THREADS:-1} nohup .venv/bin/rexmol train "${args[@]}" "$@" >>"$log" 2>&1 &
echo "training (pid $!): log $log, checkpoints $ckpt_dir/"
