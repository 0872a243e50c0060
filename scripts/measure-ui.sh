#!/usr/bin/env bash
# The web UI's figures in a real headless Chromium against `clustermon dev --simulate NODES`
# (default 1,000 nodes of 10 pods: 10,000 pods), release build, on loopback.
# HEAP_SECONDS: how long the JS heap is watched while the pods page streams (default 180).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${NODES:-1000}"; pods="${PODS:-10}"
scripts/setup.sh --tests >/dev/null
(cd Benchmarks && swift build -c release --product clustermon >/dev/null)
bin="$(cd Benchmarks && swift build -c release --product clustermon --show-bin-path)/clustermon"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JWT_SECRET="measure-ui-$(date +%s%N)"
"$bin" dev --addr "127.0.0.1:$port" --simulate "$nodes" --simulate-pods "$pods" --data-dir "$work" --log-level warning & server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
sleep 25   # two agent intervals: every node reported, live views built
admin=$("$bin" token --user-id root --admin --ttl 1h)
.build-venv/bin/python scripts/measure-ui.py "http://127.0.0.1:$port" "$admin" "${HEAP_SECONDS:-180}"
