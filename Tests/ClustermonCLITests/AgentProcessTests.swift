import AsyncHTTPClient
import Foundation
import Logging
import Messaging
import NIOCore
import Testing
import TestSupport
import Wire

/// `clustermon-agent`, the DaemonSet's binary, run as the DaemonSet runs it.
@Suite("clustermon-agent as a process")
struct AgentProcessTests {
    @Test func shipsBatchesOverNATSServesStatusAndStopsOnSIGTERM() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let bus = try await NATSConnection.connect(NATSConfiguration(servers: [nats.url]), logger: Logger(label: "test.agent-process"))
        defer { bus.close() }
        try await withTimeout(.seconds(10), "connected") { await bus.waitFor(.connected) }
        let subscription = try await bus.subscribe(to: "agent.v1.>", bufferCapacity: 8)
        try await bus.flush()

        // Options from the environment, as the DaemonSet sets them.
        let agent = try ClustermonProcess(
            ["--no-kubelet", "--interval", "1s", "--metrics-addr", "127.0.0.1:0", "--fs-path", "root=/"], binary: "clustermon-agent",
            environment: ["NODE_NAME": "lean-node", "NATS_URL": nats.url, "LOG_LEVEL": "info"])
        let log = try await withTimeout(.seconds(30), "the status server") { await agent.waitForLog("http listening") }
        let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log), "\(agent.log)")

        let messages = try await collect(2, from: subscription)
        #expect(messages.map(\.subject) == ["agent.v1.lean-node", "agent.v1.lean-node"])
        let first = try Agent_V1_Batch(serializedBytes: messages[0].payload)
        let second = try Agent_V1_Batch(serializedBytes: messages[1].payload)
        #expect(first.nodeName == "lean-node")
        #expect(first.agentVersion == "0.1.0")
        #expect(second.sequence == first.sequence + 1)
        #expect(first.node.cpuCount >= 1)
        #expect(first.collectors.contains { $0.name == "procfs-processes" && $0.ok })

        // After its third cycle the agent gives back the code pages only starting up used,
        // and goes on collecting.
        let released = try await withTimeout(.seconds(30), "startup pages released") { await agent.waitForLog("startup code pages given back") }
        let before = ClustermonProcess.field("resident_kib_before", inLineWith: "startup code pages given back", of: released).flatMap { Int($0) }
        let after = ClustermonProcess.field("resident_kib_after", inLineWith: "startup code pages given back", of: released).flatMap { Int($0) }
        #expect(before != nil && after != nil && after! < before!, "\(released)")
        let later = try await collect(2, from: subscription)
        #expect(try later.map { try Agent_V1_Batch(serializedBytes: $0.payload).sequence }.allSatisfy { $0 > second.sequence })

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        func get(_ path: String) async throws -> (UInt, String) {
            let response = try await client.execute(HTTPClientRequest(url: url + path), timeout: .seconds(10))
            return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 22)))
        }
        #expect(try await get("/healthz") == (200, "ok"))
        #expect(try await get("/readyz") == (200, "ok\n"), "the agent's NATS connection published two batches")
        let (status, metrics) = try await get("/metrics")
        #expect(status == 200)
        #expect(metrics.contains("clustermon_agent_batches_published_total"))
        #expect(metrics.contains("clustermon_agent_collector_duration_seconds"))
        #expect(metrics.contains("\nprocess_resident_memory_bytes ") && metrics.contains("\nprocess_threads "))
        #expect(try await get("/api/graph/dependencies").0 == 404, "the agent serves no aggregator endpoint")

        agent.signal(SIGTERM)
        let exit = try await withTimeout(.seconds(30), "the agent to stop") { await agent.waitForExit() }
        #expect(exit == 0, "\(agent.log)")
        #expect(agent.log.contains("clustermon agent stopped"))
    }

    @Test func helpNamesTheBinaryAndVersionPrints() async throws {
        let help = try ClustermonProcess(["--help"], binary: "clustermon-agent")
        #expect(await help.waitForExit() == 0)
        let text = await help.waitForLog("USAGE")
        #expect(text.contains("USAGE: clustermon-agent"), "\(text)")
        #expect(text.contains("--node-name"))
        #expect(text.contains("--kubelet-insecure-tls"))

        let version = try ClustermonProcess(["--version"], binary: "clustermon-agent")
        #expect(await version.waitForExit() == 0)
        #expect(await version.waitForLog("0.").contains("0.1.0"))
    }
}
