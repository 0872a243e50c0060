#!/usr/bin/env python3
"""A Kubernetes API server for load measurements, on loopback, without auth.
Serves the objects `clustermon simulate --nodes NODES --pods PODS` implies (the same node,
namespace, pod names and uids; 100 users), paginated lists (limit/continue), and watches
that stay open with bookmarks. CHURN=n in the environment: every second, n pods' watches get a
MODIFIED event (a new resourceVersion and annotation, as a status update would), round
robin over the pods. Usage: fake-apiserver.py PORT [NODES PODS]"""
import http.server, itertools, json, os, sys, threading, time, urllib.parse

nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 0
pods_per_node = int(sys.argv[3]) if len(sys.argv) > 3 else 0
users = 100

def namespace(node, p):
    return "kube-system" if p % 10 == 0 else "compute-u%d-app" % ((node * pods_per_node + p) % users)

objects = {
    "nodes": [{"metadata": {"name": "sim-node-%04d" % n, "resourceVersion": "1"},
               "status": {"capacity": {"cpu": "8", "memory": "32Gi"},
                          "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "DiskPressure", "status": "False"},
                                         {"type": "PIDPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}}
              for n in range(nodes)],
    "namespaces": [{"metadata": {"name": "compute-u%d-app" % u, "labels": {"clustermon.io/owner": "u%d" % u}, "resourceVersion": "1"}}
                   for u in range(users)] + [{"metadata": {"name": "kube-system", "resourceVersion": "1"}}],
    "pods": [{"metadata": {"name": "pod-%d-%d" % (n, p), "namespace": namespace(n, p), "uid": "sim-%d-%d" % (n, p), "resourceVersion": "1",
                           "ownerReferences": [{"kind": "ReplicaSet", "name": "app-%d-5d8f" % (p % 7), "uid": "rs", "controller": True}]},
              "spec": {"nodeName": "sim-node-%04d" % n, "containers": [{"name": "main", "image": "registry.example/app:%d" % (p % 7)}]},
              "status": {"phase": "Running", "podIP": "10.%d.%d.%d" % (n // 250 % 250, n % 250, p + 1),
                         "containerStatuses": [{"name": "main", "restartCount": p % 3, "ready": True, "state": {"running": {}}}]}}
             for n in range(nodes) for p in range(pods_per_node)],
}

churn = int(os.environ.get("CHURN", "0"))
versions = itertools.count(2)
churn_lock = threading.Lock()
churned = [0]

def modified_pods(count):
    """The next `count` pods, each with a new resourceVersion (shared by every watch)."""
    events = []
    with churn_lock:
        for _ in range(count):
            if not objects["pods"]:
                break
            index = churned[0] % len(objects["pods"])
            churned[0] += 1
            pod = json.loads(json.dumps(objects["pods"][index]))
            version = str(next(versions))
            pod["metadata"]["resourceVersion"] = version
            pod["metadata"]["annotations"] = {"clustermon.io/churn": version}
            events.append({"type": "MODIFIED", "object": pod})
    return events

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if query.get("watch", [""])[0] in ("true", "1"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                is_pods = url.path.rstrip("/").endswith("/pods")
                for _ in range(600):
                    events = modified_pods(churn) if is_pods and churn else []
                    events.append({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "1"}}})
                    data = b"".join(json.dumps(event).encode() + b"\n" for event in events)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    time.sleep(1)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        items = objects.get(url.path.rstrip("/").split("/")[-1], [])
        start = int(query.get("continue", ["0"])[0] or 0)
        limit = int(query.get("limit", ["0"])[0] or 0) or len(items)
        page = items[start:start + limit]
        following = str(start + limit) if start + limit < len(items) else ""
        body = json.dumps({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1", "continue": following}, "items": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
