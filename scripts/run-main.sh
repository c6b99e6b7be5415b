#!/usr/bin/env bash
# Install EventBench and run the main job: train + benchmark a task on data generated offline.
# Usage: scripts/run-main.sh [TASK] [extra eventbench run options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh plot
task="${1:-yinyang}"; shift || true
.venv/bin/eventbench run "$task" "$@"
