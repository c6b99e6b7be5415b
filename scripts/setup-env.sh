#!/usr/bin/env bash
# Create .venv and install EventBench with the given extras.
# torch==2.13.0 is installed first: on Linux/x86_64 PyPI serves the CUDA build (GPU users get it),
# and where a local CPU wheel of that version is configured pip takes it, which keeps installs fast.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-plot}"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==${EVENTBENCH_TORCH:-2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
