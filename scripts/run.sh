#!/usr/bin/env bash
# Set up, then run the main job on the shipped defaults: reweighted tri-alanine conformers from the
# shipped checkpoint (Princeps(midpoint), 16 log-SNR steps, exact Jacobian density; --adaptive for adaptive
# Rex(dopri5)), scored by OpenMM and judged against MD. Each run writes a new
# folder outputs/sample-<time>/; extra arguments go to `rexmol sample` (e.g. --n 256, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rexmol sample "$@"
