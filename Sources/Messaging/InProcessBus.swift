import ServiceLifecycle
import Synchronization

/// NATS semantics inside one process: core publish/subscribe with wildcards, and streams
/// that store events with message-id de-duplication. Used by `clustermon dev` (no NATS
/// needed) and by unit tests.
public final class InProcessBus: MessageBus, EventPublisher {
    private struct Subscriber {
        let pattern: SubjectPattern
        let sink: BusSubscription.Sink
    }

    private struct Stream {
        var config: StreamConfig
        var messages: [BusMessage] = []
        var bytes = 0
        /// Message ids within the duplicate window, oldest first (like the server's).
        var recentIDs: [(id: String, at: ContinuousClock.Instant)] = []
        var recentIDSet: Set<String> = []

        mutating func remember(_ id: String, now: ContinuousClock.Instant) -> Bool {
            let horizon = now - config.duplicateWindow
            let expired = recentIDs.prefix { $0.at < horizon }.count
            for entry in recentIDs.prefix(expired) { recentIDSet.remove(entry.id) }
            recentIDs.removeFirst(expired)
            guard recentIDSet.insert(id).inserted else { return false }
            recentIDs.append((id, now))
            return true
        }

        mutating func store(_ message: BusMessage) {
            messages.append(message)
            bytes += message.payload.count
            while (config.maxMessages > 0 && messages.count > config.maxMessages)
                || (config.maxBytes > 0 && bytes > config.maxBytes) {
                bytes -= messages.removeFirst().payload.count
            }
        }
    }

    private struct Inner {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        var streams: [String: Stream] = [:]
        var closed = false
    }

    private let inner = Mutex(Inner())
    private let statsBox = Observed(PublishStats())
    private let stateBox = Observed<ConnectionState>(.connected)
    public let maxPayloadBytes: Int

    public init(maxPayloadBytes: Int = 1 << 20) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    public var state: ConnectionState { stateBox.value }
    public func stateUpdates() -> AsyncStream<ConnectionState> { stateBox.updates() }

    public func publish(subject: String, payload: [UInt8]) throws {
        guard payload.count <= maxPayloadBytes else {
            throw MessagingError(.payloadTooLarge, "publish \(subject)", reason: "\(payload.count) bytes exceeds max_payload of \(maxPayloadBytes)")
        }
        guard SubjectPattern.isValidPublishSubject(subject) else {
            throw MessagingError(.publish, "publish \(subject)", reason: "invalid subject")
        }
        let sinks: [BusSubscription.Sink] = try inner.withLock { inner in
            guard !inner.closed else { throw MessagingError(.closed, "publish \(subject)", reason: "bus closed") }
            return inner.subscribers.values.filter { $0.pattern.matches(subject) }.map(\.sink)
        }
        let message = BusMessage(subject: subject, payload: payload)
        for sink in sinks { sink.deliver(message) }
    }

    public func subscribe(to subject: String, bufferCapacity: Int) async throws -> BusSubscription {
        let id = inner.withLock { inner -> Int in
            defer { inner.nextID += 1 }
            return inner.nextID
        }
        let subscription = BusSubscription(subject: subject, bufferCapacity: bufferCapacity) { [weak self] in
            _ = self?.inner.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        inner.withLock { $0.subscribers[id] = Subscriber(pattern: SubjectPattern(subject), sink: subscription.producer) }
        return subscription
    }

    /// Closes the bus: subscriptions end, publishing fails.
    public func close() {
        let sinks = inner.withLock { inner -> [BusSubscription.Sink] in
            inner.closed = true
            defer { inner.subscribers = [:] }
            return inner.subscribers.values.map(\.sink)
        }
        sinks.forEach { $0.finish() }
        stateBox.set(.closed)
        stateBox.finish()
    }

    // MARK: EventPublisher

    public func ensureStream(_ config: StreamConfig) async throws -> StreamSetup {
        inner.withLock { inner in
            guard let existing = inner.streams[config.name] else {
                inner.streams[config.name] = Stream(config: config)
                return .created
            }
            if existing.config == config { return .unchanged }
            inner.streams[config.name]?.config = config
            return .updated
        }
    }

    public func streamInfo(named name: String) async throws -> StreamInfo? {
        inner.withLock { inner in
            inner.streams[name].map { StreamInfo(config: $0.config, messages: UInt64($0.messages.count)) }
        }
    }

    /// Messages stored in a stream, oldest first.
    public func storedMessages(stream name: String) -> [BusMessage] {
        inner.withLock { $0.streams[name]?.messages ?? [] }
    }

    @discardableResult
    public func publish(subject: String, payload: [UInt8], messageID: String) -> Bool {
        let stored = inner.withLock { inner -> Bool in
            statsBox.update { $0.enqueued += 1 }
            guard let name = inner.streams.first(where: { $0.value.config.subjects.contains { SubjectPattern($0).matches(subject) } })?.key else {
                statsBox.update { $0.failed += 1 }  // like JetStream: no stream listens on this subject
                return false
            }
            guard inner.streams[name]!.remember(messageID, now: .now) else {
                statsBox.update { $0.duplicates += 1 }
                return false
            }
            inner.streams[name]!.store(BusMessage(subject: subject, payload: payload))
            statsBox.update { $0.acknowledged += 1 }
            return true
        }
        if stored { try? publish(subject: subject, payload: payload) }
        return true
    }

    public var stats: PublishStats { statsBox.value }
    public func statsUpdates() -> AsyncStream<PublishStats> { statsBox.updates() }

    /// Nothing to drain: in-process publishing completes synchronously.
    public func run() async throws {
        try? await gracefulShutdown()
    }
}
