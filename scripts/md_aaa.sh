#!/usr/bin/env bash
# Grow the AAA-target MD data set in the background, resumably: `bash scripts/md_aaa.sh [WORKERS]`.
# Each worker is one process on one core and runs its share of the seed plan below, 5 ns per
# seed, in 0.5 ns chunks; rerunning the script resumes every unfinished seed from its last chunk
# (a cut-off loses at most one chunk per worker). Logs: runs/md-worker<i>.log.
# Plan: seeds 101-104 test (20 ns) at the protocol's own integrator (1 fs, standard masses): every
# metric rests on them, so they come first. Seeds 105 (val) and 106-115 (train, 50 ns) use HMR at
# 2 fs (3 amu, twice the ns per CPU-second) once benchmarks/results/md_integrator_ensemble.json
# says that integrator samples the protocol's ensemble ("matches": true); else the protocol's too.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-1}
TEST=(101 102 103 104)
REST=(105 106 107 108 109 110 111 112 113 114 115)
FAST=(--timestep-fs 2 --hydrogen-mass-amu 3)
VALIDATION=benchmarks/results/md_integrator_ensemble.json
if ! .venv/bin/python - "$VALIDATION" <<'PY'
import json, sys
from pathlib import Path
p = Path(sys.argv[1])
r = json.loads(p.read_text()) if p.exists() else {}
ok = r.get("matches") and any(c["settings"]["timestep_ps"] == 0.002 and c["settings"]["hydrogen_mass_amu"] == 3.0
                              for c in r.get("candidate", {}).values())
sys.exit(0 if ok else 1)
PY
then
  FAST=()
  echo "HMR 2 fs is not validated ($VALIDATION): every seed runs the protocol's 1 fs"
fi
SEEDS=("${TEST[@]}" "${REST[@]}")
mkdir -p runs
for ((w = 0; w < WORKERS; w++)); do
  mine=()
  for ((i = w; i < ${#SEEDS[@]}; i += WORKERS)); do mine+=("${SEEDS[i]}"); done
  (
    for seed in "${mine[@]}"; do
      flags=()
      if [[ " ${REST[*]} " == *" $seed "* ]]; then flags=("${FAST[@]}"); fi
      OMP_NUM_THREADS=1 .venv/bin/rexmol simulate --seeds "$seed" --length-ns 5 --threads 1 \
        --platform "${REXMOL_MD_PLATFORM:-Reference}" "${flags[@]}"
    done
  ) >>"runs/md-worker$w.log" 2>&1 &
  echo "worker $w (pid $!): seeds ${mine[*]}"
done
