#!/usr/bin/env python3
"""Renders deploy/ and each of its overlays with `kubectl kustomize`, validates every object
strictly against Kubernetes 1.29 and 1.34 (kubernetes-validate), and checks what a schema
cannot: Pod Security "restricted" for every pod outside the agent's namespace, and that
every environment variable a container sets is one its program reads.

  check-deploy.py --kubectl PATH --agent-env A,B,... --aggregator-env X,Y,...

Prints one line per check and exits 1 when any fails. Run by the tests (ManifestTests)."""
import argparse
import os
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = ["1.29.0", "1.34.0"]
ALLOWED_VOLUMES = {"configMap", "secret", "persistentVolumeClaim", "emptyDir", "projected", "downwardAPI", "csi", "ephemeral"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def render(kubectl, directory):
    out = subprocess.run([kubectl, "kustomize", os.path.join(ROOT, directory)], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"{directory}: kubectl kustomize: {out.stderr.strip()}")
        return []
    return [o for o in yaml.safe_load_all(out.stdout) if o]


def restricted(name, spec):
    """The Pod Security Standard's restricted profile, rule by rule."""
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(key)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} of type {sorted(kinds)}")
    pod = spec.get("securityContext", {})
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        context = container.get("securityContext", {})
        label = f"container {container['name']}"
        if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
            problems.append(f"{label}: runAsNonRoot not true")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            problems.append(f"{label}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{label}: seccompProfile {seccomp}")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: allowPrivilegeEscalation not false")
        if context.get("privileged"):
            problems.append(f"{label}: privileged")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{label}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{label}: adds {capabilities['add']}")
    for problem in problems:
        fail(f"{name}: not Pod Security restricted: {problem}")
    return not problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--agent-env", required=True)
    parser.add_argument("--aggregator-env", required=True)
    args = parser.parse_args()
    known = {"clustermon-agent": set(args.agent_env.split(",")), "clustermon-aggregator": set(args.aggregator_env.split(","))}
    overlays = [os.path.join("deploy", "overlays", d) for d in sorted(os.listdir(os.path.join(ROOT, "deploy", "overlays")))]
    for directory in ["deploy"] + overlays:
        objects = render(args.kubectl, directory)
        if not objects:
            continue
        print(f"ok {directory}: {len(objects)} objects rendered")
        for version in VERSIONS:
            bad = 0
            for obj in objects:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    bad += 1
                    fail(f"{directory}: {obj['kind']}/{obj['metadata']['name']} against {version}: {error.message}")
            if not bad:
                print(f"ok {directory}: every object valid against Kubernetes {version} (strict)")
        namespaces = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}
        for obj in objects:
            template = obj.get("spec", {}).get("template", {}).get("spec")
            if template is None:
                continue
            name = f"{directory}: {obj['kind']}/{obj['metadata']['name']}"
            namespace = obj["metadata"].get("namespace", "")
            enforced = namespaces.get(namespace, {}).get("pod-security.kubernetes.io/enforce")
            if namespace == "clustermon-agent":
                if enforced != "privileged":
                    fail(f"{name}: its namespace should enforce privileged, says {enforced}")
            else:
                if enforced != "restricted" and namespace in namespaces:
                    fail(f"{name}: namespace {namespace} enforces {enforced}, not restricted")
                if restricted(name, template):
                    print(f"ok {name}: Pod Security restricted")
            for container in template.get("containers", []):
                reads = known.get(obj["metadata"]["name"])
                if reads is None:
                    continue
                for variable in container.get("env", []):
                    if variable["name"] not in reads:
                        fail(f"{name}: sets {variable['name']}, which the program does not read")
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
