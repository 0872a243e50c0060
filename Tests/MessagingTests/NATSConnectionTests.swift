import Logging
import Testing
import TestSupport
@testable import Messaging

private let logger = Logger(label: "test.nats")

private func connect(_ server: NATSServer, _ tweak: (inout NATSConfiguration) -> Void = { _ in }) async throws -> NATSConnection {
    var configuration = NATSConfiguration(servers: [server.url], reconnectWait: .milliseconds(100), connectTimeout: .seconds(2))
    tweak(&configuration)
    let connection = try await NATSConnection.connect(configuration, logger: logger)
    try await withTimeout(.seconds(10), "connected") { await connection.waitFor(.connected) }
    return connection
}

@Suite("NATS core publish/subscribe on a real nats-server", .serialized)
struct NATSCoreTests {
    @Test func publishedMessageArrivesOnWildcardSubscription() async throws {
        let server = try await NATSServer.start()
        defer { server.stop() }
        let publisher = try await connect(server)
        let consumer = try await connect(server)
        let subscription = try await consumer.subscribe(to: "agent.v1.>", bufferCapacity: 16)
        try await consumer.flush()

        try publisher.publish(subject: "agent.v1.node-a", payload: [1, 2, 3])
        try publisher.publish(subject: "other.subject", payload: [9])
        try publisher.publish(subject: "agent.v1.node-b", payload: Array(repeating: 7, count: 100_000))
        try await publisher.flush()

        let received = try await collect(2, from: subscription)
        #expect(received.map(\.subject) == ["agent.v1.node-a", "agent.v1.node-b"])
        #expect(received[0].payload == [1, 2, 3])
        #expect(received[1].payload.count == 100_000)
        #expect(subscription.droppedCount == 0)
    }

    @Test func oversizedPayloadIsRejectedAndCounted() async throws {
        let server = try await NATSServer.start()
        defer { server.stop() }
        let connection = try await connect(server)
        #expect(connection.maxPayloadBytes == 1 << 20)
        let error = #expect(throws: MessagingError.self) {
            try connection.publish(subject: "agent.v1.big", payload: Array(repeating: 0, count: connection.maxPayloadBytes + 1))
        }
        #expect(error?.kind == .payloadTooLarge)
        #expect(connection.publishFailureCount == 1)
    }

    @Test func userPasswordAndTokenAuthentication() async throws {
        let userServer = try await NATSServer.start(extraArguments: ["--user", "agent", "--pass", "s3cret"])
        defer { userServer.stop() }
        let withUser = try await connect(userServer) { $0.user = "agent"; $0.password = "s3cret" }
        #expect(withUser.state == .connected)
        #expect(!withUser.configuration.description.contains("s3cret"))

        let tokenServer = try await NATSServer.start(extraArguments: ["--auth", "t0ken"])
        defer { tokenServer.stop() }
        let withToken = try await connect(tokenServer) { $0.token = "t0ken" }
        let subscription = try await withToken.subscribe(to: "x", bufferCapacity: 1)
        try await withToken.flush()
        try withToken.publish(subject: "x", payload: [1])
        #expect(try await collect(1, from: subscription).first?.payload == [1])
        #expect(!withToken.configuration.description.contains("t0ken"))
    }

    @Test func unreadableCredentialsFileIsAConfigurationError() async throws {
        let error = await #expect(throws: MessagingError.self) {
            _ = try await NATSConnection.connect(NATSConfiguration(servers: ["nats://127.0.0.1:1"], credentialsFile: "/nonexistent/agent.creds"), logger: logger)
        }
        #expect(error?.kind == .configuration)
        #expect(error?.description.contains("/nonexistent/agent.creds") == true)
    }
}

@Suite("NATS outages: reconnect, resume, never block", .serialized)
struct NATSOutageTests {
    @Test func clientStartedBeforeServerConnectsWhenServerComesUp() async throws {
        // Learn a free port from a first server, then stop it: the agent starts before NATS.
        let probe = try await NATSServer.start()
        probe.stop()
        let connection = try await NATSConnection.connect(
            NATSConfiguration(servers: [probe.url], reconnectWait: .milliseconds(100), connectTimeout: .milliseconds(500)), logger: logger)
        #expect(connection.state != .connected)
        let server = try await probe.restarted()
        defer { server.stop() }
        try await withTimeout(.seconds(15), "connected after the server started") { await connection.waitFor(.connected) }
        #expect(connection.state == .connected)
    }

    @Test func reconnectsAfterServerRestartAndSubscriptionResumes() async throws {
        var server = try await NATSServer.start()
        let connection = try await connect(server)
        let subscription = try await connection.subscribe(to: "agent.v1.>", bufferCapacity: 16)
        try await connection.flush()
        try connection.publish(subject: "agent.v1.before", payload: [1])
        #expect(try await collect(1, from: subscription).first?.subject == "agent.v1.before")

        let states = connection.stateUpdates()
        server.stop()
        try await withTimeout(.seconds(10), "disconnect noticed") {
            for await state in states where state == .reconnecting || state == .disconnected { return }
        }
        server = try await server.restarted()
        defer { server.stop() }
        try await withTimeout(.seconds(15), "reconnected") { await connection.waitFor(.connected) }

        try connection.publish(subject: "agent.v1.after", payload: [2])
        try await connection.flush()
        #expect(try await collect(1, from: subscription).first?.subject == "agent.v1.after")
    }

    @Test func publishingWhileServerIsDownNeitherBlocksNorCrashesAndIsCounted() async throws {
        let server = try await NATSServer.start()
        let connection = try await connect(server) { $0.reconnectBufferBytes = 4096 }
        server.stop()
        try await withTimeout(.seconds(10), "disconnect noticed") { await connection.waitForDisconnect() }
        // 100 publishes of 1 KiB against a 4 KiB reconnect buffer: the first few are buffered,
        // the rest fail at once with an error and are counted; none waits for the network.
        // The bound turns a publish that waits for the network into a failure, not a hang.
        let failures = try await withTimeout(.seconds(30), "100 publishes while disconnected") {
            var failures = 0
            for _ in 0..<100 {
                do { try connection.publish(subject: "agent.v1.n", payload: Array(repeating: 1, count: 1024)) } catch { failures += 1 }
            }
            return failures
        }
        #expect(failures >= 95)
        #expect(connection.publishFailureCount == failures)
    }
}
