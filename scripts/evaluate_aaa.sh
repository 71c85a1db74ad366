#!/usr/bin/env bash
# The README's AAA results of a trained run, from its checkpoint to numbers (two cores, a few hours):
#   bash scripts/evaluate_aaa.sh [CKPT]     (default: the shipped second cycle's last.ckpt)
# 1. export the run's EMA weights to models/ala3_dit.pt (refuses to overwrite unless REXMOL_OVERWRITE=1);
# 2. in parallel, one thread each (three processes on two cores; the report is short):
#    - the headline draw: rexmol sample --n 2000 (the default sampler: Princeps(midpoint), 16 log-SNR steps,
#      exact Jacobian density) into runs/aaa_headline_n2000, its results, settings, arrays (x float32 nm,
#      log q, u, log w) and plots copied to benchmarks/results/aaa_headline_n2000/;
#    - the test NLL: rexmol likelihood on 1000 evenly spaced test frames, 16 uniform
#      midpoint steps, exact divergence, into benchmarks/results/aaa_nll_shipped/ (the first cycle's is
#      benchmarks/results/aaa_nll/);
#    - the model report (2000 unweighted draws) into models/ala3_dit_report/.
# The export is byte-deterministic (the same checkpoint gives the same SHA-256). The shipped file predates
# that (its archive was named after a temporary file holding the PID): re-exporting cycle 2 gives equal
# weights under a SHA-256 other than 1f06c9d9..., which runs recorded against the old bytes would refuse.
# Every step writes atomically and refuses to replace results unless asked (REXMOL_OVERWRITE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:-checkpoints/ala3_dit_aaa_cycle2/last.ckpt}
MANIFEST=${REXMOL_MANIFEST:-data/ala3/dataset.json}  # the data the model was trained on (its target is checked)
# the run's CSV log: the latest CSVLogger version beside the checkpoint (a resumed run adds one)
CSV=$(ls -d "$(dirname "$CKPT")"/csv/version_*/metrics.csv 2>/dev/null | sort -V | tail -1)
ow=(); [ "${REXMOL_OVERWRITE:-0}" = 1 ] && ow=(--overwrite)
export OMP_NUM_THREADS=1
if [ -e benchmarks/results/aaa_headline_n2000/results.json ] && [ ${#ow[@]} -eq 0 ]; then
  echo "benchmarks/results/aaa_headline_n2000/ holds results; set REXMOL_OVERWRITE=1 to replace them" >&2; exit 1
fi
mkdir -p runs
.venv/bin/rexmol export --ckpt "$CKPT" --out models/ala3_dit.pt "${ow[@]}"
.venv/bin/rexmol sample --n 2000 --chunk 50 --threads 1 --manifest "$MANIFEST" --out runs/aaa_headline_n2000 "${ow[@]}" \
  >runs/aaa_headline_n2000.log 2>&1 &
sample=$!
.venv/bin/rexmol likelihood --frames test --n-frames 1000 --solver princeps --tableau midpoint --steps 16 \
  --threads 1 --manifest "$MANIFEST" --out benchmarks/results/aaa_nll_shipped "${ow[@]}" >runs/aaa_nll.log 2>&1 &
nll=$!
.venv/bin/rexmol model-report --model models/ala3_dit.pt --manifest "$MANIFEST" --out models/ala3_dit_report --n 2000 \
  ${CSV:+--training-csv "$CSV"} "${ow[@]}" >runs/aaa_report.log 2>&1 &
report=$!
wait "$sample" || { echo "rexmol sample failed: see runs/aaa_headline_n2000.log" >&2; exit 1; }
wait "$nll" || { echo "rexmol likelihood failed: see runs/aaa_nll.log" >&2; exit 1; }
wait "$report" || { echo "rexmol model-report failed: see runs/aaa_report.log" >&2; exit 1; }
mkdir -p benchmarks/results/aaa_headline_n2000
for f in results.json settings.json arrays.npz ramachandran.png energies.png weights.png; do
  cp runs/aaa_headline_n2000/$f benchmarks/results/aaa_headline_n2000/$f
done
echo "done: benchmarks/results/aaa_headline_n2000/, benchmarks/results/aaa_nll_shipped/, models/ala3_dit_report/"
