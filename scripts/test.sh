#!/usr/bin/env bash
# Install EventBench with its dev tools and the official peers used by parity tests, then lint,
# type-check and run the default test tier. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh dev
# Parity tests compare against the official packages (never dependencies of eventbench itself).
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-peers.txt
# neurobench declares torchaudio, which would replace torch: it is installed without its deps
# (requirements-peers.txt lists what it imports).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-peers-nodeps.txt
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
