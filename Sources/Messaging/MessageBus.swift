/// One message as it travels over a bus: a subject and opaque bytes.
public struct BusMessage: Sendable, Equatable {
    public var subject: String
    public var payload: [UInt8]

    public init(subject: String, payload: [UInt8]) {
        self.subject = subject
        self.payload = payload
    }
}

/// Where a connection to the message system stands.
public enum ConnectionState: String, Sendable, Equatable {
    case connecting, connected, disconnected, reconnecting, closed
}

/// Core publish/subscribe: what agents use to ship batches and aggregators to receive them.
///
/// Two implementations: `NATSConnection` (libnats) for real deployments and `InProcessBus`
/// for `clustermon dev` and unit tests. Both behave the same where callers can tell.
public protocol MessageBus: Sendable {
    /// Queues one message for sending and returns at once: it never waits for the network.
    /// Throws when the message cannot be accepted (larger than `maxPayloadBytes`, the
    /// connection closed, or its buffer for a disconnected period full).
    func publish(subject: String, payload: [UInt8]) throws

    /// Subscribes to a subject (NATS wildcards `*` and `>` allowed). Messages arrive on the
    /// returned sequence; when its buffer of `bufferCapacity` is full the oldest waiting
    /// message is dropped and counted.
    func subscribe(to subject: String, bufferCapacity: Int) async throws -> BusSubscription

    /// The largest payload the server accepts (NATS `max_payload`, 1 MiB by default).
    var maxPayloadBytes: Int { get }

    /// The connection's current state.
    var state: ConnectionState { get }

    /// Every later state change, starting with the current state.
    func stateUpdates() -> AsyncStream<ConnectionState>
}

extension MessageBus {
    /// Waits until the connection is in `target` state, or the calling task is cancelled.
    public func waitFor(_ target: ConnectionState) async {
        for await state in stateUpdates() where state == target { return }
    }

    /// nil while connected, else why not (a readiness probe's line).
    public var notReadyReason: String? { state == .connected ? nil : "connection \(state.rawValue)" }

    /// Waits until the connection leaves `.connected` (or closes).
    public func waitForDisconnect() async {
        for await state in stateUpdates() where state != .connected { return }
    }
}
