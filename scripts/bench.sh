#!/usr/bin/env bash
# Runs the benchmarks (release build, its own package under Benchmarks/) and the process
# measurements. Figures go to BENCHMARKS.md by hand, with the machine they ran on.
#   scripts/bench.sh              package-benchmark suite + agent and aggregator processes
#   scripts/bench.sh agent        only the agent process measurement
#   scripts/bench.sh aggregator   only the aggregator process measurement (NODES, PODS)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 Benchmarks/make_inputs.py
case "${1:-}" in
  agent) scripts/measure-agent.sh ;;
  aggregator) scripts/measure-aggregator.sh ;;
  *)
    (cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --no-progress)
    scripts/measure-agent.sh
    scripts/measure-aggregator.sh
    ;;
esac
