import API
import Foundation
import Testing
import TestSupport

/// GPUs from the node to the accounting, every part real but the GPU: `clustermon agent`
/// loads the fake NVML (a C library) by path, reads a fake kubelet over HTTPS and a proc root
/// that places a GPU process in a pod's container, and ships over a real nats-server to a
/// real `clustermon aggregator`, which serves the pod's GPU live, in its history (Kube-App's
/// `gpu/usage`) and in the allocation API, to its owner only.
@Suite("GPUs end to end", .serialized)
struct GPUEndToEndTests {
    static let podUID = "5c8a7b3e-1f2d-4e6a-9b0c-123456789abc"
    static let containerID = String(repeating: "ab12", count: 16)

    static let pods = """
        {"kind":"PodList","apiVersion":"v1","items":[{
          "metadata":{"name":"train-0","namespace":"compute-u1-train","uid":"\(podUID)",
                      "ownerReferences":[{"kind":"Job","name":"train","uid":"job-uid","controller":true}]},
          "spec":{"nodeName":"gpu-node","containers":[{"name":"trainer","image":"pytorch/pytorch:2.5",
                  "resources":{"requests":{"cpu":"2","memory":"8Gi"},"limits":{"nvidia.com/gpu":"1","memory":"8Gi"}}}]},
          "status":{"phase":"Running","podIP":"10.244.1.5","startTime":"2026-12-01T00:00:00Z",
                    "containerStatuses":[{"name":"trainer","containerID":"containerd://\(containerID)","ready":true,"restartCount":0,
                                          "image":"pytorch/pytorch:2.5","imageID":"sha256:1","state":{"running":{"startedAt":"2026-12-01T00:00:05Z"}}}]}}]}
        """

    /// One A100: the trainer's process (4242) holds 6 GiB at 85% SM, a host process (1) 1 GiB.
    static let nvml = """
        device GPU-0a1b2c3d-0000-1111-2222-333344445555 42949672960 7516192768 90 45 250000 66 NVIDIA A100-SXM4-40GB
        process 0 4242 6442450944
        process 0 1 1073741824
        sample 0 4242 now 85
        sample 0 1 now 5
        """

    /// A proc root: the host (pid 1) and the trainer's process in its pod's cgroup.
    static func procRoot() throws -> URL {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("clustermon-gpu-proc-\(UUID().uuidString)")
        try fm.createDirectory(at: root.appendingPathComponent("1/net"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("4242"), withIntermediateDirectories: true)
        try fm.copyItem(at: Fixtures.url("procfs/stat/node_exporter_proc_stat"), to: root.appendingPathComponent("stat"))
        try fm.copyItem(at: Fixtures.url("procfs/meminfo/procfs_proc_meminfo"), to: root.appendingPathComponent("meminfo"))
        try "Inter-|\n face |\n  eth0: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n".write(to: root.appendingPathComponent("1/net/dev"), atomically: true, encoding: .utf8)
        try "0::/init.scope\n".write(to: root.appendingPathComponent("1/cgroup"), atomically: true, encoding: .utf8)
        let slice = "kubepods-burstable-pod\(podUID.replacingOccurrences(of: "-", with: "_")).slice"
        try "0::/kubepods.slice/kubepods-burstable.slice/\(slice)/cri-containerd-\(containerID).scope\n"
            .write(to: root.appendingPathComponent("4242/cgroup"), atomically: true, encoding: .utf8)
        return root
    }

    /// `scripts/gpu-check.sh`, which a person runs on a machine with a real GPU, run here on the
    /// fake library (the DaemonSet's binary, already built).
    @Test func theGPUCheckScriptPrintsWhatTheAgentFound() async throws {
        let nvml = try FakeNVML(script: Self.nvml)
        defer { nvml.remove() }
        let script = Fixtures.packageRoot.appendingPathComponent("scripts/gpu-check.sh").path
        let agent = "CLUSTERMON_AGENT=\(ClustermonProcess.binary("clustermon-agent").path)"
        let root = try Self.procRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let found = try await runCommandDetached("env", [agent, script, "--nvml-library", nvml.libraryPath, "--proc-root", root.path])
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdoutText.contains("gpu ") && found.stdoutText.contains("GPU-0a1b2c3d-0000-1111-2222-333344445555"), "\(found.stdoutText)")
        #expect(found.stdoutText.contains("NVIDIA A100-SXM4-40GB") && found.stdoutText.contains("(host)"), "\(found.stdoutText)")
        let none = try await runCommandDetached("env", [agent, script, "--nvml-library", "/nonexistent/libnvidia-ml.so.1"])
        #expect(none.status == 1)
        #expect(none.stdoutText.contains("no GPUs found"), "\(none.stdoutText)")
    }

    @Test func aPodsGPUIsLiveInTheHistoryAndInTheAllocationsOfItsOwnerOnly() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let nvml = try FakeNVML(script: Self.nvml)
        defer { nvml.remove() }
        let root = try Self.procRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let kubeletToken = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-kubelet-token-\(UUID().uuidString)")
        try "kubelet-test-token".write(to: kubeletToken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: kubeletToken) }
        let kubelet = FakeKubelet(summary: try Fixtures.bytes("kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json"), pods: Array(Self.pods.utf8))

        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-train","labels":{"clustermon.io/owner":"u1"}}}"#)
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u2-other","labels":{"clustermon.io/owner":"u2"}}}"#)
        api.upsert(.nodes, #"{"metadata":{"name":"gpu-node"},"status":{"capacity":{"cpu":"8","memory":"64Gi","nvidia.com/gpu":"1"}}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"train-0","namespace":"compute-u1-train","uid":"\#(Self.podUID)"},"spec":{"nodeName":"gpu-node"},"status":{"phase":"Running"}}"#)
        let secret = "gpu-end-to-end-secret-of-32-bytes!"
        let verifier = try JWTVerifier(secret: secret)
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let owner = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        let other = try verifier.sign(userID: "u2", isAdmin: false, ttl: .seconds(600))
        let launch = try AggregatorLaunch(apiToken: api.token)

        // The kubelet's pod-resources API says which device the trainer holds.
        let podResources = FakePodResources([.init(namespace: "compute-u1-train", pod: "train-0", container: "trainer", resource: "nvidia.com/gpu",
                                                   devices: ["GPU-0a1b2c3d-0000-1111-2222-333344445555"])])
        try await podResources.serving { podResourcesSocket in
            try await withLocalServer(kubelet.router(), tls: true) { kubeletEndpoint in
                let agentArguments = ["agent", "--node-name", "gpu-node", "--kubelet-url", kubeletEndpoint.baseURL, "--kubelet-token-file", kubeletToken.path,
                                      "--kubelet-ca", try TestCertificates.get().caCertificate, "--proc-root", root.path, "--nvml-library", nvml.libraryPath,
                                      "--pod-resources-socket", podResourcesSocket,
                                      // The default 5 s once ran out on a loaded CI machine (the gRPC call timed out).
                                      "--kubelet-timeout", "30s"]

                // What the agent finds, as a person reads it.
                let once = try ClustermonProcess(agentArguments + ["--once", "--output", "table"])
                _ = try await withTimeout(.seconds(60), "agent --once") { await once.waitForExit() }
                #expect(once.log.contains("GPU-0a1b2c3d-0000-1111-2222-333344445555") && once.log.contains("NVIDIA A100-SXM4-40GB"), "\(once.log)")
                #expect(once.log.contains("compute-u1-train/train-0/trainer"), "\(once.log)")
                #expect(once.log.contains("nvidia.com/gpu=1  GPU-0a1b2c3d-0000-1111-2222-333344445555"), "assigned by the kubelet: \(once.log)")
                #expect(once.log.contains("(host)"), "\(once.log)")

                try await withLocalServer(api.router(), tls: true) { apiEndpoint in
                    let aggregator = try launch.start(apiServer: apiEndpoint.baseURL, nats: nats.url, secret: secret)
                    let agent = try ClustermonProcess(agentArguments + ["--interval", "1s", "--nats", nats.url, "--metrics-addr", "127.0.0.1:0"])
                    try await stopping([agent, aggregator]) {
                        let url = try await AggregatorLaunch.url(of: aggregator)
                        _ = try await readyBody(url, within: .seconds(60))

                        // Live: the node's devices and the pod's share, to its owner.
                        let node = try object(await eventually(.seconds(60), "the node's GPUs live") { () -> String? in
                            let body = try await httpGet("\(url)/cluster-info", bearer: admin).body
                            let nodes = try object(body)["nodes"] as? [[String: Any]]
                            return try nodes?.first { $0["name"] as? String == "gpu-node" && $0["gpu_count"] != nil }.map(text)
                        })
                        #expect(node["gpu_count"] as? Int == 1)
                        #expect(node["gpu_memory_usage"] as? Int == 7_516_192_768)
                        #expect(node["gpu_memory_capacity"] as? Int == 42_949_672_960)
                        #expect(node["gpu_percent"] as? Double == 90)
                        let pod = try object(await eventually(.seconds(30), "the pod's GPU live") { () -> String? in
                            let body = try await httpGet("\(url)/pod-metrics", bearer: owner).body
                            let pods = try object(body)["pods"] as? [[String: Any]]
                            return try pods?.first { $0["name"] as? String == "train-0" && $0["gpu_utilization"] != nil }.map(text)
                        })
                        #expect(pod["gpu_request"] as? Int == 1)
                        #expect(pod["gpu_memory_usage"] as? Int == 6_442_450_944)
                        #expect(pod["gpu_utilization"] as? Int == 85)
                        let others = try await httpGet("\(url)/pod-metrics", bearer: other).body
                        #expect(!others.contains("train-0"), "another tenant sees nothing of it")

                        // History: Kube-App's gpu/usage (MB) rows of the container.
                        let rows = try await eventually(.seconds(30), "gpu/usage rows") { () -> String? in
                            let result = try await curlHTTP("\(url)/api/gpu/usage", token: owner, body: #"{"namespace":"compute-u1-train","limit":5}"#)
                            return result.contains(#""value":6144"#) ? result : nil
                        }
                        #expect(rows.contains(#""container_name":"trainer""#) && rows.contains(#""pod_name":"train-0""#), "\(rows)")
                        #expect(rows.contains(#""gpu_uuid":"GPU-0a1b2c3d-0000-1111-2222-333344445555","gpu_name":"NVIDIA A100-SXM4-40GB","gpu_index":"0""#), "\(rows)")
                        let theirs = try await curlHTTP("\(url)/api/gpu/usage", token: other, body: #"{"namespace":"compute-u1-train"}"#)
                        #expect(!theirs.contains("train-0"), "\(theirs)")

                        // Accounting: a whole GPU held, used at 85%, 6 GiB of its memory, while it ran.
                        let allocation = try object(await eventually(.seconds(30), "GPU hours") { () -> String? in
                            let body = try await httpGet("\(url)/api/v2/allocation?window=1h&aggregate=pod&accumulate=true", bearer: owner).body
                            let data = try object(body)["data"] as? [[String: Any]]
                            guard let entry = data?.first?["compute-u1-train/train-0"] as? [String: Any],
                                  (entry["minutes"] as? Double ?? 0) > 0.05, (entry["gpuHours"] as? Double ?? 0) > 0 else { return nil }
                            return try text(entry)
                        })
                        let minutes = try #require(allocation["minutes"] as? Double)
                        let gpuHours = try #require(allocation["gpuHours"] as? Double)
                        #expect(abs(gpuHours - minutes / 60) < 1e-9, "one GPU for every minute it ran: \((try? text(allocation)) ?? "")")
                        #expect(abs((allocation["gpuCount"] as? Double ?? 0) - 1) < 1e-9, "\(allocation)")
                        #expect(abs((allocation["gpuUsageAverage"] as? Double ?? 0) - 0.85) < 1e-9, "\(allocation)")
                        #expect(abs((allocation["gpuMemoryByteHours"] as? Double ?? 0) - 6_442_450_944 * minutes / 60) < 1e-3, "\(allocation)")
                        let theirAllocations = try await httpGet("\(url)/api/v2/allocation?window=1h&aggregate=pod", bearer: other).body
                        #expect(!theirAllocations.contains("train-0"), "\(theirAllocations)")
                    }
                }
            }
        }
        #expect(podResources.calls > 0)
    }
}

private func object(_ json: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
}

private func text(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

/// A Kube-App query (`POST /api/<metric>` with a JSON body) over a real socket.
private func curlHTTP(_ url: String, token: String, body: String) async throws -> String {
    let result = try await runCommandDetached("curl", ["-sS", "-X", "POST", "-H", "Authorization: Bearer \(token)", "--data", body, url])
    return result.stdoutText
}
