import Aggregator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing
import TestSupport
import Wire
@testable import API

private let secret = "resource-metrics-secret-of-32-byte"
private let verifier = JWTVerifier(secret: secret)

/// `/metrics/resource`: the kubelet's names for every node, pod and container, exact values,
/// the agents' timestamps, admins only, and each node rendered once per snapshot.
@Suite("/metrics/resource")
struct ResourceMetricsTests {
    static let collected: Int64 = 1_796_000_010_250
    /// When the snapshots arrived, and the server's clock: fixed, so that a test held up
    /// (a busy machine) does not see its nodes go stale.
    static let received = Double(collected) / 1000 + 2

    /// n1: a pod with a main container (started at a known time), a sidecar and an init
    /// container; n2's agent has been silent for 100 s (stale).
    static func batch(node: String = "n1", sequence: UInt64 = 1, time: Int64 = collected, mainCPU: UInt64 = 12_345_678_901) -> Agent_V1_Batch {
        var batch = snapshotBatch(node: node, time: time, pods: [
            PodSnapshot(namespace: "compute-u1-web", name: "web-0", uid: "w0", containers: [
                ContainerSnapshot(name: "main", id: "c1", cpu: mainCPU, memory: 1_460_756_480),
                ContainerSnapshot(name: "sidecar", id: "c2", cpu: 7_000_000_000, memory: 2 << 20),
                ContainerSnapshot(name: "init", id: "c0", cpu: 1_000_000, memory: 1),
            ]),
        ])
        batch.agentInstance = "agent-\(node)"
        batch.sequence = sequence
        batch.intervalMs = 10_000
        batch.node.usage.cpuUsageCoreNanoseconds = 1_000_000_000_001
        batch.node.usage.memoryWorkingSetBytes = 8 << 30
        batch.pods[0].usage.cpuUsageCoreNanoseconds = 20_000_000_000
        batch.pods[0].usage.memoryWorkingSetBytes = 1_462_853_632
        batch.pods[0].containers[0].startedAt = .with { $0.seconds = 1_795_999_000 }
        batch.pods[0].containers[2].init_p = true
        return batch
    }

    static func configuration(_ state: ClusterState) -> APIConfiguration {
        var configuration = APIConfiguration(address: .init(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(), jwtSecret: secret)
        configuration.nodeSamples = { state.snapshot() }
        configuration.now = { Int64(received * 1000) }
        return configuration
    }

    @Test func gpuSeriesOnlyForTheNodesAndPodsThatHaveGPUs() async throws {
        let state = ClusterState()
        var batch = Self.batch()
        batch.node.gpus = [
            .with { $0.uuid = "GPU-a"; $0.memoryTotalBytes = 40 << 30; $0.memoryUsedBytes = 7 << 30; $0.gpuUtilizationPercent = 90 },
            .with { $0.uuid = "GPU-b"; $0.memoryTotalBytes = 40 << 30; $0.memoryUsedBytes = 1 << 30; $0.gpuUtilizationPercent = 10 },
        ]
        batch.pods[0].containers[0].gpuRequests = [.with { $0.name = "nvidia.com/gpu"; $0.count = 2 }]
        batch.pods[0].containers[0].gpus = [
            .with { $0.deviceUuid = "GPU-a"; $0.memoryUsedBytes = 6 << 30; $0.smUtilizationPercent = 85 },
            .with { $0.deviceUuid = "GPU-b"; $0.memoryUsedBytes = 1 << 30; $0.smUtilizationPercent = 10 },
        ]
        state.ingest(batch, receivedAt: Self.received)
        state.ingest(Self.batch(node: "n3"), receivedAt: Self.received)
        let app = Application(router: buildRouter(Self.configuration(state)))
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        try await app.test(.router) { client in
            let body = try await client.execute(uri: "/metrics/resource", method: .get, headers: [.authorization: "Bearer \(admin)"]) { String(buffer: $0.body) }
            let t = Self.collected
            let pod = #"namespace="compute-u1-web",node="n1",pod="web-0""#
            let gpu = body.split(separator: "\n").filter { $0.hasPrefix("clustermon_") }.joined(separator: "\n")
            #expect(gpu == """
                clustermon_node_gpu_memory_total_bytes{node="n1"} 85899345920 \(t)
                clustermon_node_gpu_memory_used_bytes{node="n1"} 8589934592 \(t)
                clustermon_node_gpu_utilization_ratio{node="n1"} 0.5 \(t)
                clustermon_node_gpus{node="n1"} 2 \(t)
                clustermon_pod_gpu_memory_used_bytes{\(pod)} 7516192768 \(t)
                clustermon_pod_gpu_sm_utilization_ratio{\(pod)} 0.95 \(t)
                clustermon_pod_gpus_requested{\(pod)} 2 \(t)
                """, "n3 has no GPU: no series of its own")
            #expect(body.contains("# TYPE clustermon_pod_gpus_requested gauge"))
            let lint = try runCommand("promtool", ["check", "metrics"], input: Data(body.utf8))
            #expect(lint.status == 0, "\(lint.stdoutText) \(lint.stderr)")
        }
    }

    @Test func theKubeletsNamesWithExactValuesForAdminsOnly() async throws {
        let state = ClusterState()
        let now = Self.received
        state.ingest(Self.batch(), receivedAt: now)
        state.ingest(Self.batch(node: "n2"), receivedAt: now - 100)
        let app = Application(router: buildRouter(Self.configuration(state)))
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let user = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        try await app.test(.router) { client in
            let body = try await client.execute(uri: "/metrics/resource", method: .get, headers: [.authorization: "Bearer \(admin)"]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(response.headers[.contentLength] == String(response.body.readableBytes))
                return String(buffer: response.body)
            }
            let t = Self.collected
            let pod = #"namespace="compute-u1-web",node="n1",pod="web-0""#
            let expected = """
                # HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
                # TYPE container_cpu_usage_seconds_total counter
                container_cpu_usage_seconds_total{container="main",\(pod)} 12.345678901 \(t)
                container_cpu_usage_seconds_total{container="sidecar",\(pod)} 7 \(t)
                # HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
                # TYPE container_memory_working_set_bytes gauge
                container_memory_working_set_bytes{container="main",\(pod)} 1460756480 \(t)
                container_memory_working_set_bytes{container="sidecar",\(pod)} 2097152 \(t)
                # HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
                # TYPE container_start_time_seconds gauge
                container_start_time_seconds{container="main",\(pod)} 1795999000 \(t)
                # HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
                # TYPE node_cpu_usage_seconds_total counter
                node_cpu_usage_seconds_total{node="n1"} 1000.000000001 \(t)
                # HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
                # TYPE node_memory_working_set_bytes gauge
                node_memory_working_set_bytes{node="n1"} 8589934592 \(t)
                # HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
                # TYPE pod_cpu_usage_seconds_total counter
                pod_cpu_usage_seconds_total{\(pod)} 20 \(t)
                # HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
                # TYPE pod_memory_working_set_bytes gauge
                pod_memory_working_set_bytes{\(pod)} 1462853632 \(t)

                """
            #expect(body == expected, "init containers and the silent node n2 are left out")

            // Prometheus' own linter reads it.
            let lint = try runCommand("promtool", ["check", "metrics"], input: Data(body.utf8))
            #expect(lint.status == 0, "\(lint.stdoutText) \(lint.stderr)")

            try await client.execute(uri: "/metrics/resource", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics/resource", method: .get, headers: [.authorization: "Bearer \(user)"]) { response in
                #expect(response.status == .forbidden)
                #expect(!String(buffer: response.body).contains("web-0"))
            }
            try await client.execute(uri: "/metrics/resource?node=n1", method: .get, headers: [.authorization: "Bearer \(admin)"]) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test func eachNodeIsRenderedOncePerSnapshot() async throws {
        let state = ClusterState()
        let metrics = ResourceMetrics(samples: { state.snapshot() }, edges: nil)
        let now = Self.received
        state.ingest(Self.batch(), receivedAt: now)
        state.ingest(Self.batch(node: "n2"), receivedAt: now)
        func text() async -> String { await metrics.render(now: now).map { String(buffer: $0) }.joined() }
        let first = await metrics.render(now: now)
        // A second scrape without new snapshots sends the same buffers (not re-rendered).
        let again = await metrics.render(now: now)
        #expect(first.count == again.count && zip(first, again).allSatisfy { $0 == $1 })
        // n1 reports again: its lines change, n2's stay.
        state.ingest(Self.batch(sequence: 2, time: Self.collected + 10_000, mainCPU: 22_345_678_901), receivedAt: now)
        let after = await text()
        #expect(after.contains(#"container_cpu_usage_seconds_total{container="main",namespace="compute-u1-web",node="n1",pod="web-0"} 22.345678901 1796000020250"#))
        #expect(after.contains(#"container_cpu_usage_seconds_total{container="main",namespace="compute-u1-web",node="n2",pod="web-0"} 12.345678901 1796000010250"#))
        // A node that leaves the state leaves the exposition.
        _ = state.expire(receivedBefore: now + 1)
        #expect(!(await text()).contains("node=\"n"))
    }

    /// The renderer writes lines through raw pointers; every line must be the one a plain
    /// String formatting of `ResourceSeries.visit` gives, in the same order, over nodes with
    /// many pods and containers (init ones among them), pods without containers, counters
    /// near 2^64, escaped names and a GPU.
    @Test func everySeriesOfTheWalkIsOneExactLine() async throws {
        let state = ClusterState()
        let now = Date().timeIntervalSince1970
        var random = SystemRandomNumberGenerator()
        for n in 0..<3 {
            var pods: [PodSnapshot] = []
            for p in 0..<40 {
                var containers: [ContainerSnapshot] = []
                for c in 0..<(p % 4) {
                    let cpu: UInt64 = p == 3 ? UInt64.max - UInt64(c) : UInt64.random(in: 0...(1 << 50), using: &random)
                    containers.append(ContainerSnapshot(name: c == 2 ? "init" : "c\(c)", id: "id\(n)-\(p)-\(c)", cpu: cpu,
                                                        memory: UInt64.random(in: 0...(1 << 40), using: &random)))
                }
                let name = p == 7 ? #"we"ird\pod"# : "pod-\(p)"
                pods.append(PodSnapshot(namespace: "ns-\(p % 4)", name: name, uid: "u\(n)-\(p)", containers: containers))
            }
            var batch = snapshotBatch(node: "node-\(n)", time: Self.collected + Int64(n), pods: pods)
            batch.agentInstance = "agent-\(n)"
            batch.node.usage.cpuUsageCoreNanoseconds = UInt64.random(in: 0...UInt64.max, using: &random)
            batch.node.usage.memoryWorkingSetBytes = 8 << 30
            for index in batch.pods.indices {
                batch.pods[index].usage.cpuUsageCoreNanoseconds = UInt64(index) * 1_000_000_007
                batch.pods[index].usage.memoryWorkingSetBytes = UInt64(index) << 20
                for c in batch.pods[index].containers.indices {
                    batch.pods[index].containers[c].init_p = batch.pods[index].containers[c].name == "init"
                    batch.pods[index].containers[c].startedAt = .with { $0.seconds = 1_795_999_000 + Int64(c) }
                }
            }
            if n == 1 {
                batch.node.gpus = [.with { $0.uuid = "GPU-a"; $0.memoryTotalBytes = 40 << 30; $0.memoryUsedBytes = 7 << 30; $0.gpuUtilizationPercent = 33 }]
            }
            state.ingest(batch, receivedAt: now)
        }
        let text = await ResourceMetrics(samples: { state.snapshot() }, edges: nil).render(now: now).map { String(buffer: $0) }.joined()

        // The same series, formatted with Strings: seconds from the integer's decimal digits.
        func seconds(_ n: UInt64) -> String {
            let fraction = String(n % 1_000_000_000)
            let padded = String(repeating: "0", count: 9 - fraction.count) + fraction
            let trimmed = padded.replacing(/0+$/, with: "")
            return trimmed.isEmpty ? "\(n / 1_000_000_000)" : "\(n / 1_000_000_000).\(trimmed)"
        }
        func quoted(_ value: String) -> String {
            "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
        }
        var expected = [[String]](repeating: [], count: ResourceFamily.allCases.count)
        for node in state.snapshot().sorted(by: { $0.name < $1.name }) {
            let time = "\(Int64((node.collectedAt * 1000).rounded()))"
            ResourceSeries.visit(node) { family, namespace, pod, container, value in
                var labels: [String] = []
                if let container { labels.append("container=\(quoted(container))") }
                if let namespace { labels.append("namespace=\(quoted(namespace))") }
                labels.append("node=\(quoted(node.name))")
                if let pod { labels.append("pod=\(quoted(pod))") }
                let number = switch value {
                case .nanoseconds(let n): seconds(n)
                case .count(let n): "\(n)"
                case .ratio(let r): "\(r)"
                }
                expected[family.rawValue].append("\(family.name){\(labels.joined(separator: ","))} \(number) \(time)")
            }
        }
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(lines == expected.flatMap { $0 })
        #expect(lines.count > 3 * 40 * 2, "every pod's and container's lines")
        #expect(text.contains(#"pod="we\"ird\\pod""#))
        #expect(text.contains("18446744073.709551615"))
    }

    @Test func secondsAreExactDecimals() {
        func text(_ n: UInt64) -> String {
            var bytes: [UInt8] = []
            ResourceMetrics.appendSeconds(nanoseconds: n, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(text(0) == "0" && text(1) == "0.000000001" && text(1_500_000_000) == "1.5" && text(10_000_000_000) == "10")
        #expect(text(UInt64.max) == "18446744073.709551615")
        #expect(ResourceMetrics.escaped(#"a"b\c"# + "\n") == Array(#"a\"b\\c\n"#.utf8))
    }
}
