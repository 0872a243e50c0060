#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (the stack instrumented with -sanitize=fuzzer,address,
# in .build-fuzz) and runs each for a bounded time on its seeds (Fuzz/Seeds and
# Tests/Fixtures). A crash stops that target; the input is kept under
# .build-fuzz/crashes/<target>/ (replay: .build-fuzz/build/debug/fuzz-<target> <file>).
# Ends with one line `N targets ran, N crashed`.
#   scripts/fuzz.sh [seconds per target, default 30] [target ...]
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kubelet-summary kubelet-pods procfs tracer-feed batch-ingest jwt kube-app-body)
scratch="$PWD/.build-fuzz"

# Instrumented like -sanitize=fuzzer, but linked with libFuzzer's no-main archive: SwiftPM
# gives every executable its own main, which calls libFuzzer's driver (Fuzz/Targets/FuzzDriver).
nomain=$(ls "$(dirname "$(readlink -f "$(command -v swiftc)")")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a 2>/dev/null | head -1)
[ -n "$nomain" ] || { echo "fuzz build failed: libclang_rt.fuzzer_no_main not found beside swiftc"; exit 1; }
(cd Fuzz && swift build --scratch-path "$scratch/build" -Xswiftc -sanitize=address \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xlinker "$nomain" -Xlinker -lstdc++) \
  || { echo "fuzz build failed"; exit 1; }
bin="$scratch/build/debug"

# Seeds: the target's own, and the fixtures it reads.
seed() {
  local target=$1 corpus="$scratch/corpus/$1"
  mkdir -p "$corpus"
  [ -d "Fuzz/Seeds/$target" ] && cp Fuzz/Seeds/"$target"/* "$corpus"/ 2>/dev/null
  case $target in
    kubelet-summary) cp Tests/Fixtures/kubelet-stats-summary/*.json "$corpus"/ ;;
    kubelet-pods) cp Tests/Fixtures/kubelet-pods/*.json "$corpus"/ ;;
    procfs)
      local i=0 prefix file
      for pair in "0:stat" "1:meminfo" "2:net" "3:net" "4:cgroup"; do
        prefix=${pair%%:*}
        for file in $(find "Tests/Fixtures/procfs/${pair#*:}" -type f | sort); do
          { printf "\\x0$prefix"; cat "$file"; } > "$corpus/seed-$i"
          i=$((i + 1))
        done
      done ;;
  esac
}

ran=0
crashed=0
for target in "${targets[@]}"; do
  seed "$target"
  mkdir -p "$scratch/crashes/$target"
  echo "fuzz-$target: $seconds s"
  if "$bin/fuzz-$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$scratch/crashes/$target/" "$scratch/corpus/$target" > "$scratch/$target.log" 2>&1; then
    grep -aE "^stat::number_of_executed_units|^Done" "$scratch/$target.log" | tail -2
  else
    crashed=$((crashed + 1))
    echo "fuzz-$target CRASHED:"
    grep -aE "ERROR|Fatal error|SUMMARY|Test unit written" "$scratch/$target.log" | head -10
    # The first report's stack, demangled: enough to act on from a CI log.
    grep -aE -m 24 "^ +#[0-9]+ " "$scratch/$target.log" | swift demangle --simplified | cut -c1-200
  fi
  ran=$((ran + 1))
done
echo "$ran targets ran, $crashed crashed"
[ "$crashed" -eq 0 ]
