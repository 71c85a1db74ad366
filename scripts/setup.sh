#!/usr/bin/env bash
# Create .venv (if needed) and install rexmol with its test extras.
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==${REXMOL_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
