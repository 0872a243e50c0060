import CNATS
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Metrics
import Synchronization

/// A libnats handle; nats.c is thread-safe, so the pointer may cross threads.
final class NATSHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// State shared with libnats' connection callbacks through their `void*` closure argument.
/// Retained once for the C side; released exactly once, by the closed callback or by a
/// failed connect.
final class ConnectionCallbacks: Sendable {
    let state: Observed<ConnectionState>
    let logger: Logger
    let description: String
    private let released = Atomic<Bool>(false)
    let disconnects = Counter(label: "clustermon_nats_disconnects_total")
    let reconnects = Counter(label: "clustermon_nats_reconnects_total")
    let asyncErrors = Counter(label: "clustermon_nats_async_errors_total")
    let connected = Gauge(label: "clustermon_nats_connected")

    init(state: Observed<ConnectionState>, logger: Logger, description: String) {
        self.state = state
        self.logger = logger
        self.description = description
    }

    func releaseOnce(_ unmanaged: Unmanaged<ConnectionCallbacks>) {
        if released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            unmanaged.release()
        }
    }

    func transition(_ new: ConnectionState) {
        let previous = state.set(new)
        if new == .closed { state.finish() }
        connected.record(new == .connected ? 1 : 0)
        guard previous != new else { return }
        switch new {
        case .connected:
            if previous == .reconnecting || previous == .disconnected { reconnects.increment() }
            logger.info("nats connected", metadata: ["nats": "\(description)", "previous": "\(previous.rawValue)"])
        case .disconnected, .reconnecting:
            disconnects.increment()
            logger.warning("nats disconnected; reconnecting", metadata: ["nats": "\(description)"])
        case .closed:
            logger.info("nats connection closed", metadata: ["nats": "\(description)"])
        case .connecting:
            break
        }
    }
}

private func callbacks(_ closure: UnsafeMutableRawPointer?) -> ConnectionCallbacks? {
    closure.map { Unmanaged<ConnectionCallbacks>.fromOpaque($0).takeUnretainedValue() }
}

private let onDisconnected: natsConnectionHandler = { connection, closure in
    // Closing calls this too, just before the closed callback: that is no outage.
    if let connection, natsConnection_IsClosed(connection) { return }
    callbacks(closure)?.transition(.reconnecting)
}
private let onReconnected: natsConnectionHandler = { _, closure in
    callbacks(closure)?.transition(.connected)
}
private let onConnected: natsConnectionHandler = { _, closure in
    // Called when a connect that was retried in the background finally succeeds.
    callbacks(closure)?.transition(.connected)
}
private let onClosed: natsConnectionHandler = { _, closure in
    guard let closure, let box = callbacks(closure) else { return }
    box.transition(.closed)
    box.releaseOnce(Unmanaged<ConnectionCallbacks>.fromOpaque(closure))
}
private let onAsyncError: natsErrHandler = { _, _, status, closure in
    guard let box = callbacks(closure) else { return }
    box.asyncErrors.increment()
    // Slow-consumer drops are counted per subscription; log the rest.
    if status != NATS_SLOW_CONSUMER {
        box.logger.warning("nats asynchronous error", metadata: ["error": "\(String(cString: natsStatus_GetText(status)))"])
    }
}

/// A connection to NATS through libnats: reconnects forever, never blocks publishers.
public final class NATSConnection: MessageBus {
    let handle: NATSHandle
    private let stateBox: Observed<ConnectionState>
    private let logger: Logger
    public let configuration: NATSConfiguration
    private let publishFailures = Counter(label: "clustermon_nats_publish_failures_total")
    private let publishedMessages = Counter(label: "clustermon_nats_published_messages_total")
    private let publishedBytes = Counter(label: "clustermon_nats_published_bytes_total")
    private let failedPublishes = Atomic<Int>(0)

    private init(handle: NATSHandle, state: Observed<ConnectionState>, logger: Logger, configuration: NATSConfiguration) {
        self.handle = handle
        self.stateBox = state
        self.logger = logger
        self.configuration = configuration
    }

    deinit {
        natsConnection_Destroy(handle.pointer)
    }

    /// Connects to NATS. If no server answers yet, the connection keeps trying in the
    /// background and this returns a connection in `.connecting` state: an agent may start
    /// before NATS does. Throws for configuration errors (unreadable creds or certificates).
    public static func connect(_ configuration: NATSConfiguration, logger: Logger) async throws -> NATSConnection {
        try await runBlocking { try connectBlocking(configuration, logger: logger) }
    }

    private static func connectBlocking(_ configuration: NATSConfiguration, logger: Logger) throws -> NATSConnection {
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), .configuration, "create options")
        guard let options else { throw MessagingError(.configuration, "create options", reason: "no options") }
        defer { natsOptions_Destroy(options) }

        let state = Observed<ConnectionState>(.connecting)
        let box = ConnectionCallbacks(state: state, logger: logger, description: configuration.description)
        let unmanaged = Unmanaged.passRetained(box)
        let closure = unmanaged.toOpaque()
        do {
            try apply(configuration, to: options, closure: closure)
        } catch {
            box.releaseOnce(unmanaged)
            throw error
        }

        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, options)
        guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
            box.releaseOnce(unmanaged)
            throw MessagingError(.connect, "connect to \(configuration.description)", status: status)
        }
        if status == NATS_OK { box.transition(.connected) } else {
            logger.warning("nats not reachable yet; retrying in the background", metadata: ["nats": "\(configuration.description)"])
        }
        return NATSConnection(handle: NATSHandle(connection), state: state, logger: logger, configuration: configuration)
    }

    private static func apply(_ c: NATSConfiguration, to options: OpaquePointer, closure: UnsafeMutableRawPointer) throws {
        try c.servers.withCStringArray { servers in
            try check(natsOptions_SetServers(options, servers.baseAddress, Int32(servers.count)), .configuration, "servers \(c.servers.map(NATSConfiguration.redactingUserInfo))")
        }
        try check(natsOptions_SetName(options, c.name), .configuration, "name")
        try check(natsOptions_SetMaxReconnect(options, -1), .configuration, "max reconnect")
        try check(natsOptions_SetReconnectWait(options, c.reconnectWait.milliseconds), .configuration, "reconnect wait")
        try check(natsOptions_SetTimeout(options, c.connectTimeout.milliseconds), .configuration, "timeout")
        try check(natsOptions_SetReconnectBufSize(options, Int32(clamping: c.reconnectBufferBytes)), .configuration, "reconnect buffer")
        try check(natsOptions_SetRetryOnFailedConnect(options, true, onConnected, closure), .configuration, "retry on failed connect")
        try check(natsOptions_SetDisconnectedCB(options, onDisconnected, closure), .configuration, "disconnected callback")
        try check(natsOptions_SetReconnectedCB(options, onReconnected, closure), .configuration, "reconnected callback")
        try check(natsOptions_SetClosedCB(options, onClosed, closure), .configuration, "closed callback")
        try check(natsOptions_SetErrorHandler(options, onAsyncError, closure), .configuration, "error handler")
        if let user = c.user {
            try check(natsOptions_SetUserInfo(options, user, c.password ?? ""), .configuration, "user")
        }
        if let token = c.token {
            try check(natsOptions_SetToken(options, token), .configuration, "token")
        }
        if let creds = c.credentialsFile {
            // libnats reads the file only when it connects, which it retries forever: a
            // typo would look like an outage. Say so now instead.
            guard access(creds, R_OK) == 0 else {
                throw MessagingError(.configuration, "credentials file \(creds)", reason: "not readable: \(String(cString: strerror(errno)))")
            }
            try check(natsOptions_SetUserCredentialsFromFiles(options, creds, nil), .configuration, "credentials file \(creds)")
        }
        if c.tlsRequired || c.tlsCAFile != nil || c.tlsCertificateFile != nil {
            try check(natsOptions_SetSecure(options, true), .configuration, "tls")
        }
        if let ca = c.tlsCAFile {
            try check(natsOptions_LoadCATrustedCertificates(options, ca), .configuration, "tls CA file \(ca)")
        }
        if let cert = c.tlsCertificateFile {
            guard let key = c.tlsKeyFile else {
                throw MessagingError(.configuration, "tls client certificate", reason: "a client certificate needs its key file too")
            }
            try check(natsOptions_LoadCertificatesChain(options, cert, key), .configuration, "tls client certificate \(cert)")
        }
    }

    public var state: ConnectionState { stateBox.value }

    public func stateUpdates() -> AsyncStream<ConnectionState> { stateBox.updates() }

    public var maxPayloadBytes: Int {
        let value = Int(natsConnection_GetMaxPayload(handle.pointer))
        return value > 0 ? value : 1 << 20
    }

    /// Publishes that failed (buffer full while disconnected, closed, too large).
    public var publishFailureCount: Int { failedPublishes.load(ordering: .relaxed) }

    public func publish(subject: String, payload: [UInt8]) throws {
        guard payload.count <= maxPayloadBytes else {
            recordFailure()
            throw MessagingError(.payloadTooLarge, "publish \(subject)", reason: "\(payload.count) bytes exceeds the server's max_payload of \(maxPayloadBytes)")
        }
        let status = payload.withUnsafeBytes { bytes in
            natsConnection_Publish(handle.pointer, subject, bytes.baseAddress, Int32(bytes.count))
        }
        guard status == NATS_OK else {
            recordFailure()
            throw MessagingError(status == NATS_CONNECTION_CLOSED ? .closed : .publish, "publish \(subject)", status: status)
        }
        publishedMessages.increment()
        publishedBytes.increment(by: payload.count)
    }

    private func recordFailure() {
        failedPublishes.add(1, ordering: .relaxed)
        publishFailures.increment()
    }

    public func subscribe(to subject: String, bufferCapacity: Int) async throws -> BusSubscription {
        try NATSSubscriptionHandle.subscribe(connection: self, subject: subject, bufferCapacity: bufferCapacity)
    }

    /// Sends everything buffered and waits for the server to confirm, up to `timeout`.
    public func flush(timeout: Duration = .seconds(5)) async throws {
        let handle = self.handle
        try await Self.runBlocking {
            try check(natsConnection_FlushTimeout(handle.pointer, timeout.milliseconds), .publish, "flush")
        }
    }

    /// Closes the connection; later publishes fail with `.closed`.
    public func close() {
        natsConnection_Close(handle.pointer)
    }

    /// Runs a blocking libnats call off the cooperative thread pool.
    static func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}

func check(_ status: natsStatus, _ kind: MessagingError.Kind, _ operation: @autoclosure () -> String) throws {
    guard status == NATS_OK else { throw MessagingError(kind, operation(), status: status) }
}

extension Array where Element == String {
    /// Calls `body` with a C array of C strings that live for the duration of the call.
    func withCStringArray<R>(_ body: (UnsafeMutableBufferPointer<UnsafePointer<CChar>?>) throws -> R) rethrows -> R {
        let duplicates = map { strdup($0) }
        defer { duplicates.forEach { free($0) } }
        var pointers = duplicates.map { UnsafePointer($0) }
        return try pointers.withUnsafeMutableBufferPointer { try body($0) }
    }
}
