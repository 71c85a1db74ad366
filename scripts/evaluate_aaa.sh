#!/usr/bin/env bash
# The README's AAA results of a trained run, from its checkpoint to numbers paired with the shipped
# model's (two cores, a few hours; every step resumes or refuses, so rerun it after a cut-off):
#   bash scripts/evaluate_aaa.sh CKPT [NAME]
# e.g. CKPT = checkpoints/ala3_dit_aaa_1fs_cycle5/last.ckpt; NAME defaults to the checkpoint folder's
# name without "ala3_dit_" (aaa_1fs_cycle5). The shipped model (the 1 fs line's seventh cycle) was
# evaluated by this script as NAME aaa_1fs_cycle7 (its n = 4000 steps by hand, same commands): its
# headline, NLL and n = 4000 folders are the baselines the pairing below names. Nothing here replaces the
# shipped model: shipping is a copy of the export onto models/ala3_dit.pt (and of the report onto
# models/ala3_dit_report/) once the numbers are in.
# 1. export the run's EMA weights to <ckpt folder>/ala3_dit.pt (byte-deterministic: the same
#    checkpoint gives the same bytes, so an existing export is kept only if it is the checkpoint's;
#    another one is refused unless REXMOL_OVERWRITE=1);
# 2. in parallel, one thread each (three processes on two cores; the report is short):
#    - the headline draw: rexmol sample --n 2000 --seed 0 --chunk 50 (the default sampler:
#      Princeps(midpoint), 16 log-SNR steps, exact Jacobian density), the same noise as the shipped
#      model's headline (benchmarks/results/aaa_1fs_cycle7_headline_n2000), into
#      benchmarks/results/NAME_headline_n2000/ (chunks, results, settings, arrays: x float32 nm,
#      log q, u, log w; plots); if the session ends first, commit its chunks/ and settings.json:
#      a later session resumes from them;
#    - the test NLL on the 1000 test frames of the first cycle's headline NLL
#      (benchmarks/results/aaa_nll/log_q.npz: evenly spaced frames of seeds 101-104, all in the test
#      split now), 16 uniform midpoint steps, exact divergence, into benchmarks/results/NAME_nll/, so
#      it pairs frame by frame with the shipped model's (benchmarks/results/aaa_1fs_cycle7_nll, the
#      same 1000; add first=benchmarks/results/aaa_nll or cycle2=benchmarks/results/ab_cycle2_nll to
#      the printed command to pair it with the HMR models' too);
#      resumable batch by batch (commit the folder's batches/ and settings.json if the session ends
#      first);
#    - the model report (2000 unweighted draws) into <ckpt folder>/report/.
# 3. the run's own bond shift (rexmol fit-bond-shift: 20,000 draws of prior seed 1 without log q,
#    about 7 minutes) beside its export, <ckpt folder>/ala3_dit_bond_shift.json, then the headline's
#    draws moved by it (rexmol sample --reuse-chunks: the same flow draws, judged again) into
#    benchmarks/results/NAME_shifted_headline_n2000/: the default sampler applies a model's shift, so
#    this is the n = 2000 pairing (against aaa_1fs_cycle7_shifted_headline_n2000);
# 4. the same noise extended to n = 4000 (rexmol sample --n 4000 --reuse-chunks: only the 2000 new
#    draws are drawn, about 45 minutes) into benchmarks/results/NAME_headline_n4000/, and those
#    draws moved by the run's shift into NAME_shifted_headline_n4000/: the pairing the ship rule reads
#    (README, "The ship rule": against aaa_1fs_cycle7_shifted_headline_n4000, the ESS of
#    Pareto-smoothed weights), because at n = 2000 one draw can move the Kish ESS 4x. Those 2000 new
#    draws can be drawn on the spare core beside step 2, once its headline folder exists (they leave chunks 0-39 to the
#    headline): rexmol sample --model <ckpt folder>/ala3_dit.pt --n 4000 --chunk 50 --seed 0 --threads 1
#    --bond-shift none --reuse-chunks benchmarks/results/NAME_headline_n2000 --draw-only-from-end
#    --out benchmarks/results/NAME_headline_n4000;
# 5. prints the paired comparisons (benchmarks/training_ab.py) against the shipped model.
# A step whose output is complete is skipped on a rerun (results.json and likelihood.json are
# written last, so a folder that has one is whole).
# REXMOL_OVERWRITE=1 redoes every step from scratch: it deletes the committed chunks and batches of
# this NAME under benchmarks/results/ (git has them), so unset it before resuming.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?"usage: bash scripts/evaluate_aaa.sh CKPT [NAME] (a trained run's last.ckpt)"}
DIR=$(dirname "$CKPT")
NAME=${2:-$(basename "$DIR" | sed 's/^ala3_dit_//')}
MANIFEST=${REXMOL_MANIFEST:-data/ala3/dataset.json}  # its test split judges the draws (its target is checked)
NLL_FRAMES=benchmarks/results/aaa_nll/log_q.npz
[ -f "$CKPT" ] || { echo "no checkpoint $CKPT" >&2; exit 1; }
[ -f "$NLL_FRAMES" ] || { echo "no $NLL_FRAMES (the paired NLL's frames)" >&2; exit 1; }
# the run's CSV log: the latest CSVLogger version beside the checkpoint (a resumed run adds one)
CSV=$(ls -d "$DIR"/csv/version_*/metrics.csv 2>/dev/null | sort -V | tail -1)
ow=(); [ "${REXMOL_OVERWRITE:-0}" = 1 ] && ow=(--overwrite)
export OMP_NUM_THREADS=1
HEAD=benchmarks/results/${NAME}_headline_n2000
SHIFTED=benchmarks/results/${NAME}_shifted_headline_n2000
HEAD4=benchmarks/results/${NAME}_headline_n4000
SHIFTED4=benchmarks/results/${NAME}_shifted_headline_n4000
pairing() {
  echo "paired with the shipped model (same noise, same frames; differences read $NAME minus shipped:"
  echo "a negative NLL difference, an ESS ratio above 1 and a positive median log w difference favour $NAME):"
  echo "  python benchmarks/training_ab.py --nll shipped=benchmarks/results/aaa_1fs_cycle7_nll" \
    "$NAME=benchmarks/results/${NAME}_nll" \
    "--samples shipped=benchmarks/results/aaa_1fs_cycle7_headline_n2000 $NAME=$HEAD --json-name training_ab_$NAME"
  echo "each with its own bond shift (the default sampler), n = 2000:"
  echo "  python benchmarks/training_ab.py --samples shipped=benchmarks/results/aaa_1fs_cycle7_shifted_headline_n2000" \
    "$NAME=$SHIFTED --json-name training_ab_${NAME}_shifted"
  echo "at n = 4000, each with its own bond shift (the ship rule's pairing: README, \"The ship rule\"):"
  echo "  python benchmarks/training_ab.py --samples shipped=benchmarks/results/aaa_1fs_cycle7_shifted_headline_n4000" \
    "$NAME=$SHIFTED4 --json-name training_ab_${NAME}_shifted_n4000"
  echo "and at n = 4000 without the shifts:"
  echo "  python benchmarks/training_ab.py --samples shipped=benchmarks/results/aaa_1fs_cycle7_headline_n4000" \
    "$NAME=$HEAD4 --json-name training_ab_${NAME}_n4000"
}
NLL=benchmarks/results/${NAME}_nll
case $NAME in  # their folders are committed pairings' baselines: never redo them here
  aaa_1fs_cycle7) what="the shipped model's run"; report=models/ala3_dit_report/ ;;
  aaa_1fs_cycle4) what="the previously shipped model's run"; report=checkpoints/ala3_dit_aaa_1fs_cycle4/report/ ;;
  aaa_1fs_cycle3|aaa_1fs_cycle2) what="an earlier shipped model's run"; report=checkpoints/ala3_dit_$NAME/report/ ;;
  *) what= ;;
esac
if [ -n "$what" ]; then
  echo "$CKPT is $what: its numbers are committed (benchmarks/results/${NAME}_headline_n2000/, ${NAME}_nll/" \
    "and, where it was judged at n = 4000, ${NAME}_shifted_headline_n2000/, ${NAME}_headline_n4000/ and" \
    "${NAME}_shifted_headline_n4000/; $report; README, \"Results on the AAA target\")" >&2; exit 1
fi
if [ -e "$HEAD/results.json" ] && [ -e "$NLL/likelihood.json" ] && [ -e "$DIR/report/report.json" ] \
    && [ -e "$SHIFTED/results.json" ] && [ -e "$HEAD4/results.json" ] && [ -e "$SHIFTED4/results.json" ] \
    && [ ${#ow[@]} -eq 0 ]; then
  echo "$HEAD/, $SHIFTED/, $HEAD4/, $SHIFTED4/, $NLL/ and $DIR/report/ are complete (REXMOL_OVERWRITE=1 redoes them)"
  pairing; exit 0
fi
MODEL=$DIR/ala3_dit.pt
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
.venv/bin/rexmol export --ckpt "$CKPT" --out "$fresh/ala3_dit.pt" >/dev/null
if cmp -s "$fresh/ala3_dit.pt" models/ala3_dit.pt; then
  echo "$CKPT exports the shipped model (models/ala3_dit.pt): nothing to pair it with" >&2; exit 1
fi
if [ ! -e "$MODEL" ] || [ ${#ow[@]} -gt 0 ]; then
  mv "$fresh/ala3_dit.pt" "$MODEL"
elif ! cmp -s "$fresh/ala3_dit.pt" "$MODEL"; then
  echo "$MODEL is not the export of $CKPT (the checkpoint moved on?); set REXMOL_OVERWRITE=1 to replace it" >&2; exit 1
fi
mkdir -p runs
# rexmol sample on the headline's noise (seed 0, chunks of 50, the default solver) into OUT, unless
# OUT is complete; log runs/<OUT's name>.log:
#   draw OUT N SHIFT [REUSE]   SHIFT: a bond-shift file or none; REUSE: a folder whose chunks are OUT's first
draw() {
  local out=$1 n=$2 shift_file=$3 reuse=${4:-} log
  log=runs/$(basename "$out").log
  if [ -e "$out/results.json" ] && [ ${#ow[@]} -eq 0 ]; then echo "$out/ is complete: kept"; return 0; fi
  .venv/bin/rexmol sample --model "$MODEL" --n "$n" --chunk 50 --seed 0 --threads 1 --manifest "$MANIFEST" \
    --bond-shift "$shift_file" ${reuse:+--reuse-chunks "$reuse"} --out "$out" "${ow[@]}" >"$log" 2>&1 \
    || { echo "rexmol sample into $out failed: see $log" >&2; return 1; }
}
draw "$HEAD" 2000 none &
sample=$!
nll=
if [ -e "$NLL/likelihood.json" ] && [ ${#ow[@]} -eq 0 ]; then
  echo "$NLL/ exists: kept"
else
  .venv/bin/rexmol likelihood --model "$MODEL" --frames "$NLL_FRAMES" --n-frames 1000 --solver princeps \
    --tableau midpoint --steps 16 --threads 1 --out "$NLL" "${ow[@]}" \
    >"runs/${NAME}_nll.log" 2>&1 &
  nll=$!
fi
report=
if [ -e "$DIR/report/report.json" ] && [ ${#ow[@]} -eq 0 ]; then
  echo "$DIR/report/ exists: kept"
else
  .venv/bin/rexmol model-report --model "$MODEL" --manifest "$MANIFEST" --out "$DIR/report" --n 2000 \
    ${CSV:+--training-csv "$CSV"} "${ow[@]}" >"runs/${NAME}_report.log" 2>&1 &
  report=$!
fi
# wait for all three (a failing one does not stop the others, so nothing is left running on exit)
failed=()
wait "$sample" || failed+=("rexmol sample: see runs/${NAME}_headline_n2000.log")
[ -z "$nll" ] || wait "$nll" || failed+=("rexmol likelihood: see runs/${NAME}_nll.log")
[ -z "$report" ] || wait "$report" || failed+=("rexmol model-report: see runs/${NAME}_report.log")
if [ ${#failed[@]} -gt 0 ]; then printf 'failed: %s\n' "${failed[@]}" >&2; exit 1; fi
SHIFT=$DIR/ala3_dit_bond_shift.json
if [ -e "$SHIFT" ] && [ ${#ow[@]} -eq 0 ]; then
  echo "$SHIFT exists: kept"
else
  .venv/bin/rexmol fit-bond-shift --model "$MODEL" --manifest "$MANIFEST" --threads 1 --out "$SHIFT" "${ow[@]}" \
    >"runs/${NAME}_bond_shift.log" 2>&1 || { echo "rexmol fit-bond-shift failed: see runs/${NAME}_bond_shift.log" >&2; exit 1; }
fi
draw "$SHIFTED" 2000 "$SHIFT" "$HEAD" || exit 1
draw "$HEAD4" 4000 none "$HEAD" || exit 1
draw "$SHIFTED4" 4000 "$SHIFT" "$HEAD4" || exit 1
echo "done: $HEAD/, $SHIFTED/, $HEAD4/, $SHIFTED4/, $NLL/, $DIR/report/"
pairing
