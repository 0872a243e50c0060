#!/usr/bin/env bash
# Runs the benchmarks (release build, its own package under Benchmarks/) and the agent's
# process measurements. Figures go to BENCHMARKS.md by hand, with the machine they ran on.
#   scripts/bench.sh            package-benchmark suite + agent process (RSS, CPU per cycle)
#   scripts/bench.sh agent      only the agent process measurement
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 Benchmarks/make_inputs.py
if [ "${1:-}" != "agent" ]; then
  (cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --no-progress)
fi
scripts/measure-agent.sh
