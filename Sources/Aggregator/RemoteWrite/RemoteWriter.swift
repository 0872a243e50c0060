import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// One receiver of remote writes (`--remote-write-url` and its credentials).
public struct RemoteWriteTarget: Sendable {
    public var url: String
    public var bearerTokenFile: String?
    public var username: String?
    public var passwordFile: String?
    public var headers: [(name: String, value: String)] = []

    public init(url: String, bearerTokenFile: String? = nil, username: String? = nil, passwordFile: String? = nil,
                headers: [(name: String, value: String)] = []) {
        self.url = url
        self.bearerTokenFile = bearerTokenFile
        self.username = username
        self.passwordFile = passwordFile
        self.headers = headers
    }

    /// The URL without credentials or query: what logs and metric labels show.
    public var displayURL: String {
        guard let components = URLComponents(string: url) else { return "invalid-url" }
        var shown = URLComponents()
        shown.scheme = components.scheme
        shown.host = components.host
        shown.port = components.port
        shown.path = components.path
        return shown.string ?? "invalid-url"
    }
}

public struct RemoteWriteConfiguration: Sendable {
    public var targets: [RemoteWriteTarget]
    /// `--cluster-name`: the `cluster` label (left out when empty).
    public var cluster = ""
    /// The replica label's name (`replica`; Mimir's HA tracker wants `__replica__`) and
    /// value (this aggregator: its pod name); an empty name leaves the label out.
    public var replicaLabel = "replica"
    public var replica = ""
    /// Samples queued per receiver; beyond it the oldest requests are dropped (counted).
    public var maxQueuedSamples = 1_000_000
    public var maxSamplesPerRequest = 5_000
    public var timeout: Duration = .seconds(30)
    /// Backoff of retries (5xx, 429, connection errors): doubles from `minBackoff`.
    public var minBackoff: Duration = .milliseconds(100)
    public var maxBackoff: Duration = .seconds(30)
    /// How long a graceful stop waits for the queues to drain.
    public var flushDeadline: Duration = .seconds(5)

    public init(targets: [RemoteWriteTarget]) { self.targets = targets }
}

/// Sends the agents' samples to Prometheus-compatible receivers with remote write 1.0:
/// every node snapshot the refresh sees (once, at its collection time) as the kubelet's
/// resource metric names, and the graph's edge counters at each refresh. One bounded queue
/// and one sender per receiver, so a slow or dead receiver holds back no other; requests
/// of a receiver are sent in order, one at a time (receivers refuse out-of-order samples).
public final class RemoteWriter: Service, Sendable {
    public let configuration: RemoteWriteConfiguration
    let queues: [TargetQueue]
    let logger: Logger
    private let lastSent = Mutex<[String: (instance: String, sequence: UInt64)]>([:])
    private let encodeTimer = Timer(label: "clustermon_remote_write_encode_seconds")

    public init(configuration: RemoteWriteConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.queues = configuration.targets.map { TargetQueue(target: $0, maxSamples: configuration.maxQueuedSamples) }
    }

    /// Queued samples per receiver (tests, `/metrics`).
    public var queuedSamples: [Int] { queues.map(\.queuedSamples) }

    // MARK: - Feeding

    /// One refresh's new samples: the snapshots of nodes that reported since the last call,
    /// and every edge's counters at `time` (Unix seconds).
    public func enqueue(nodes: [NodeSample], edges: [EdgeHistory], time: Double) {
        let started = ContinuousClock.now
        let fresh = lastSent.withLock { sent -> [NodeSample] in
            var fresh: [NodeSample] = []
            var seen: [String: (instance: String, sequence: UInt64)] = [:]
            seen.reserveCapacity(nodes.count)
            for node in nodes {
                seen[node.name] = (node.agentInstance, node.sequence)
                if let last = sent[node.name], last.instance == node.agentInstance, last.sequence == node.sequence { continue }
                fresh.append(node)
            }
            sent = seen
            return fresh
        }
        let requests = encode(nodes: fresh, edges: edges, time: time)
        encodeTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
        guard !requests.isEmpty else { return }
        for queue in queues { queue.push(requests, logger: logger) }
    }

    /// The requests for these snapshots and edges.
    public func encode(nodes: [NodeSample], edges: [EdgeHistory], time: Double) -> [WriteRequestEncoder.Request] {
        var encoder = WriteRequestEncoder(maxSamples: configuration.maxSamplesPerRequest)
        var extra: [(name: String, value: String)] = []
        if !configuration.cluster.isEmpty { extra.append(("cluster", configuration.cluster)) }
        if !configuration.replicaLabel.isEmpty, !configuration.replica.isEmpty { extra.append((configuration.replicaLabel, configuration.replica)) }
        var labels: [(name: String, value: String)] = []
        labels.reserveCapacity(12)
        for node in nodes {
            let timestamp = Int64((node.collectedAt * 1000).rounded())
            ResourceSeries.visit(node) { family, namespace, pod, container, value in
                labels.removeAll(keepingCapacity: true)
                labels.append(("__name__", family.name))
                if let container { labels.append(("container", container)) }
                if let namespace { labels.append(("namespace", namespace)) }
                labels.append(("node", node.name))
                if let pod { labels.append(("pod", pod)) }
                labels += extra
                labels.sort { $0.name < $1.name }
                encoder.append(labels: labels, value: value.double, timestampMs: timestamp)
            }
        }
        let edgeTime = Int64((time * 1000).rounded())
        for edge in edges {
            let edgeLabels = EdgeSeries.labels(edge.key)
            for family in EdgeSeries.families {
                labels.removeAll(keepingCapacity: true)
                labels.append(("__name__", family.name))
                for (name, value) in edgeLabels { labels.append((name, value)) }
                labels += extra
                labels.sort { $0.name < $1.name }
                encoder.append(labels: labels, value: Double(family.value(edge)), timestampMs: edgeTime)
            }
        }
        return encoder.finish()
    }

    // MARK: - Sending

    public func run() async throws {
        // The request deadline bounds connecting too (the pool retries a refused connection
        // until then): a receiver that is away costs one timeout per attempt.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .milliseconds(Int64(configuration.timeout / .milliseconds(1))))))
        await withDiscardingTaskGroup { group in
            for queue in queues {
                group.addTask { await self.send(queue, client: client) }
            }
        }
        try? await client.shutdown()
    }

    /// The sender of one receiver: the oldest request first, retried with backoff on 5xx,
    /// 429 and connection errors, dropped on other 4xx. On a graceful stop it keeps sending
    /// for up to `flushDeadline`, then drops what is left (counted).
    func send(_ queue: TargetQueue, client: HTTPClient) async {
        var backoff = configuration.minBackoff
        var deadline: ContinuousClock.Instant?
        while true {
            // Cancelled: stop now (a request would fail at once, every time). A graceful
            // stop: keep sending for up to the flush deadline.
            if Task.isCancelled {
                queue.dropAll(logger: logger)
                return
            }
            if deadline == nil, Task.isShuttingDownGracefully {
                deadline = .now + configuration.flushDeadline
            }
            if let deadline, ContinuousClock.now >= deadline || queue.queuedSamples == 0 {
                queue.dropAll(logger: logger)
                return
            }
            guard let next = queue.peek() else {
                if deadline != nil { continue }
                await cancelWhenGracefulShutdown { await queue.waitForWork() }
                continue
            }
            let outcome = await post(next.request, to: queue.target, client: client)
            switch outcome {
            case .sent:
                queue.complete(next.id, outcome: .sent)
                backoff = configuration.minBackoff
            case .rejected(let status, let body):
                queue.complete(next.id, outcome: .failed)
                logger.error("remote write refused; the request is dropped", metadata: [
                    "url": "\(queue.target.displayURL)", "status": "\(status)", "samples": "\(next.request.samples)", "response": "\(body)"])
                backoff = configuration.minBackoff
            case .retry(let reason, let after):
                queue.retried()
                let wait = max(after ?? .zero, backoff)
                logger.warning("remote write failed; retrying", metadata: ["url": "\(queue.target.displayURL)", "reason": "\(reason)", "retry_in": "\(wait)"])
                if deadline == nil {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                } else {
                    try? await Task.sleep(for: min(wait, .milliseconds(200)))
                }
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
    }

    enum PostOutcome {
        case sent
        case rejected(status: UInt, body: String)
        case retry(String, after: Duration?)
    }

    func post(_ request: WriteRequestEncoder.Request, to target: RemoteWriteTarget, client: HTTPClient) async -> PostOutcome {
        var http = HTTPClientRequest(url: target.url)
        http.method = .POST
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "X-Prometheus-Remote-Write-Version", value: "0.1.0")
        http.headers.add(name: "User-Agent", value: "clustermon")
        for header in target.headers { http.headers.replaceOrAdd(name: header.name, value: header.value) }
        do {
            if let file = target.bearerTokenFile {
                http.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(try Self.secret(file))")
            } else if let username = target.username {
                let password = try target.passwordFile.map(Self.secret) ?? ""
                http.headers.replaceOrAdd(name: "Authorization", value: "Basic \(Data("\(username):\(password)".utf8).base64EncodedString())")
            }
        } catch {
            return .retry("\(error)", after: nil)
        }
        http.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(http, timeout: .milliseconds(Int64(configuration.timeout / .milliseconds(1))))
            let body = try await response.body.collect(upTo: 4096)
            let status = response.status.code
            switch status {
            case 200..<300: return .sent
            case 429: return .retry("429 Too Many Requests", after: response.headers.first(name: "Retry-After").flatMap(Int64.init).map { .seconds($0) })
            case 500...: return .retry("\(status) \(String(buffer: body).prefix(200))", after: nil)
            default: return .rejected(status: status, body: String(String(buffer: body).prefix(500)))
            }
        } catch {
            return .retry("\(error)", after: nil)
        }
    }

    /// A secret file's contents (re-read per request, as they rotate), trimmed.
    static func secret(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RemoteWriteError("cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct RemoteWriteError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One receiver's queue of encoded requests, bounded in samples: when full, the oldest
/// requests go first (the newest figures matter most), counted as dropped.
final class TargetQueue: Sendable {
    let target: RemoteWriteTarget
    let maxSamples: Int
    private struct State {
        var requests: [(id: Int, request: WriteRequestEncoder.Request)] = []
        var samples = 0
        var nextID = 0
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    private let sent: Counter, failed: Counter, dropped: Counter, retries: Counter
    private let queued: Gauge, lastSuccess: Gauge

    enum Outcome { case sent, failed }

    init(target: RemoteWriteTarget, maxSamples: Int) {
        self.target = target
        self.maxSamples = max(1, maxSamples)
        let url = target.displayURL
        sent = Counter(label: "clustermon_remote_write_samples_total", dimensions: [("outcome", "sent"), ("url", url)])
        failed = Counter(label: "clustermon_remote_write_samples_total", dimensions: [("outcome", "failed"), ("url", url)])
        dropped = Counter(label: "clustermon_remote_write_samples_total", dimensions: [("outcome", "dropped"), ("url", url)])
        retries = Counter(label: "clustermon_remote_write_retries_total", dimensions: [("url", url)])
        queued = Gauge(label: "clustermon_remote_write_queue_samples", dimensions: [("url", url)])
        lastSuccess = Gauge(label: "clustermon_remote_write_last_success_timestamp_seconds", dimensions: [("url", url)])
    }

    var queuedSamples: Int { state.withLock { $0.samples } }

    func push(_ requests: [WriteRequestEncoder.Request], logger: Logger) {
        var evicted = 0
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for request in requests {
                state.requests.append((state.nextID, request))
                state.nextID += 1
                state.samples += request.samples
            }
            while state.samples > maxSamples, !state.requests.isEmpty {
                let oldest = state.requests.removeFirst()
                state.samples -= oldest.request.samples
                evicted += oldest.request.samples
            }
            queued.record(state.samples)
            defer { state.waiter = nil }
            return state.waiter
        }
        if evicted > 0 {
            dropped.increment(by: evicted)
            logger.warning("remote write queue full; the oldest samples are dropped", metadata: ["url": "\(target.displayURL)", "samples": "\(evicted)"])
        }
        waiter?.resume()
    }

    func peek() -> (id: Int, request: WriteRequestEncoder.Request)? { state.withLock { $0.requests.first } }

    /// The sent (or refused) request leaves the queue, unless it was evicted meanwhile.
    func complete(_ id: Int, outcome: Outcome) {
        let request = state.withLock { state -> WriteRequestEncoder.Request? in
            guard state.requests.first?.id == id else { return nil }
            let first = state.requests.removeFirst()
            state.samples -= first.request.samples
            queued.record(state.samples)
            return first.request
        }
        guard let request else { return }
        switch outcome {
        case .sent:
            sent.increment(by: request.samples)
            lastSuccess.record(Date().timeIntervalSince1970)
        case .failed:
            failed.increment(by: request.samples)
        }
    }

    func retried() { retries.increment() }

    func dropAll(logger: Logger) {
        let left = state.withLock { state -> Int in
            let left = state.samples
            state.requests.removeAll()
            state.samples = 0
            queued.record(0)
            return left
        }
        if left > 0 {
            dropped.increment(by: left)
            logger.warning("remote write stopped with samples unsent", metadata: ["url": "\(target.displayURL)", "samples": "\(left)"])
        }
    }

    /// Returns when something is queued (at once if something already is), or when the
    /// task is cancelled.
    func waitForWork() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    if !state.requests.isEmpty || Task.isCancelled { return true }
                    state.waiter?.resume()
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
