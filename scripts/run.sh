#!/usr/bin/env bash
# Set up and run the main job on the shipped defaults (outputs/ gets a new folder each run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rexmol demo "$@"
