import CNATS
import Dispatch
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Counts acknowledgements; shared with libnats' ack handler through its closure argument.
private final class AckCounter: Sendable {
    let stats: Observed<PublishStats>
    let logger: Logger
    let acked = Counter(label: "clustermon_jetstream_acked_total")
    let duplicates = Counter(label: "clustermon_jetstream_duplicates_total")
    let failures = Counter(label: "clustermon_jetstream_failures_total")

    init(stats: Observed<PublishStats>, logger: Logger) {
        self.stats = stats
        self.logger = logger
    }

    func failed(_ reason: String) {
        stats.update { $0.failed += 1 }
        failures.increment()
        logger.warning("jetstream publish failed", metadata: ["error": "\(reason)"])
    }
}

private let onAck: jsPubAckHandler = { _, message, ack, ackError, closure in
    defer { natsMsg_Destroy(message) }
    guard let closure else { return }
    let counter = Unmanaged<AckCounter>.fromOpaque(closure).takeUnretainedValue()
    if let ack {
        let duplicate = ack.pointee.Duplicate
        counter.stats.update { duplicate ? ($0.duplicates += 1) : ($0.acknowledged += 1) }
        duplicate ? counter.duplicates.increment() : counter.acked.increment()
    } else if let ackError {
        let text = ackError.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(ackError.pointee.Err))
        counter.failed(text)
    }
}

/// Publishes events to JetStream with message ids, without ever blocking its callers.
///
/// `publish` puts the event in a bounded queue; `run()` (a `Service`) drains it while the
/// connection is up, through libnats' async publish with at most `maxInFlight` awaiting an
/// acknowledgement. While NATS is down the queue keeps the newest `queueCapacity` events.
public final class JetStreamPublisher: EventPublisher {
    private struct Pending: Sendable {
        var subject: String
        var payload: [UInt8]
        var messageID: String
    }

    private let connection: NATSConnection
    private let context: NATSHandle
    private let counter: Unmanaged<AckCounter>
    private let statsBox: Observed<PublishStats>
    private let queue: AsyncStream<Pending>
    private let queueInput: AsyncStream<Pending>.Continuation
    private let logger: Logger
    private let ackTimeout: Duration
    private let droppedCounter = Counter(label: "clustermon_jetstream_dropped_total")
    private let sender = DispatchQueue(label: "clustermon.jetstream.publish")

    public init(connection: NATSConnection, logger: Logger, queueCapacity: Int = 1024, maxInFlight: Int = 256, ackTimeout: Duration = .seconds(5)) throws {
        self.connection = connection
        self.logger = logger
        self.ackTimeout = ackTimeout
        let stats = Observed(PublishStats())
        self.statsBox = stats
        let counter = Unmanaged.passRetained(AckCounter(stats: stats, logger: logger))
        self.counter = counter
        (queue, queueInput) = AsyncStream<Pending>.makeStream(bufferingPolicy: .bufferingNewest(queueCapacity))

        var options = jsOptions()
        jsOptions_Init(&options)
        options.PublishAsync.MaxPending = Int64(maxInFlight)
        options.PublishAsync.AckHandler = onAck
        options.PublishAsync.AckHandlerClosure = counter.toOpaque()
        // The sender waits here when maxInFlight are pending: it is our own thread, never a caller's.
        options.PublishAsync.StallWait = ackTimeout.milliseconds
        var js: OpaquePointer?
        let status = natsConnection_JetStream(&js, connection.handle.pointer, &options)
        guard status == NATS_OK, let js else {
            counter.release()
            throw MessagingError(.jetStream, "open JetStream context", status: status)
        }
        context = NATSHandle(js)
    }

    deinit {
        queueInput.finish()
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = 1000
        // Acks still in flight would call back into the counter: only release it when none are.
        let drained = js_PublishAsyncComplete(context.pointer, &options) == NATS_OK
        jsCtx_Destroy(context.pointer)
        if drained { counter.release() }
    }

    public var stats: PublishStats { statsBox.value }

    /// The counts now and after every change, to await acknowledgements.
    public func statsUpdates() -> AsyncStream<PublishStats> { statsBox.updates() }

    @discardableResult
    public func publish(subject: String, payload: [UInt8], messageID: String) -> Bool {
        statsBox.update { $0.enqueued += 1 }
        if case .dropped = queueInput.yield(Pending(subject: subject, payload: payload, messageID: messageID)) {
            statsBox.update { $0.dropped += 1 }
            droppedCounter.increment()
            return false
        }
        return true
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            var handed = 0
            for await pending in queue.cancelOnGracefulShutdown() {
                if connection.state != .connected {
                    // Wait for the server, but not past shutdown (a shutdown that waits for
                    // NATS never ends while NATS is away).
                    let connection = self.connection
                    await cancelWhenGracefulShutdown { await connection.waitFor(.connected) }
                    if Task.isCancelled || connection.state != .connected { break }
                }
                await send(pending)
                handed += 1
            }
            // What was still queued when the service stopped is lost: counted and logged.
            let stats = statsBox.value
            let unsent = stats.enqueued - stats.dropped - handed
            if unsent > 0 {
                statsBox.update { $0.dropped += unsent }
                droppedCounter.increment(by: unsent)
                logger.warning("events not sent before shutdown", metadata: ["events": "\(unsent)", "nats": "\(connection.state.rawValue)"])
            }
        } onGracefulShutdown: { [queueInput] in
            queueInput.finish()
        }
    }

    private func send(_ pending: Pending) async {
        let context = self.context
        let timeout = ackTimeout.milliseconds
        let status: natsStatus = await withCheckedContinuation { continuation in
            sender.async {
                var options = jsPubOptions()
                jsPubOptions_Init(&options)
                options.MaxWait = timeout
                let status = pending.messageID.withCString { id in
                    options.MsgId = id
                    return pending.payload.withUnsafeBytes { bytes in
                        js_PublishAsync(context.pointer, pending.subject, bytes.baseAddress, Int32(bytes.count), &options)
                    }
                }
                continuation.resume(returning: status)
            }
        }
        if status != NATS_OK {
            counter.takeUnretainedValue().failed("\(pending.subject): \(String(cString: natsStatus_GetText(status)))")
        }
    }

    /// Waits until every event sent so far is acknowledged or failed, up to `timeout`.
    public func waitForAcknowledgements(timeout: Duration = .seconds(5)) async throws {
        let context = self.context
        try await NATSConnection.runBlocking {
            var options = jsPubOptions()
            jsPubOptions_Init(&options)
            options.MaxWait = timeout.milliseconds
            try check(js_PublishAsyncComplete(context.pointer, &options), .jetStream, "wait for acknowledgements")
        }
    }

    public func ensureStream(_ config: StreamConfig) async throws -> StreamSetup {
        let context = self.context
        let logger = self.logger
        return try await NATSConnection.runBlocking {
            let existing = try Self.info(context, name: config.name)
            if existing == nil {
                try Self.write(context, config, update: false)
                logger.info("jetstream stream created", metadata: ["stream": "\(config.name)"])
                return .created
            }
            if existing?.config == config { return .unchanged }
            try Self.write(context, config, update: true)
            logger.info("jetstream stream updated", metadata: ["stream": "\(config.name)"])
            return .updated
        }
    }

    public func streamInfo(named name: String) async throws -> StreamInfo? {
        let context = self.context
        return try await NATSConnection.runBlocking { try Self.info(context, name: name) }
    }

    private static func info(_ context: NATSHandle, name: String) throws -> StreamInfo? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, context.pointer, name, nil, &code)
        if status == NATS_NOT_FOUND || code == JSStreamNotFoundErr { return nil }
        try check(status, .jetStream, "stream info \(name)")
        guard let info else { return nil }
        defer { jsStreamInfo_Destroy(info) }
        guard let c = info.pointee.Config?.pointee else { return nil }
        let subjects = (0..<Int(c.SubjectsLen)).compactMap { c.Subjects[$0].map { String(cString: $0) } }
        let config = StreamConfig(
            name: String(cString: c.Name),
            subjects: subjects,
            retention: c.Retention == js_InterestPolicy ? .interest : c.Retention == js_WorkQueuePolicy ? .workQueue : .limits,
            maxMessages: c.MaxMsgs,
            maxBytes: c.MaxBytes,
            maxAge: .nanoseconds(c.MaxAge),
            storage: c.Storage == js_MemoryStorage ? .memory : .file,
            duplicateWindow: .nanoseconds(c.Duplicates),
            replicas: Int(c.Replicas)
        )
        return StreamInfo(config: config, messages: info.pointee.State.Msgs)
    }

    private static func write(_ context: NATSHandle, _ config: StreamConfig, update: Bool) throws {
        var c = jsStreamConfig()
        jsStreamConfig_Init(&c)
        c.Retention = switch config.retention {
        case .limits: js_LimitsPolicy
        case .interest: js_InterestPolicy
        case .workQueue: js_WorkQueuePolicy
        }
        c.MaxMsgs = config.maxMessages
        c.MaxBytes = config.maxBytes
        c.MaxAge = config.maxAge.nanoseconds  // nanoseconds, not milliseconds
        c.Storage = config.storage == .memory ? js_MemoryStorage : js_FileStorage
        c.Duplicates = config.duplicateWindow.nanoseconds
        c.Replicas = Int64(config.replicas)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status: natsStatus = config.name.withCString { name in
            c.Name = name
            return config.subjects.withCStringArray { subjects in
                c.Subjects = subjects.baseAddress
                c.SubjectsLen = Int32(subjects.count)
                return update ? js_UpdateStream(&info, context.pointer, &c, nil, &code) : js_AddStream(&info, context.pointer, &c, nil, &code)
            }
        }
        if let info { jsStreamInfo_Destroy(info) }
        try check(status, .jetStream, "\(update ? "update" : "create") stream \(config.name) (error code \(code.rawValue))")
    }
}
