#!/usr/bin/env bash
# Regenerates Sources/Wire/*.pb.swift from proto/ with Debian's protoc and protoc-gen-swift
# built from the swift-protobuf version that Package.swift resolves (so runtime and generator
# always match). The output is committed; WireTests fail when it is stale.
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
for f in "$out"/*.pb.swift; do
  python3 - "$f" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("\nimport Foundation\n", "\n#if canImport(FoundationEssentials)\nimport FoundationEssentials\n#else\nimport Foundation\n#endif\n", 1)
open(path, "w").write(text)
PY
done

if [ "${1:-}" = "--check" ]; then
  stale=0
  for f in "$out"/*.pb.swift; do
    if ! cmp -s "$f" "Sources/Wire/$(basename "$f")"; then echo "stale: Sources/Wire/$(basename "$f")" >&2; stale=1; fi
  done
  exit $stale
fi
echo "generated: $(ls "$out"/*.pb.swift | tr '\n' ' ')"
