#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and its driver: runs the agent once against the real
# management library and prints what it found about GPUs: the `gpu` collector's outcome,
# the devices, their processes and the containers those belong to, and what containers
# request. Extra arguments go to the agent (e.g. --nvml-library /usr/lib64/libnvidia-ml.so.1,
# or --kubelet-url ... --kubelet-token-file ... on a Kubernetes node to name containers).
#   scripts/gpu-check.sh [agent flags]
# Builds clustermon-agent (release) unless CLUSTERMON_AGENT names a binary to use.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v nvidia-smi >/dev/null; then nvidia-smi -L || true; else echo "gpu-check: no nvidia-smi here; the agent tries the library anyway" >&2; fi
agent=${CLUSTERMON_AGENT:-}
if [ -z "$agent" ]; then
  swift build -c release --product clustermon-agent >&2
  agent="$(swift build -c release --show-bin-path)/clustermon-agent"
fi
# Without a kubelet flag, the host alone (processes stay the node's unless a kubelet names their pods).
kubelet=(--no-kubelet)
for argument in "$@"; do case $argument in --kubelet-url*|--no-kubelet) kubelet=() ;; esac; done
output=$("$agent" --node-name "$(hostname | tr '.' '-')" "${kubelet[@]}" --once --output table "$@")
# The table's sections are separated by blank lines: the collectors, then the GPU ones.
sections=$(printf '%s\n' "$output" | awk 'BEGIN { RS = ""; ORS = "\n\n" } /^COLLECTOR/ || /^GPU / || /^CONTAINER +GPU REQUESTS/')
printf '%s' "$sections"
if ! printf '%s\n' "$sections" | grep -q '^GPU '; then
  echo "gpu-check: no GPUs found (see the gpu collector above; without the library or a device it is not listed)"
  exit 1
fi
