#!/usr/bin/env bash
# Grow the AAA-target MD data set in the background, resumably: `bash scripts/md_aaa.sh [WORKERS]`.
# Each worker is one process on one core and runs its share of the seed plan below, 5 ns per
# seed, in 0.5 ns chunks; rerunning the script resumes every unfinished seed from its last chunk
# (a cut-off loses at most one chunk per worker), and a seed another process is running is skipped
# (each run holds a lock). Logs: runs/md-worker<i>.log; stop a worker with `kill -- -PGID` (it runs
# in its own session, so it survives the shell that started it).
# Plan: seeds 101-104 at the protocol's own integrator (1 fs, standard masses), then 105 and 106-115,
# which started with HMR at 2 fs (3 amu, twice the ns per CPU-second) under `--fast-if-validated`
# while benchmarks/results/md_integrator_ensemble.json admitted it; it has rejected HMR since (residue
# 2's alpha_R population), so that flag now runs 1 fs, and a started seed always resumes with the
# integrator it was started with. Then 116-123 at 1 fs: with 101-104 they are the test set (60 ns;
# README, "The AAA noise floor"). Then 124-135 at 1 fs, the next val (124) and train (125-135) splits
# that replace the HMR runs (README, "The shipped dataset", has the manifest command); 132-135 run as
# one job, four copies side by side in one System (`rexmol simulate --replicas 4`: each copy exactly a
# lone run, about 1.6x the ns per CPU-second measured in production; README, "Several trajectories in one System").
# A job is a seed or a comma-separated group of seeds run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-1}
[ -x .venv/bin/rexmol ] || { echo "no .venv: run bash scripts/setup.sh first" >&2; exit 1; }
TEST=(101 102 103 104)
TEST_MORE=(116 117 118 119 120 121 122 123)  # more 1 fs test runs (see above)
REST=(105 106 107 108 109 110 111 112 113 114 115)
TRAIN_1FS=(124 125 126 127 128 129 130 131 132,133,134,135)  # a 1 fs training split (see above)
SEEDS=("${TEST[@]}" "${REST[@]}" "${TEST_MORE[@]}" "${TRAIN_1FS[@]}")
PLATFORM=${REXMOL_MD_PLATFORM:-CPU}
mkdir -p runs
for ((w = 0; w < WORKERS; w++)); do
  script="set -u"
  for ((i = w; i < ${#SEEDS[@]}; i += WORKERS)); do
    seed=${SEEDS[i]}
    flags=""
    if [[ " ${REST[*]} " == *" $seed "* ]]; then flags="--fast-if-validated"; fi
    if [[ $seed == *,* ]]; then flags="--replicas $(tr ',' '\n' <<<"$seed" | wc -l)"; fi
    script+="; OMP_NUM_THREADS=1 .venv/bin/rexmol simulate --seeds ${seed//,/ } --length-ns 5 --threads 1"
    script+=" --platform $PLATFORM $flags || echo 'seed(s) $seed failed: see above'"
  done
  setsid nohup bash -c "$script" >>"runs/md-worker$w.log" 2>&1 < /dev/null &
  echo "worker $w (pid $!, its own process group): seeds $(for ((i = w; i < ${#SEEDS[@]}; i += WORKERS)); do printf '%s ' "${SEEDS[i]}"; done)"
done
