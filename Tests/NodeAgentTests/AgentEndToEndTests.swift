import Foundation
@testable import Kubernetes
import Logging
import Messaging
import NIOCore
import Testing
import TestSupport
import Wire
@testable import NodeAgent

private let logger = Logger(label: "test.agent")

/// The network namespace inode of this test process.
private func ownNetns() -> UInt64 {
    NamespaceLink.inode((try? FileBytes.readLink("/proc/self/ns/net")) ?? "") ?? 0
}

private func tokenFile(_ token: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-token-\(UUID().uuidString)")
    try token.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

private func tracerRows() -> [FakeTracer.Row] {
    let me = Int(getpid())
    return [
        .init(pid: me, netns: ownNetns(), source: "10.0.0.5", dest: "10.0.0.9", sport: 40000, dport: 5432, direction: 2, sent: 1000, recv: 2000, retransmits: 1),
        .init(pid: me, type: 1, netns: ownNetns(), source: "10.0.0.5", dest: "10.96.0.10", sport: 53000, dport: 53, direction: 2, sent: 60, recv: 120),
        .init(pid: me, family: 1, netns: ownNetns(), source: "fd00::5", dest: "fd00::9", sport: 8443, dport: 41000, direction: 1, sent: 7, recv: 9),
    ]
}

/// Runs a fake kubelet (HTTPS) and a fake tracer (unix socket) around `body`.
private func withFakes<T: Sendable>(
    kubelet: FakeKubelet, tracer: FakeTracer,
    _ body: @Sendable (_ kubeletURL: String, _ tracerSocket: String) async throws -> T
) async throws -> T {
    let socket = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-tracer-\(UUID().uuidString.prefix(8)).sock").path
    return try await withLocalServer(kubelet.router(), tls: true) { kubeletEndpoint in
        try await withLocalServer(tracer.router(), unixSocket: socket) { _ in
            try await body(kubeletEndpoint.baseURL, socket)
        }
    }
}

private func makeAgent(bus: any MessageBus, kubeletURL: String?, token: String = "kubelet-test-token", ca: String? = nil,
                       tracerSocket: String?, procRoot: String = "/proc", timeout: Duration = .seconds(20)) throws -> (AgentService, KubeletClient?, TracerClient?) {
    // 20 s: the fakes answer at once, but a loaded CI machine (a browser test beside) once
    // took more than 3 s to; the tests of timeouts use hanging fakes, which exceed any.
    let kubelet = try kubeletURL.map { url in
        try KubeletClient(baseURL: url, token: .file(try tokenFile(token)), tls: ClientTLS(caFile: try ca ?? TestCertificates.get().caCertificate), timeout: timeout)
    }
    let tracer = tracerSocket.map { TracerClient(socketPath: $0, clientID: "clustermon-e2e", timeout: timeout) }
    let configuration = AgentConfiguration(nodeName: "e2e-node", agentVersion: "test", interval: .seconds(3600), procRoot: procRoot, filesystemPaths: ["root=/"])
    return (AgentService(configuration: configuration, bus: bus, kubelet: kubelet, tracer: tracer, logger: logger), kubelet, tracer)
}

private func shutdown(_ kubelet: KubeletClient?, _ tracer: TracerClient?) async {
    try? await kubelet?.shutdown()
    try? await tracer?.shutdown()
}

private func collector(_ batch: Agent_V1_Batch, _ name: String) -> Agent_V1_CollectorStatus? {
    batch.collectors.first { $0.name == name }
}

@Suite("Agent end to end: fake kubelet and tracer, real /proc, real NATS", .serialized)
struct AgentEndToEndTests {
    @Test func batchArrivesOnNATSAndDecodesFieldByField() async throws {
        let server = try await NATSServer.start()
        defer { server.stop() }
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json",
                                      podsFixture: "kubelet-pods/nri_k8s-1.34_containerd_pods.json")
        let tracer = FakeTracer(rows: tracerRows())
        let batch = try await withFakes(kubelet: kubelet, tracer: tracer) { kubeletURL, socket in
            let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url]), logger: logger)
            try await withTimeout(.seconds(10), "connected") { await connection.waitFor(.connected) }
            let subscription = try await connection.subscribe(to: "agent.v1.>", bufferCapacity: 8)
            try await connection.flush()
            let (agent, kubeletClient, tracerClient) = try makeAgent(bus: connection, kubeletURL: kubeletURL, tracerSocket: socket)
            await agent.collectAndShip()
            await shutdown(kubeletClient, tracerClient)
            let message = try #require(try await collect(1, from: subscription).first)
            #expect(message.subject == "agent.v1.e2e-node")
            return try Agent_V1_Batch(serializedBytes: message.payload)
        }
        #expect(batch.nodeName == "e2e-node")
        #expect(batch.sequence == 1)
        #expect(batch.partIndex == 0 && batch.partCount == 1)
        #expect(!batch.agentInstance.isEmpty)
        #expect(Set(batch.collectors.map(\.name)) == ["procfs-node", "procfs-processes", "kubelet-summary", "kubelet-pods", "tracer"])
        #expect(batch.collectors.allSatisfy { $0.ok }, "\(batch.collectors)")
        // The kubelet's numbers.
        #expect(batch.node.usage.cpuUsageNanocores == 644_367_996)
        #expect(batch.pods.count == 24)
        let web = try #require(batch.pods.first { $0.name == "e2e-deployment-6fb786454b-7fsxc" })
        #expect(web.usage.cpuUsageNanocores == 79_902_760)
        #expect(web.containers.first?.id == "e00e869a331dc32bc42557490ed99de1ebd5aa998ea693f110a6ecee91a26e20")
        #expect(batch.pods.first { $0.name == "e2e-container-creating" }?.containers.first?.restartCount == 2)
        // This machine's /proc.
        let meminfo = try Meminfo.parse(FileBytes.read("/proc/meminfo"))
        #expect(batch.node.memoryTotalBytes == meminfo.totalBytes)
        #expect(batch.node.cpuCount == UInt32(ProcessInfo.processInfo.activeProcessorCount))
        #expect(batch.node.filesystems.contains { $0.name == "root" && $0.mountPoint == "/" && $0.capacityBytes > 0 })
        #expect(batch.node.interfaces.contains { $0.name == "lo" })
        // The tracer's connections: this test process is a host process.
        #expect(batch.connections.count == 3)
        let postgres = try #require(batch.connections.first { $0.remotePort == 5432 })
        #expect(postgres.source == .tracer && postgres.countersKnown)
        #expect(postgres.sentBytes == 1000 && postgres.recvBytes == 2000 && postgres.retransmits == 1)
        #expect(postgres.pid == UInt32(getpid()))
        #expect(postgres.localAddress == Data([10, 0, 0, 5]))
        #expect(postgres.podUid.isEmpty)
        #expect(batch.connections.first { $0.remotePort == 53 }?.protocol == .udp)
        let v6 = try #require(batch.connections.first { $0.localPort == 8443 })
        #expect(v6.family == .ipv6 && v6.direction == .incoming && v6.localAddress.count == 16)
        // Both collectors were asked with credentials and a stable client id.
        #expect(kubelet.requests.allSatisfy { $0.hasSuffix(" token") })
        #expect(tracer.clientIDs == ["clustermon-e2e"])
    }

    @Test func unchangedPodListIsNotDecodedAgain() async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json",
                                      podsFixture: "kubelet-pods/nri_k8s-1.34_containerd_pods.json")
        try await withFakes(kubelet: kubelet, tracer: FakeTracer(rows: [])) { url, _ in
            let client = try KubeletClient(baseURL: url, token: .file(try tokenFile(kubelet.token)),
                                           tls: ClientTLS(caFile: try TestCertificates.get().caCertificate), timeout: .seconds(20))
            let first = try await client.pods()
            let second = try await client.pods()
            #expect(first.count == 24)
            #expect(second == first)
            #expect(client.podsDecoded.load(ordering: .relaxed) == 1, "the same body is decoded once")
            try kubelet.servePods(fixture: "kubelet-pods/ddic_podlist_containerd.json")
            let changed = try await client.pods()
            #expect(client.podsDecoded.load(ordering: .relaxed) == 2)
            #expect(changed != first)
            #expect(changed.count == (try Pod.decodeList(try Fixtures.bytes("kubelet-pods/ddic_podlist_containerd.json")).items.count))
            #expect(kubelet.requests.filter { $0.hasPrefix("/pods") }.count == 3, "every call asks the kubelet")
            try await client.shutdown()
        }
    }

    /// The kubelet's Go server answers big documents chunked, without Content-Length: the
    /// client collects them whole, whether its size hint (the last body) is missing, too
    /// small or too large, and refuses a body over its limit.
    @Test func chunkedBodiesAreCollectedWholeWithinTheLimit() async throws {
        let summaryFixture = "kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json"
        let kubelet = try FakeKubelet(summaryFixture: summaryFixture, podsFixture: "kubelet-pods/dda_podlist_1.8-2.json")
        try await withFakes(kubelet: kubelet, tracer: FakeTracer(rows: [])) { url, _ in
            let client = try KubeletClient(baseURL: url, token: .file(try tokenFile(kubelet.token)),
                                           tls: ClientTLS(caFile: try TestCertificates.get().caCertificate), timeout: .seconds(20))
            #expect(Array(buffer: try await client.get("/stats/summary")) == (try Fixtures.bytes(summaryFixture)))
            for fixture in ["kubelet-pods/dda_podlist_1.8-2.json", "kubelet-pods/nri_k8s-1.34_containerd_pods.json", "kubelet-pods/ddic_pods_crashed_oomkilled.json"] {
                try kubelet.servePods(fixture: fixture)
                #expect(Array(buffer: try await client.get("/pods")) == (try Fixtures.bytes(fixture)), "\(fixture)")
            }
            try await client.shutdown()

            let tight = try KubeletClient(baseURL: url, token: .file(try tokenFile(kubelet.token)),
                                          tls: ClientTLS(caFile: try TestCertificates.get().caCertificate), timeout: .seconds(20), maxBodyBytes: 10_000)
            await #expect {
                _ = try await tight.summary()
            } throws: { error in
                guard let error = error as? KubeletError else { return false }
                return error.kind == .transport && error.detail.contains("exceeds 10000 bytes")
            }
            try await tight.shutdown()
        }
    }

    /// Cancelling a cycle (the agent shutting down) ends a request the kubelet never answers,
    /// within about a second (the TLS shutdown's wait for the server's close_notify).
    @Test func cancellingEndsAHungRequest() async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/ddic_stats_summary.json", podsFixture: "kubelet-pods/ddic_podlist_containerd.json")
        kubelet.behaviour = .hang
        try await withFakes(kubelet: kubelet, tracer: FakeTracer(rows: [])) { url, _ in
            let client = try KubeletClient(baseURL: url, token: .file(try tokenFile(kubelet.token)),
                                           tls: ClientTLS(caFile: try TestCertificates.get().caCertificate), timeout: .seconds(3600))
            let request = Task { try await client.get("/stats/summary") }
            try await withTimeout(.seconds(15), "the kubelet has the request") { while kubelet.requests.isEmpty { try await Task.sleep(for: .milliseconds(5)) } }
            request.cancel()
            let outcome = try await withTimeout(.seconds(20), "the cancelled request") { await request.result }
            #expect(throws: KubeletError.self) { try outcome.get() }
            try await client.shutdown()
        }
    }

    @Test func digestTellsBodiesApart() {
        let a = ByteBuffer(string: #"{"items":[{"metadata":{"name":"a"}}]}"#)
        let b = ByteBuffer(string: #"{"items":[{"metadata":{"name":"b"}}]}"#)
        #expect(KubeletClient.digest(a) == KubeletClient.digest(ByteBuffer(string: #"{"items":[{"metadata":{"name":"a"}}]}"#)))
        #expect(KubeletClient.digest(a) != KubeletClient.digest(b))
        #expect(KubeletClient.digest(ByteBuffer(string: "0123456789abcdefX")) != KubeletClient.digest(ByteBuffer(string: "0123456789abcdefY")))
    }

    @Test(arguments: [
        (FakeKubelet.Behaviour.truncatedSummary, "invalid JSON"),
        (.garbageSummary, "invalid JSON"),
        (.status(500), "HTTP 500"),
        (.hang, "no answer within"),
    ])
    func kubeletFailureIsReportedAndTheRestIsIntact(behaviour: FakeKubelet.Behaviour, message: String) async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json",
                                      podsFixture: "kubelet-pods/nri_k8s-1.34_containerd_pods.json")
        kubelet.behaviour = behaviour
        let batch = try await withFakes(kubelet: kubelet, tracer: FakeTracer(rows: tracerRows())) { url, socket in
            // Long enough for a TLS request and a unix-socket read while the rest of the suite
            // loads both cores (1 s, then 5 s, were missed on CI's two cores as suites grew);
            // the hanging fakes (an hour) still exceed it.
            let (agent, k, t) = try makeAgent(bus: InProcessBus(), kubeletURL: url, tracerSocket: socket, timeout: .seconds(20))
            let batch = await agent.snapshot()
            await shutdown(k, t)
            return batch
        }
        let summary = try #require(collector(batch, "kubelet-summary"))
        #expect(!summary.ok)
        #expect(summary.error.contains(message), "\(summary.error)")
        #expect(!batch.node.usage.hasCpuUsageNanocores)
        // Everything else is still there.
        #expect(batch.node.memoryTotalBytes > 0)
        #expect(batch.connections.count == 3)
        #expect(collector(batch, "tracer")?.ok == true)
        if behaviour == .truncatedSummary || behaviour == .garbageSummary {
            #expect(batch.pods.count == 24, "pods come from /pods, which still answers")
        }
    }

    @Test func wrongTokenAndUntrustedServerAreClearErrors() async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/ddic_stats_summary.json", podsFixture: "kubelet-pods/ddic_podlist_containerd.json")
        let otherCA = try TestCertificates.otherCA.get()
        let (wrongToken, untrusted) = try await withFakes(kubelet: kubelet, tracer: FakeTracer()) { url, socket in
            let (a1, k1, t1) = try makeAgent(bus: InProcessBus(), kubeletURL: url, token: "stolen", tracerSocket: socket)
            let wrongToken = await a1.snapshot()
            await shutdown(k1, t1)
            let (a2, k2, t2) = try makeAgent(bus: InProcessBus(), kubeletURL: url, ca: otherCA, tracerSocket: socket)
            let untrusted = await a2.snapshot()
            await shutdown(k2, t2)
            return (wrongToken, untrusted)
        }
        #expect(collector(wrongToken, "kubelet-pods")?.error.contains("HTTP 401") == true)
        #expect(collector(wrongToken, "kubelet-pods")?.error.contains("RBAC") == true)
        #expect(!(collector(wrongToken, "kubelet-pods")?.error.contains("stolen") ?? true), "the token is never echoed")
        #expect(collector(untrusted, "kubelet-summary")?.ok == false)
        #expect(untrusted.pods.isEmpty)
        #expect(untrusted.node.memoryTotalBytes > 0)
    }

    @Test(arguments: [
        (FakeTracer.Behaviour.status(500), "HTTP 500"),
        (.hang, "tracer"),
        (.garbage, "expected an IP address"),
    ])
    func tracerFailureFallsBackToProcfsConnections(behaviour: FakeTracer.Behaviour, message: String) async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json",
                                      podsFixture: "kubelet-pods/nri_k8s-1.34_containerd_pods.json")
        let tracer = FakeTracer(rows: tracerRows())
        tracer.behaviour = behaviour
        let batch = try await withFakes(kubelet: kubelet, tracer: tracer) { url, socket in
            // Long enough for a TLS request and a unix-socket read while the rest of the suite
            // loads both cores (1 s, then 5 s, were missed on CI's two cores as suites grew);
            // the hanging fakes (an hour) still exceed it.
            let (agent, k, t) = try makeAgent(bus: InProcessBus(), kubeletURL: url, tracerSocket: socket, timeout: .seconds(20))
            let batch = await agent.snapshot()
            await shutdown(k, t)
            return batch
        }
        let status = try #require(collector(batch, "tracer"))
        #expect(!status.ok)
        #expect(status.error.contains(message), "\(status.error)")
        #expect(batch.connections.allSatisfy { $0.source == .procfs })
        #expect(batch.pods.count == 24)
    }

    @Test func tracerNullListIsNoConnections() async throws {
        let kubelet = try FakeKubelet(summaryFixture: "kubelet-stats-summary/ddic_stats_summary.json", podsFixture: "kubelet-pods/ddic_podlist_containerd.json")
        let tracer = FakeTracer()
        tracer.behaviour = .nullList
        let batch = try await withFakes(kubelet: kubelet, tracer: tracer) { url, socket in
            let (agent, k, t) = try makeAgent(bus: InProcessBus(), kubeletURL: url, tracerSocket: socket)
            let batch = await agent.snapshot()
            await shutdown(k, t)
            return batch
        }
        #expect(collector(batch, "tracer")?.ok == true)
        #expect(batch.connections.isEmpty)
    }

    @Test func unreadableAndVanishedProcessesAreCountedNotFatal() async throws {
        // A proc root built from fixtures: one container process, one that vanished
        // mid-scan, one whose cgroup cannot be read.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-proc-\(UUID().uuidString)")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("1/net"), withIntermediateDirectories: true)
        try fm.copyItem(at: Fixtures.url("procfs/stat/node_exporter_proc_stat"), to: root.appendingPathComponent("stat"))
        try fm.copyItem(at: Fixtures.url("procfs/meminfo/procfs_proc_meminfo"), to: root.appendingPathComponent("meminfo"))
        try "Inter-|\n face |\n  eth0: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n".write(to: root.appendingPathComponent("1/net/dev"), atomically: true, encoding: .utf8)
        try fm.copyItem(at: Fixtures.url("procfs/net/procfs_proc_net_tcp"), to: root.appendingPathComponent("1/net/tcp"))
        try fm.copyItem(at: Fixtures.url("procfs/cgroup/esm_amzn2_host-v1_pid1.cgroup"), to: root.appendingPathComponent("1/cgroup"))
        try fm.createDirectory(at: root.appendingPathComponent("100"), withIntermediateDirectories: true)
        try fm.copyItem(at: Fixtures.url("procfs/cgroup/libdatadog_cgroup.kubernetes"), to: root.appendingPathComponent("100/cgroup"))
        try fm.createDirectory(at: root.appendingPathComponent("101"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("102/cgroup"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }

        let (agent, _, _) = try makeAgent(bus: InProcessBus(), kubeletURL: nil, tracerSocket: nil, procRoot: root.path)
        let observation = await agent.collect()
        let processes = try #require(observation.processes)
        #expect(processes.processes.map(\.pid) == [1, 100])
        #expect(processes.processes[1].container?.containerID == "3e74d3fd9db4c9dd921ae05c2502fb984d0cde1b36e581b13f79c639da4518a1")
        #expect(processes.vanished == 1)
        #expect(processes.unreadable == 1)
        let batch = await agent.snapshot()
        #expect(collector(batch, "procfs-node")?.ok == true)
        #expect(batch.node.cpuCount == 8)
        #expect(batch.node.interfaces.first?.rxBytes == 1)
        #expect(batch.node.interfaces.first?.txErrors == 7)
        let processStatus = try #require(collector(batch, "procfs-processes"))
        #expect(!processStatus.ok)
        #expect(processStatus.error.contains("1 processes unreadable"), "\(processStatus.error)")
    }

    @Test func whileNATSIsDownOnlyTheNewestSnapshotIsKeptAndSentOnReturn() async throws {
        var server = try await NATSServer.start()
        let connection = try await NATSConnection.connect(NATSConfiguration(servers: [server.url], reconnectWait: .milliseconds(100)), logger: logger)
        try await withTimeout(.seconds(10), "connected") { await connection.waitFor(.connected) }
        // Same connection for the subscriber: after a reconnect libnats re-subscribes before
        // the resend, so the test does not race two reconnects.
        let subscription = try await connection.subscribe(to: "agent.v1.>", bufferCapacity: 16)
        try await connection.flush()
        let (agent, _, _) = try makeAgent(bus: connection, kubeletURL: nil, tracerSocket: nil)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }  // first cycle ships at once (sequence 1)
            let first = try await collect(1, from: subscription)
            #expect(try Agent_V1_Batch(serializedBytes: first[0].payload).sequence == 1)

            server.stop()
            try await withTimeout(.seconds(10), "disconnect noticed") { await connection.waitForDisconnect() }
            await agent.collectAndShip()  // 2: kept
            await agent.collectAndShip()  // 3: replaces 2
            await agent.collectAndShip()  // 4: replaces 3
            #expect(agent.shipped.replaced == 2)
            #expect(agent.shipped.published == 1)

            server = try await server.restarted()
            let resent = try await collect(1, from: subscription, within: .seconds(15))
            #expect(try Agent_V1_Batch(serializedBytes: resent[0].payload).sequence == 4)
            group.cancelAll()
        }
        server.stop()
        #expect(agent.shipped.published == 2)
    }
}
