#!/usr/bin/env bash
# The aggregator as a process, release build, on loopback: a real nats-server, a fake API
# server holding the simulated cluster's nodes, namespaces and pods (scripts/fake-apiserver.py),
# `clustermon simulate` publishing NODES nodes of PODS
# pods every 10 s, and the aggregator with its history in a temporary directory. Prints the
# aggregator's CPU (share of one core) and resident memory, then /pod-metrics and history
# latency under concurrent load (scripts/load.py), then the dependency graph's. CHURN=n: the
# API server modifies n pods a second (watch events), as status updates in a busy cluster.
# CLUSTERMON_BIN=path: measure that binary instead of building the working tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${NODES:-1000}"; pods="${PODS:-110}"; warmup="${WARMUP:-40}"; window="${WINDOW:-60}"; connections="${CONNECTIONS:-16}"
if [ -n "${CLUSTERMON_BIN:-}" ]; then
  bin="$CLUSTERMON_BIN"
else
  (cd Benchmarks && swift build -c release --product clustermon >/dev/null)
  bin="$(cd Benchmarks && swift build -c release --product clustermon --show-bin-path)/clustermon"
fi

work="$(mktemp -d)"
pids=()
# Stops every process and waits for it (the aggregator seals its history on SIGTERM) before
# the data directory goes.
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(free_port); nport=$(free_port); hport=$(free_port)
python3 scripts/fake-apiserver.py "$aport" "$nodes" "$pods" & pids+=($!)
nats-server -a 127.0.0.1 -p "$nport" -js -sd "$work/js" >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/"$nport") 2>/dev/null && (echo > /dev/tcp/127.0.0.1/"$aport") 2>/dev/null && break; sleep 0.1; done

export JWT_SECRET="measure-secret-$(date +%s%N)"
# For the aggregator only: AGGREGATOR_MALLOC_ARENA_MAX, glibc's arena count;
# AGGREGATOR_MALLOC_MMAP_THRESHOLD, glibc's mmap threshold (fixed: large blocks go back to the
# system when freed); AGGREGATOR_PRELOAD, a library preloaded into it (another allocator:
# /usr/lib/x86_64-linux-gnu/libjemalloc.so.2). Experiments.
env ${AGGREGATOR_MALLOC_ARENA_MAX:+MALLOC_ARENA_MAX=$AGGREGATOR_MALLOC_ARENA_MAX} \
  ${AGGREGATOR_MALLOC_MMAP_THRESHOLD:+MALLOC_MMAP_THRESHOLD_=$AGGREGATOR_MALLOC_MMAP_THRESHOLD} ${AGGREGATOR_PRELOAD:+LD_PRELOAD=$AGGREGATOR_PRELOAD} "$bin" aggregator -addr "127.0.0.1:$hport" -api-server "http://127.0.0.1:$aport" -nats "nats://127.0.0.1:$nport" \
  --data-dir "$work/data" --log-level warning & aggregator=$!
pids+=($aggregator)
# Ready once every informer has listed (110,000 pods take a while).
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break; sleep 1; done
curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null || { echo "aggregator not ready"; exit 1; }
base_rss=$(awk '/VmRSS/ {print $2}' "/proc/$aggregator/status")
ready_at=$(date +%s)
since_ready() { echo "($(( $(date +%s) - ready_at )) s after the informers synced)"; }
"$bin" simulate --nodes "$nodes" --pods "$pods" --interval 10s -nats "nats://127.0.0.1:$nport" --log-level warning & pids+=($!)
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$aggregator/stat"; }
sleep "$warmup"
start_cpu=$(cpu)
# The resident set once a second over the window: it moves by ~100 MiB within a refresh
# (two live views while the new one is built), so one reading at the end is a lottery.
( while kill -0 "$aggregator" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$aggregator/status"; sleep 1; done ) > "$work/rss" 2>/dev/null & sampler=$!
# PROFILE=file: a perf profile (call graphs) of the aggregator over the window, written to file.
if [[ -n "${PROFILE:-}" ]]; then
  perf record -q -g -p "$aggregator" -o "$PROFILE" -- sleep "$window" >/dev/null 2>&1
else
  sleep "$window"
fi
end_cpu=$(cpu)
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
rss=$(awk '/VmRSS/ {print $2}' "/proc/$aggregator/status")
python3 -c "print('aggregator cpu: %.1f%% of one core over %ds (%d nodes x %d pods every 10 s, refresh 5 s, history on)' % (($end_cpu - $start_cpu) * 100 / $window, $window, $nodes, $pods))"
python3 -c "print('aggregator rss: %d MiB (%d MiB with the informers synced, before any batch; %.0f KiB per node for state, views and history caches; %.0f KiB per node in all)' % ($rss / 1024, $base_rss / 1024, ($rss - $base_rss) / $nodes, $rss / $nodes))"
python3 - "$work/rss" <<'PY'
import sys
kib = [int(line) for line in open(sys.argv[1]) if line.strip().isdigit()]
if kib:
    print('aggregator rss over the window: mean %d MiB, min %d, max %d (%d readings, one a second)' % (sum(kib) / len(kib) / 1024, min(kib) / 1024, max(kib) / 1024, len(kib)))
PY
metrics="$(curl -s "http://127.0.0.1:$hport/metrics")"
figure() { awk -v name="$1" '$1 == name {print $2}' <<<"$metrics"; }
echo "live pods: $(figure clustermon_live_pods), history samples appended: $(figure clustermon_history_samples_appended_total)"
echo "history: $(figure clustermon_history_head_series) series in the head ($(figure clustermon_history_head_bytes) bytes), $(figure clustermon_history_seals_total) seals, $(figure clustermon_history_sealed_bytes_per_sample) bytes per sealed sample, log $(figure clustermon_history_log_bytes) bytes"
echo "history size: $(du -sh "$work/data" | cut -f1)"
echo "graph: $(curl -s "http://127.0.0.1:$hport/metrics" | awk '/^clustermon_graph_edges / {e=$2} /^clustermon_graph_connections_tracked / {c=$2} END {print e " edges, " c " connections tracked"}')"

user=$("$bin" token --user-id u3 --ttl 1h)
admin=$("$bin" token --user-id root --admin --ttl 1h)
url="http://127.0.0.1:$hport"
# METRICS_OUT=file: the aggregator's /metrics after the load (durations' histograms).
trap '[[ -n "${METRICS_OUT:-}" ]] && curl -s "$url/metrics" > "$METRICS_OUT"; cleanup' EXIT
# LOAD_PROFILE=file: the aggregator's context switches with their call chains during the
# load below (where its threads wait: locks, I/O), for `perf script`.
if [[ -n "${LOAD_PROFILE:-}" ]]; then
  perf record -q -e sched:sched_switch -g -p "$aggregator" -o "$LOAD_PROFILE" -- sleep 130 >/dev/null 2>&1 & pids+=($!)
fi
# A load phase: load.py's figures, then the history maintenance (seals above all: ~11 s of
# CPU each at 5,000 nodes) that ended inside it, which a slow phase may owe its tail to.
maintenance() { curl -s "$url/metrics" | awk '$1 == "clustermon_history_seals_total" {s=$2} $1 == "clustermon_history_maintenance_seconds_sum" {m=$2} END {print s+0, m+0}'; }
load() {
  local before after
  before=$(maintenance)
  python3 scripts/load.py "$@"
  after=$(maintenance)
  python3 -c 'import sys; b, a = sys.argv[1].split(), sys.argv[2].split(); print("  history maintenance that ended during it: %d seals, %.1f s" % (float(a[0]) - float(b[0]), float(a[1]) - float(b[1])))' "$before" "$after"
}
echo "user /pod-metrics ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "$url/pod-metrics?token=$user"
echo "user /api/metrics/pods, last hour, raw ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "$url/api/metrics/pods?namespace=compute-u3-app&token=$user"
shared() { curl -s "$url/metrics" | awk '$1 == "clustermon_history_queries_shared_total" {print $2}'; }
echo "  answered by an identical query's read: $(shared)"
# The same with each client a different user (no two ask the same namespace at once, so
# none shares another's read): what each query costs when it cannot be shared.
others=()
for k in $(seq 3 $((connections + 2))); do others+=("$url/api/metrics/pods?namespace=compute-u$k-app&token=$("$bin" token --user-id "u$k" --ttl 1h)"); done
echo "users u3-u$((connections + 2)) /api/metrics/pods, each their last hour, raw ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "${others[@]}"
echo "  answered by an identical query's read, in all: $(shared)"
echo "admin /cluster-info ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "$url/cluster-info?token=$admin"
echo "user /api/graph/dependencies ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "$url/api/graph/dependencies?token=$user"
echo "admin /api/graph/dependencies?top=100 ($connections connections, 20 s) $(since_ready):"
load "$connections" 20 "$url/api/graph/dependencies?top=100&token=$admin"
