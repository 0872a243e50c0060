import Foundation
import Logging
import Testing
import TestSupport
@testable import Messaging

private let logger = Logger(label: "test.permissions")
private let passwords = ["AGENT_PASSWORD": "agent-pw", "AGGREGATOR_PASSWORD": "aggregator-pw", "ALERTING_PASSWORD": "alerting-pw"]

/// The shipped `aggregator/nats.conf` on a real `nats-server`, its passwords from the
/// environment as in the pod. Only its `store_dir` line is left out of the copy (the test's
/// store directory comes from the command line, and nats-server refuses both) and its port
/// is overridden there.
private func shippedServer() async throws -> NATSServer {
    var directory = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { directory.deleteLastPathComponent() }
    let shipped = try String(contentsOf: directory.appendingPathComponent("aggregator/nats.conf"), encoding: .utf8)
    let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.filter { $0.contains("store_dir:") }.count == 1)
    let copy = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-nats-\(UUID().uuidString).conf")
    try lines.filter { !$0.contains("store_dir:") }.joined(separator: "\n").write(to: copy, atomically: true, encoding: .utf8)
    return try await NATSServer.start(extraArguments: ["-c", copy.path], environment: passwords)
}

/// The aggregator's user, connected.
private func aggregatorConnection(_ server: NATSServer) async throws -> NATSConnection {
    let connection = try await NATSConnection.connect(
        NATSConfiguration(servers: ["nats://aggregator:aggregator-pw@127.0.0.1:\(server.port)"], reconnectWait: .milliseconds(100), connectTimeout: .seconds(2)),
        logger: logger)
    try await withTimeout(.seconds(10), "connected") { await connection.waitFor(.connected) }
    return connection
}

private func violation(_ errors: [String], _ kind: String, _ subject: String) -> Bool {
    errors.contains { $0.contains("Permissions Violation for \(kind) to \"\(subject)\"") || $0.contains("Permissions Violation for \(kind) to \(subject)") }
}

@Suite("NATS permissions of the shipped configuration", .serialized)
struct NATSPermissionsTests {
    @Test func anAgentPublishesItsBatchesAndNothingElse() async throws {
        let server = try await shippedServer()
        defer { server.stop() }
        let agent = try RawNATSClient(port: server.port, user: "agent", password: "agent-pw")
        #expect(try agent.exchange("").errors.isEmpty)
        #expect(try agent.publish("agent.v1.node-1").isEmpty)
        for subject in ["cluster.metrics", "cluster.pods", "$JS.API.STREAM.DELETE.CLUSTER", "$JS.API.STREAM.CREATE.EVIL", "agent.v1.node-1.extra", "_INBOX.x"] {
            #expect(violation(try agent.publish(subject), "Publish", subject), "publish \(subject)")
        }
        // It subscribes to nothing: not another node's batches (`subscribe: []` allowed this),
        // not its inbox, not events.
        for subject in ["agent.v1.>", "agent.v1.node-2", "_INBOX.>", "cluster.>", ">"] {
            #expect(violation(try agent.subscribe(subject), "Subscription", subject), "subscribe \(subject)")
        }
        // A batch another agent publishes never reaches it.
        let other = try RawNATSClient(port: server.port, user: "agent", password: "agent-pw")
        #expect(try other.publish("agent.v1.node-2").isEmpty)
        #expect(try agent.exchange("").messages.isEmpty)
        // Wrong password: refused.
        let thief = try RawNATSClient(port: server.port, user: "agent", password: "guess")
        #expect(try thief.exchange("").errors.contains { $0.contains("Authorization Violation") })
    }

    @Test func theAggregatorRunsEndToEndWithItsUser() async throws {
        let server = try await shippedServer()
        defer { server.stop() }
        let connection = try await aggregatorConnection(server)
        defer { connection.close() }
        // It receives every agent's batches.
        let batches = try await connection.subscribe(to: "agent.v1.>", bufferCapacity: 8)
        try await connection.flush()
        let agent = try RawNATSClient(port: server.port, user: "agent", password: "agent-pw")
        #expect(try agent.publish("agent.v1.node-1", "batch").isEmpty)
        let received = try await withTimeout(.seconds(10), "a batch") { () async -> BusMessage? in
            for await message in batches { return message }
            return nil
        }
        #expect(received?.subject == "agent.v1.node-1")
        // It creates its stream and publishes events with acknowledgements.
        let publisher = try JetStreamPublisher(connection: connection, logger: logger)
        #expect(try await publisher.ensureStream(.cluster) == .created)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await publisher.run() }
            publisher.publish(subject: "cluster.metrics", payload: [1], messageID: "m-1")
            try await withTimeout(.seconds(15), "an ack") {
                for await stats in publisher.statsUpdates() where stats.acknowledged == 1 { return }
            }
            group.cancelAll()
        }
        #expect(publisher.stats.failed == 0)
        // Nothing else of the JetStream API, and no agent subjects.
        let raw = try RawNATSClient(port: server.port, user: "aggregator", password: "aggregator-pw")
        for subject in ["$JS.API.STREAM.DELETE.CLUSTER", "$JS.API.STREAM.PURGE.CLUSTER", "agent.v1.node-1"] {
            #expect(violation(try raw.publish(subject), "Publish", subject), "publish \(subject)")
        }
    }

    @Test func alertingConsumesTheStreamAndCannotPublishEvents() async throws {
        let server = try await shippedServer()
        defer { server.stop() }
        let connection = try await aggregatorConnection(server)
        defer { connection.close() }
        let publisher = try JetStreamPublisher(connection: connection, logger: logger)
        _ = try await publisher.ensureStream(.cluster)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await publisher.run() }
            publisher.publish(subject: "cluster.pods", payload: [7], messageID: "p-1")
            try await withTimeout(.seconds(15), "an ack") {
                for await stats in publisher.statsUpdates() where stats.acknowledged == 1 { return }
            }
            group.cancelAll()
        }
        // An ephemeral consumer of its own reads what was stored.
        let messages = try JetStreamReader.readAll(url: "nats://alerting:alerting-pw@127.0.0.1:\(server.port)", stream: "CLUSTER", subject: "cluster.>")
        #expect(messages.map(\.subject) == ["cluster.pods"] && messages.first?.payload == [7])
        let alerting = try RawNATSClient(port: server.port, user: "alerting", password: "alerting-pw")
        for subject in ["cluster.metrics", "cluster.pods", "$JS.API.STREAM.DELETE.CLUSTER", "$JS.API.STREAM.UPDATE.CLUSTER", "agent.v1.node-1"] {
            #expect(violation(try alerting.publish(subject), "Publish", subject), "publish \(subject)")
        }
        #expect(violation(try alerting.subscribe("agent.v1.>"), "Subscription", "agent.v1.>"))
    }
}
