#!/usr/bin/env bash
# Sets up what is missing, builds, and runs `clustermon dev` (agent + aggregator in one
# process on this machine; no NATS or cluster needed). Extra arguments go to `clustermon dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --product clustermon
exec "$(swift build --show-bin-path)/clustermon" dev "$@"
