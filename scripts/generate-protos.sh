#!/usr/bin/env bash
# Regenerates Sources/Wire/*.pb.swift from proto/ with Debian's protoc and protoc-gen-swift
# built from the swift-protobuf version that Package.swift resolves (so runtime and generator
# always match), and Sources/PodResources (the kubelet's pod-resources API: messages, and
# gRPC stubs from protoc-gen-grpc-swift-2 built from grpc-swift-protobuf the same way). The
# output is committed; WireTests fail when it is stale.
#
#   scripts/generate-protos.sh            regenerate into Sources/Wire
#   scripts/generate-protos.sh --check    regenerate into a temp dir and diff, exit 1 if stale
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 2; }

plugin="${PROTOC_GEN_SWIFT:-}"
if [ -z "$plugin" ]; then
  [ -d .build/checkouts/swift-protobuf ] || swift package resolve >/dev/null
  scratch="$root/.build-protoc"
  plugin="$scratch/debug/protoc-gen-swift"
  if [ ! -x "$plugin" ]; then
    echo "building protoc-gen-swift (once, into .build-protoc)..." >&2
    swift build --package-path .build/checkouts/swift-protobuf --scratch-path "$scratch" \
      --product protoc-gen-swift >&2
  fi
fi

out="Sources/Wire"
if [ "${1:-}" = "--check" ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi

protos=(common/types.proto cluster/events.proto agent/v1/batch.proto)
protoc --plugin=protoc-gen-swift="$plugin" -I proto \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out="$out" "${protos[@]}"
# FoundationEssentials where the toolchain has it: the agent binary links no full Foundation.
essentials() {
  for f in "$@"; do
    python3 - "$f" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("\nimport Foundation\n", "\n#if canImport(FoundationEssentials)\nimport FoundationEssentials\n#else\nimport Foundation\n#endif\n", 1)
open(path, "w").write(text)
PY
  done
}
essentials "$out"/*.pb.swift

# The kubelet's pod-resources API: messages and gRPC stubs (client and server: the tests
# serve it as the kubelet does).
grpc_plugin="${PROTOC_GEN_GRPC_SWIFT:-}"
if [ -z "$grpc_plugin" ]; then
  [ -d .build/checkouts/grpc-swift-protobuf ] || swift package resolve >/dev/null
  scratch="$root/.build-protoc-grpc"
  grpc_plugin="$scratch/debug/protoc-gen-grpc-swift-2"
  if [ ! -x "$grpc_plugin" ]; then
    echo "building protoc-gen-grpc-swift-2 (once, into .build-protoc-grpc)..." >&2
    swift build --package-path .build/checkouts/grpc-swift-protobuf --scratch-path "$scratch" \
      --product protoc-gen-grpc-swift-2 >&2
  fi
fi
pr_out="Sources/PodResources"
if [ "${1:-}" = "--check" ]; then pr_out="$(mktemp -d)"; trap 'rm -rf "$out" "$pr_out"' EXIT; fi
protoc --plugin=protoc-gen-swift="$plugin" --plugin=protoc-gen-grpc-swift-2="$grpc_plugin" -I proto \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out="$pr_out" \
  --grpc-swift-2_opt=Visibility=Public,FileNaming=PathToUnderscores,Client=true,Server=true --grpc-swift-2_out="$pr_out" \
  kubelet/podresources/v1/api.proto
essentials "$pr_out"/*.swift

if [ "${1:-}" = "--check" ]; then
  stale=0
  for f in "$out"/*.pb.swift; do
    if ! cmp -s "$f" "Sources/Wire/$(basename "$f")"; then echo "stale: Sources/Wire/$(basename "$f")" >&2; stale=1; fi
  done
  for f in "$pr_out"/*.swift; do
    if ! cmp -s "$f" "Sources/PodResources/$(basename "$f")"; then echo "stale: Sources/PodResources/$(basename "$f")" >&2; stale=1; fi
  done
  exit $stale
fi
echo "generated: $(ls "$out"/*.pb.swift "$pr_out"/*.swift | tr '\n' ' ')"
