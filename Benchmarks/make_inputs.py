#!/usr/bin/env python3
"""Benchmark inputs made from the test fixtures (Tests/Fixtures): real kubelet documents with their pod
entries repeated (fresh uids and names) up to the size of a busy node, and tracer feeds in
the documented format. Writes Benchmarks/.inputs/ (and a kubelet directory that
`python3 -m http.server` can serve as /stats/summary and /pods)."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.environ.get("CLUSTERMON_FIXTURES") or os.path.join(here, "..", "Tests", "Fixtures")
out = os.path.join(here, ".inputs")


def load(path):
    with open(os.path.join(fixtures, path)) as f:
        return json.load(f)


def uid(i):
    return "00000000-0000-0000-0000-%012d" % i


def replicate(path, list_key, meta_key, count, name_format="%s-%d"):
    """The fixture document with its list repeated to `count` entries, each with a fresh
    uid and name (`meta_key` names the object's metadata: podRef or metadata)."""
    doc = load(path)
    entries = doc[list_key]
    result = []
    for i in range(count):
        entry = json.loads(json.dumps(entries[i % len(entries)]))
        entry[meta_key]["uid"] = uid(i)
        entry[meta_key]["name"] = name_format % (entry[meta_key]["name"], i)
        result.append(entry)
    doc[list_key] = result
    return doc


def summary(count):
    return replicate("kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json", "pods", "podRef", count)


def pod_list(count, name_format="%s-%d"):
    return replicate("kubelet-pods/nri_k8s-1.34_containerd_pods.json", "items", "metadata", count, name_format)


def tracer(count):
    rows = []
    for i in range(count):
        rows.append({
            "pid": 1000 + i % 300, "type": 1 if i % 7 == 0 else 0, "family": 0, "net_ns": 4026532000 + i % 110,
            "source": "10.244.%d.%d" % (i % 250, i % 200 + 1), "dest": "10.96.%d.%d" % (i % 100, i % 50 + 1),
            "sport": 30000 + i % 30000, "dport": 53 if i % 5 == 0 else 443, "direction": 2,
            "monotonic_sent_bytes": i * 1000, "last_sent_bytes": 0, "monotonic_recv_bytes": i * 3000, "last_recv_bytes": 0,
            "monotonic_retransmits": i % 3, "last_retransmits": 0, "last_update_epoch": 123456789000,
        })
    return {"connections": rows}


def write(name, doc):
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    if not os.path.isdir(fixtures):
        sys.exit("fixtures not found at %s (set CLUSTERMON_FIXTURES)" % fixtures)
    write("summary-110.json", summary(110))
    write("summary-250.json", summary(250))
    write("pods-110.json", pod_list(110))
    write("tracer-1k.json", tracer(1000))
    # An API server list page: 500 pods (the informer's page size).
    # The names carry a fixed-width page number (`-p00000-`) that the 150,000-pod benchmark
    # rewrites per page, as it rewrites the uids' first group, so that every pod is distinct.
    write("pods-page-500.json", pod_list(500, "%s-p00000-%d"))
    write("tracer-10k.json", tracer(10000))
    # A directory tree that http.server serves as a kubelet: /stats/summary and /pods.
    write("kubelet/stats/summary", summary(110))
    write("kubelet/pods", pod_list(110))
    print("inputs written to %s" % out)
