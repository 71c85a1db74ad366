#!/usr/bin/env bash
# Set up, lint, run the default test suite (slow tests: add `-m slow`, or `-m ""` for all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check rexmol tests benchmarks
.venv/bin/python -m pytest "$@"
