import ServiceLifecycle

/// A JetStream stream's configuration: the parts clustermon sets.
public struct StreamConfig: Sendable, Equatable {
    public enum Retention: String, Sendable { case limits, interest, workQueue }
    public enum Storage: String, Sendable { case file, memory }

    public var name: String
    public var subjects: [String]
    public var retention: Retention
    public var maxMessages: Int64
    public var maxBytes: Int64
    public var maxAge: Duration
    public var storage: Storage
    /// How long the server remembers message ids for de-duplication.
    public var duplicateWindow: Duration
    public var replicas: Int

    public init(
        name: String, subjects: [String], retention: Retention = .limits, maxMessages: Int64 = -1,
        maxBytes: Int64 = -1, maxAge: Duration = .zero, storage: Storage = .file,
        duplicateWindow: Duration = .seconds(120), replicas: Int = 1
    ) {
        self.name = name
        self.subjects = subjects
        self.retention = retention
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.storage = storage
        self.duplicateWindow = duplicateWindow
        self.replicas = replicas
    }

    /// The Cluster Monitor stream that the alerting service consumes (REFERENCE.md §1).
    public static let cluster = StreamConfig(
        name: "CLUSTER",
        subjects: ["cluster.>"],
        retention: .limits,
        maxMessages: 1_000_000,
        maxBytes: 1 << 30,
        maxAge: .seconds(7 * 24 * 3600),
        storage: .file
    )
}

/// What `ensureStream` did.
public enum StreamSetup: String, Sendable { case created, updated, unchanged }

/// A stream as the server reports it.
public struct StreamInfo: Sendable, Equatable {
    public var config: StreamConfig
    public var messages: UInt64
}

/// Counts of what an event publisher did since it started.
public struct PublishStats: Sendable, Equatable {
    /// Accepted by `publish`.
    public var enqueued = 0
    /// Stored by the stream.
    public var acknowledged = 0
    /// Acknowledged as a duplicate of an earlier message id (not stored again).
    public var duplicates = 0
    /// Rejected by the server or timed out.
    public var failed = 0
    /// Pushed out of the bounded queue by newer events while the server was unreachable, or
    /// still queued when the publisher stopped (NATS unreachable at shutdown).
    public var dropped = 0

    public init() {}
}

/// Persistent publishing with de-duplication: JetStream on NATS, or the in-process bus.
///
/// `publish` never blocks: it queues (bounded; the oldest waiting event is dropped when the
/// queue is full) and `run()` sends, with a bounded number awaiting acknowledgement.
public protocol EventPublisher: Service {
    /// Creates the stream, or updates it when its configuration differs.
    func ensureStream(_ config: StreamConfig) async throws -> StreamSetup
    /// The stream's configuration and message count, nil when it does not exist.
    func streamInfo(named name: String) async throws -> StreamInfo?
    /// Queues one event; false when it displaced an older queued event.
    @discardableResult
    func publish(subject: String, payload: [UInt8], messageID: String) -> Bool
    var stats: PublishStats { get }
    /// The counts now and after every change, to await acknowledgements.
    func statsUpdates() -> AsyncStream<PublishStats>
}
