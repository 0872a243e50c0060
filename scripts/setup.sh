#!/usr/bin/env bash
# Installs what clustermon needs on Debian (and Ubuntu) that a Swift toolchain lacks:
# the NATS C client, nats-server for tests, SQLite headers, protoc. Idempotent: installs
# only what is missing. Needs root or sudo when something is missing.
set -euo pipefail

packages=(libnats-dev nats-server libsqlite3-dev zlib1g-dev protobuf-compiler pkg-config openssl)

command -v swift >/dev/null || { echo "setup: the Swift toolchain is not on PATH (https://swift.org/install)" >&2; exit 2; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
