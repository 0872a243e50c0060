import Logging
import ServiceLifecycle
import Testing
import TestSupport
@testable import Messaging

private let logger = Logger(label: "test.jetstream")

private func connect(_ server: NATSServer) async throws -> NATSConnection {
    let connection = try await NATSConnection.connect(
        NATSConfiguration(servers: [server.url], reconnectWait: .milliseconds(100), connectTimeout: .seconds(2)), logger: logger)
    try await withTimeout(.seconds(10), "connected") { await connection.waitFor(.connected) }
    return connection
}

/// Runs the publisher's send loop for the duration of `body`.
private func running<T: Sendable>(_ publisher: JetStreamPublisher, _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await publisher.run(); return nil }
        let result = try await body()
        group.cancelAll()
        return result
    }
}

/// Waits until the publisher's counts satisfy `condition` (acks arrive on libnats' thread).
private func awaitStats(_ publisher: JetStreamPublisher, _ what: String, _ condition: @escaping @Sendable (PublishStats) -> Bool) async throws {
    try await withTimeout(.seconds(15), what) {
        for await stats in publisher.statsUpdates() where condition(stats) { return }
    }
}

@Suite("JetStream on a real nats-server", .serialized)
struct JetStreamTests {
    @Test func clusterStreamIsCreatedWithTheReferenceConfigAndUpdatedNotDuplicated() async throws {
        let server = try await NATSServer.start()
        defer { server.stop() }
        let first = try JetStreamPublisher(connection: try await connect(server), logger: logger)
        #expect(try await first.ensureStream(.cluster) == .created)

        let info = try #require(try await first.streamInfo(named: "CLUSTER"))
        #expect(info.config.name == "CLUSTER")
        #expect(info.config.subjects == ["cluster.>"])
        #expect(info.config.retention == .limits)
        #expect(info.config.maxMessages == 1_000_000)
        #expect(info.config.maxBytes == 1 << 30)
        #expect(info.config.maxAge == .seconds(7 * 24 * 3600))
        #expect(info.config.storage == .file)

        // A second aggregator start: same config, nothing to do.
        let second = try JetStreamPublisher(connection: try await connect(server), logger: logger)
        #expect(try await second.ensureStream(.cluster) == .unchanged)

        // A stream left by an older version with other limits is brought back to the reference.
        var old = StreamConfig.cluster
        old.maxMessages = 10
        #expect(try await second.ensureStream(old) == .updated)
        #expect(try await second.streamInfo(named: "CLUSTER")?.config.maxMessages == 10)
        #expect(try await first.ensureStream(.cluster) == .updated)
        #expect(try await first.streamInfo(named: "CLUSTER")?.config == info.config)
    }

    @Test func publishWithAckDeduplicatesByMessageID() async throws {
        let server = try await NATSServer.start()
        defer { server.stop() }
        let connection = try await connect(server)
        let publisher = try JetStreamPublisher(connection: connection, logger: logger)
        _ = try await publisher.ensureStream(.cluster)
        let consumer = try await connect(server)
        let subscription = try await consumer.subscribe(to: "cluster.>", bufferCapacity: 16)
        try await consumer.flush()

        try await running(publisher) {
            publisher.publish(subject: "cluster.metrics", payload: [1], messageID: "metrics-100")
            publisher.publish(subject: "cluster.pods", payload: [2], messageID: "pods-100")
            // A second replica publishing the same event: acknowledged as a duplicate, not stored.
            publisher.publish(subject: "cluster.metrics", payload: [1], messageID: "metrics-100")
            try await awaitStats(publisher, "three acks") { $0.acknowledged + $0.duplicates == 3 }
        }
        #expect(publisher.stats.acknowledged == 2)
        #expect(publisher.stats.duplicates == 1)
        #expect(publisher.stats.failed == 0)
        #expect(try await publisher.streamInfo(named: "CLUSTER")?.messages == 2)
        let seen = try await collect(2, from: subscription)
        #expect(Set(seen.map(\.subject)) == ["cluster.metrics", "cluster.pods"])
    }

    @Test func publishNeverBlocksWhileServerIsDownAndResumesAfterRestart() async throws {
        var server = try await NATSServer.start()
        let connection = try await connect(server)
        let publisher = try JetStreamPublisher(connection: connection, logger: logger, queueCapacity: 4)
        _ = try await publisher.ensureStream(.cluster)

        try await running(publisher) {
            server.stop()
            try await withTimeout(.seconds(10), "disconnect noticed") { await connection.waitForDisconnect() }
            // Ten events while down: each call returns at once. The sender holds one while it
            // waits for the connection; the queue keeps the newest 4 of the rest.
            let accepted = try await withTimeout(.seconds(5), "ten publishes while down") {
                (0..<10).map { i in publisher.publish(subject: "cluster.metrics", payload: [UInt8(i)], messageID: "m-\(i)") }
            }
            let dropped = accepted.filter { !$0 }.count
            #expect((5...6).contains(dropped))
            #expect(publisher.stats.dropped == dropped)

            server = try await server.restarted()
            try await withTimeout(.seconds(15), "reconnected") { await connection.waitFor(.connected) }
            try await awaitStats(publisher, "queued events acknowledged after restart") { $0.acknowledged == 10 - dropped }
        }
        defer { server.stop() }
        let stats = publisher.stats
        #expect(stats.enqueued == 10)
        #expect(stats.failed == 0)
        #expect(try await publisher.streamInfo(named: "CLUSTER")?.messages == UInt64(stats.acknowledged))
    }

    /// A shutdown while NATS is away ends at once: the queued events are counted as dropped
    /// (before, the send loop waited for a reconnection that never came, and the aggregator
    /// hung on SIGTERM).
    @Test func gracefulShutdownWhileServerIsDownDoesNotWaitForIt() async throws {
        let server = try await NATSServer.start()
        let connection = try await connect(server)
        defer { connection.close() }
        let publisher = try JetStreamPublisher(connection: connection, logger: logger)
        _ = try await publisher.ensureStream(.cluster)
        let group = ServiceGroup(configuration: .init(services: [.init(service: publisher)], logger: logger))
        let running = Task { try await group.run() }

        server.stop()
        try await withTimeout(.seconds(10), "disconnect noticed") { await connection.waitForDisconnect() }
        for i in 0..<3 { publisher.publish(subject: "cluster.metrics", payload: [UInt8(i)], messageID: "down-\(i)") }
        // Let the sender take the first event and wait for the connection (a shutdown that
        // came first would end the loop before it waits, and prove nothing).
        try await Task.sleep(for: .milliseconds(300))
        await group.triggerGracefulShutdown()
        try await withTimeout(.seconds(10), "shutdown while NATS is down") {
            // On the time-out, cancel the group, so that a hang fails the test instead of CI.
            try await withTaskCancellationHandler { try await running.value } onCancel: { running.cancel() }
        }
        let stats = publisher.stats
        #expect(stats.enqueued == 3)
        #expect(stats.dropped == 3, "\(stats)")
        #expect(stats.acknowledged == 0)
    }
}
