import Testing
import TestSupport
@testable import Messaging

@Suite("In-process bus: NATS semantics without a server")
struct InProcessBusTests {
    @Test func wildcardSubscriptionReceivesMatchingSubjectsOnly() async throws {
        let bus = InProcessBus()
        let all = try await bus.subscribe(to: "agent.v1.>", bufferCapacity: 8)
        let one = try await bus.subscribe(to: "agent.v1.*", bufferCapacity: 8)
        try bus.publish(subject: "agent.v1.node-a", payload: [1])
        try bus.publish(subject: "agent.v1.node-a.extra", payload: [2])
        try bus.publish(subject: "cluster.metrics", payload: [3])
        #expect(try await collect(2, from: all).map(\.payload) == [[1], [2]])
        #expect(try await collect(1, from: one).map(\.payload) == [[1]])
    }

    @Test func fullBufferKeepsNewestAndCountsDrops() async throws {
        let bus = InProcessBus()
        let subscription = try await bus.subscribe(to: "agent.v1.>", bufferCapacity: 2)
        for i in 0..<10 { try bus.publish(subject: "agent.v1.n", payload: [UInt8(i)]) }
        #expect(subscription.droppedCount == 8)
        #expect(try await collect(2, from: subscription).map(\.payload) == [[8], [9]])
    }

    @Test func oversizedPayloadAndInvalidSubjectAreRejected() async throws {
        let bus = InProcessBus(maxPayloadBytes: 16)
        #expect(throws: MessagingError.self) { try bus.publish(subject: "a", payload: Array(repeating: 0, count: 17)) }
        #expect(throws: MessagingError.self) { try bus.publish(subject: "agent.*", payload: []) }
        #expect(throws: MessagingError.self) { try bus.publish(subject: "agent..x", payload: []) }
    }

    @Test func cancelledSubscriptionStopsReceiving() async throws {
        let bus = InProcessBus()
        let subscription = try await bus.subscribe(to: "x", bufferCapacity: 4)
        subscription.cancel()
        try bus.publish(subject: "x", payload: [1])
        var received = 0
        for await _ in subscription { received += 1 }
        #expect(received == 0)
    }

    @Test func streamDeduplicatesByMessageIDAndDeliversToSubscribers() async throws {
        let bus = InProcessBus()
        #expect(try await bus.ensureStream(.cluster) == .created)
        #expect(try await bus.ensureStream(.cluster) == .unchanged)
        let live = try await bus.subscribe(to: "cluster.>", bufferCapacity: 8)
        bus.publish(subject: "cluster.metrics", payload: [1], messageID: "m1")
        bus.publish(subject: "cluster.metrics", payload: [1], messageID: "m1")
        bus.publish(subject: "cluster.pods", payload: [2], messageID: "p1")
        bus.publish(subject: "elsewhere", payload: [3], messageID: "e1")
        let stats = bus.stats
        #expect(stats.acknowledged == 2)
        #expect(stats.duplicates == 1)
        #expect(stats.failed == 1)
        #expect(try await bus.streamInfo(named: "CLUSTER")?.messages == 2)
        #expect(bus.storedMessages(stream: "CLUSTER").map(\.subject) == ["cluster.metrics", "cluster.pods"])
        #expect(try await collect(2, from: live).map(\.payload) == [[1], [2]])
    }

    @Test func streamLimitsDiscardOldest() async throws {
        let bus = InProcessBus()
        _ = try await bus.ensureStream(StreamConfig(name: "S", subjects: ["s.>"], maxMessages: 3))
        for i in 0..<5 { bus.publish(subject: "s.x", payload: [UInt8(i)], messageID: "id-\(i)") }
        #expect(bus.storedMessages(stream: "S").map(\.payload) == [[2], [3], [4]])
    }

    @Test func closingEndsSubscriptionsAndStateUpdates() async throws {
        let bus = InProcessBus()
        let subscription = try await bus.subscribe(to: "x", bufferCapacity: 4)
        bus.close()
        var received = 0
        for await _ in subscription { received += 1 }
        #expect(received == 0)
        #expect(bus.state == .closed)
        #expect(throws: MessagingError.self) { try bus.publish(subject: "x", payload: []) }
        var states: [ConnectionState] = []
        for await state in bus.stateUpdates() { states.append(state) }
        #expect(states == [.closed])
    }
}

@Suite("NATS subject patterns")
struct SubjectPatternTests {
    @Test(arguments: [
        ("agent.v1.>", "agent.v1.node-a", true),
        ("agent.v1.>", "agent.v1", false),
        ("agent.v1.>", "agent.v1.a.b", true),
        ("agent.*.x", "agent.v1.x", true),
        ("agent.*.x", "agent.v1.y", false),
        ("agent.*", "agent.v1.x", false),
        ("cluster.metrics", "cluster.metrics", true),
        ("cluster.metrics", "cluster.pods", false),
    ])
    func matches(pattern: String, subject: String, expected: Bool) {
        #expect(SubjectPattern(pattern).matches(subject) == expected)
    }

    @Test func redactsCredentialsInServerURLs() {
        let configuration = NATSConfiguration(servers: ["nats://user:pa55@nats:4222,nats://other:4222"], password: "pa55")
        #expect(configuration.servers.count == 2)
        #expect(!configuration.description.contains("pa55"))
        #expect(configuration.description.contains("nats://***@nats:4222"))
    }
}
