#!/usr/bin/env bash
# Install EventBench and run the main job: train + benchmark a task on data generated offline.
# Usage: scripts/run-main.sh [TASK] [extra eventbench run options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh plot
task="${1:-yinyang}"; shift || true
# idle OpenMP threads of torch sleep instead of spinning: a spinning thread takes a core from
# EventProp's kernel threads (about 15 % of a training step on 2 cores, docs/speed.md)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
.venv/bin/eventbench run "$task" "$@"
