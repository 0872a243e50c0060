#!/usr/bin/env bash
# The agent as a process, release build: a 110-pod kubelet (the benchmark inputs served by
# python's http.server on loopback), this machine's /proc, a real nats-server; one collection
# per second for CYCLES cycles. Prints resident memory over time and CPU per cycle.
set -euo pipefail
cd "$(dirname "$0")/.."
# STATIC=1 measures the binary as the image builds it (Swift runtime linked statically);
# PRODUCT=clustermon measures `clustermon agent` instead of the DaemonSet's `clustermon-agent`;
# BIN=<path> measures a binary built elsewhere (an A/B of two builds).
cycles="${CYCLES:-60}"
product="${PRODUCT:-clustermon-agent}"
if [ -n "${BIN:-}" ]; then
  bin="$BIN"
else
  flags=(-c release --product "$product")
  [ "${STATIC:-0}" = 1 ] && flags+=(--static-swift-stdlib --scratch-path ../.build-static)
  (cd Benchmarks && swift build "${flags[@]}" >/dev/null)
  bin="$(cd Benchmarks && swift build "${flags[@]}" --show-bin-path)/$product"
fi
command=("$bin")
[ "$product" = clustermon ] && command+=(agent)
[ -d Benchmarks/.inputs/kubelet ] || python3 Benchmarks/make_inputs.py >/dev/null

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port); nport=$(free_port); mport=$(free_port)
# The kubelet stand-in speaks as the kubelet does: HTTPS with a bearer token, HTTP/1.1
# keep-alive (Go's server keeps the agent's connection open between cycles). KUBELET_TLS=0
# serves plain HTTP.
kubelet_flags=(--kubelet-token-file "$work/token")
echo measure-token > "$work/token"
if [ "${KUBELET_TLS:-1}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
  scheme=https; kubelet_flags+=(--kubelet-ca "$work/cert.pem")
else
  scheme=http
fi
python3 - "$kport" Benchmarks/.inputs/kubelet "$work" "$scheme" >/dev/null 2>&1 <<'PY' & pids+=($!)
import functools, http.server, ssl, sys
port, root, work, scheme = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer measure-token":
            self.send_error(401); return
        super().do_GET()
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
if scheme == "https":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(work + "/cert.pem", work + "/key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
nats-server -a 127.0.0.1 -p "$nport" >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/"$nport") 2>/dev/null && (echo > /dev/tcp/127.0.0.1/"$kport") 2>/dev/null && break; sleep 0.1; done

# The DaemonSet's allocator settings; AGENT_MALLOC_ARENA_MAX= and AGENT_MALLOC_MMAP_THRESHOLD=
# (empty) measure with glibc's defaults.
allocator=()
[ -n "${AGENT_MALLOC_ARENA_MAX-1}" ] && allocator+=("MALLOC_ARENA_MAX=${AGENT_MALLOC_ARENA_MAX-1}")
[ -n "${AGENT_MALLOC_MMAP_THRESHOLD-131072}" ] && allocator+=("MALLOC_MMAP_THRESHOLD_=${AGENT_MALLOC_MMAP_THRESHOLD-131072}")
env "${allocator[@]}" "${command[@]}" --node-name bench --interval 1s --kubelet-url "$scheme://127.0.0.1:$kport" "${kubelet_flags[@]}" \
  --nats "nats://127.0.0.1:$nport" --metrics-addr "127.0.0.1:$mport" --fs-path root=/ --log-level warning & agent=$!
pids+=($agent)
# Prometheus scrapes /metrics (every 5 s here) and the kubelet probes /healthz: the steady
# state includes serving them.
(while sleep 5; do curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null; curl -sf "http://127.0.0.1:$mport/healthz" >/dev/null; done) & pids+=($!)
# CPU time in seconds: the sum of every thread's run time from schedstat (nanoseconds; the
# agent's threads live as long as it does), else utime + stime in clock ticks.
hz=$(getconf CLK_TCK)
cpu() {
  if [ -r "/proc/$agent/task/$agent/schedstat" ]; then
    cat /proc/"$agent"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.6f\n", ns / 1e9}'
  else
    awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$agent/stat"
  fi
}
# Resident memory, and its anonymous part (heap, stacks, data) and file part (the binary's
# and libraries' pages, which depend on what the page cache holds and on fault-around).
rss() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2} END {print ""}' "/proc/$agent/status"; }
# Warm-up before the measured cycles (WARMUP seconds, default 10): the first cycles decode
# /pods, open connections, and after the third the agent gives back its startup code pages
# (which then fault back in once).
warmup="${WARMUP:-10}"
sleep "$warmup"
start_cpu=$(cpu)
echo "t(s) rss anon file (KiB)"
for i in $(seq $((warmup + 5)) 5 "$cycles"); do sleep 5; echo "$i $(rss)"; done
end_cpu=$(cpu)
measured=$(( (cycles - warmup) / 5 * 5 ))
python3 -c "print('cpu per cycle: %.2f ms (%d cycles, user+system, 110 pods, procfs of this machine)' % (($end_cpu - $start_cpu) * 1000 / $measured, $measured))"
echo "peak rss: $(awk '/VmHWM/ {print $2}' "/proc/$agent/status") KiB"
