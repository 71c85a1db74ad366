#!/usr/bin/env bash
# Grow the AAA-target MD data set in the background, resumably: `bash scripts/md_aaa.sh [WORKERS]`.
# Each worker is one process on one core and runs its share of the seed plan below, 5 ns per
# seed, in 0.5 ns chunks; rerunning the script resumes every unfinished seed from its last chunk
# (a cut-off loses at most one chunk per worker). Logs: runs/md-worker<i>.log.
# Plan: seeds 101-104 test (20 ns), 105 val, 106-115 train (50 ns); test seeds first, because
# every metric rests on them.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-1}
SEEDS=(101 102 103 104 105 106 107 108 109 110 111 112 113 114 115)
mkdir -p runs
for ((w = 0; w < WORKERS; w++)); do
  mine=()
  for ((i = w; i < ${#SEEDS[@]}; i += WORKERS)); do mine+=("${SEEDS[i]}"); done
  OMP_NUM_THREADS=1 nohup .venv/bin/rexmol simulate --seeds "${mine[@]}" --length-ns 5 --threads 1 \
    --platform "${REXMOL_MD_PLATFORM:-CPU}" >>"runs/md-worker$w.log" 2>&1 &
  echo "worker $w (pid $!): seeds ${mine[*]}"
done
