import Foundation
import Logging
import Messaging
import Metrics
import ServiceLifecycle
import Synchronization
import SwiftProtobuf
import Wire

/// Receives every agent's batches (`agent.v1.>`), reassembles split snapshots, drops
/// duplicates and older ones, and replaces each node's state. A malformed, oversized or
/// inconsistent batch is refused, logged with its node and counted; it never touches state.
public final class IngestService: Service {
    public static let subject = "agent.v1.>"
    static let subjectPrefix = "agent.v1."

    public enum Outcome: String, Sendable, CaseIterable { case complete, part, stale, malformed, oversized, invalid }

    let bus: any MessageBus
    let state: ClusterState
    let graph: ConnectionGraph?
    let history: HistoryStore?
    let cluster: (any ClusterView)?
    let maxBatchBytes: Int
    let bufferCapacity: Int
    let logger: Logger
    let now: @Sendable () -> Double
    private let assembler: Mutex<BatchAssembler>
    private let outcomes: [Outcome: Counter]
    private let bytes = Counter(label: "clustermon_ingest_bytes_total")
    /// Batches decoded by `BatchDecoding` (fast) or handed to swift-protobuf (generic: a field
    /// this version does not know, or malformed bytes).
    private let decodedFast = Counter(label: "clustermon_ingest_decoded_total", dimensions: [("decoder", "fast")])
    private let decodedGeneric = Counter(label: "clustermon_ingest_decoded_total", dimensions: [("decoder", "generic")])
    private let nodes = Gauge(label: "clustermon_ingest_nodes")
    private let lag = Timer(label: "clustermon_ingest_batch_age_seconds")
    private let skewAhead = Counter(label: "clustermon_ingest_clock_skew_total", dimensions: [("direction", "ahead")])
    private let skewBehind = Counter(label: "clustermon_ingest_clock_skew_total", dimensions: [("direction", "behind")])
    /// Nodes whose clock was found off (each is logged once, when first seen off).
    private let skewed = Mutex<Set<String>>([])
    /// An agent's collection time further ahead of the receive time than `ahead` seconds,
    /// or further behind than `behind` (beyond any queueing delay), is not trusted: the
    /// snapshot is placed at its receive time and counted. Ordering stays by sequence.
    public let clockTolerance: (ahead: Double, behind: Double)
    /// Counts per outcome, for tests and logs.
    private let counts = Mutex<[Outcome: Int]>([:])

    /// - Parameters:
    ///   - maxBatchBytes: larger messages are refused unread (a part never exceeds the
    ///     server's max_payload; default 8 MiB so that a server configured above 1 MiB works).
    public init(bus: any MessageBus, state: ClusterState, graph: ConnectionGraph? = nil, history: HistoryStore? = nil, cluster: (any ClusterView)? = nil,
                maxBatchBytes: Int = 8 << 20, bufferCapacity: Int = 8192, clockTolerance: (ahead: Double, behind: Double) = (30, 600),
                logger: Logger, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.clockTolerance = clockTolerance
        self.bus = bus
        self.state = state
        self.graph = graph
        self.history = history
        self.cluster = cluster
        self.maxBatchBytes = maxBatchBytes
        self.bufferCapacity = bufferCapacity
        self.logger = logger
        self.now = now
        assembler = Mutex(BatchAssembler())
        outcomes = Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0, Counter(label: "clustermon_ingest_batches_total", dimensions: [("outcome", $0.rawValue)]))
        })
    }

    /// Batches handled between two yields of the ingest loop (about 10 ms of work).
    static let batchesPerTurn = 16

    public func run() async throws {
        let subscription = try await bus.subscribe(to: Self.subject, bufferCapacity: bufferCapacity)
        logger.info("ingest subscribed", metadata: ["subject": "\(Self.subject)"])
        await withTaskCancellationOrGracefulShutdownHandler {
            var handled = 0
            for await message in subscription {
                self.handle(message)
                // With batches waiting, the loop never suspends: it gives the cooperative
                // pool's thread to requests now and then (a burst of 5,000 batches is
                // seconds of work, and the pool has a thread per core).
                handled &+= 1
                if handled % Self.batchesPerTurn == 0 { await Task.yield() }
            }
        } onCancelOrGracefulShutdown: {
            subscription.cancel()
        }
    }

    public func count(_ outcome: Outcome) -> Int { counts.withLock { $0[outcome, default: 0] } }

    /// Handles one message; returns what became of it.
    @discardableResult
    public func handle(_ message: BusMessage) -> Outcome {
        let outcome = classify(message)
        counts.withLock { $0[outcome, default: 0] += 1 }
        outcomes[outcome]?.increment()
        return outcome
    }

    private func classify(_ message: BusMessage) -> Outcome {
        bytes.increment(by: message.payload.count)
        let node = message.subject.hasPrefix(Self.subjectPrefix) ? String(message.subject.dropFirst(Self.subjectPrefix.count)) : message.subject
        guard message.payload.count <= maxBatchBytes else {
            logger.warning("batch refused: too large", metadata: ["node": "\(node)", "bytes": "\(message.payload.count)", "limit": "\(maxBatchBytes)"])
            return .oversized
        }
        var batch: Agent_V1_Batch
        do {
            let decoded = try Self.decode(message.payload)
            batch = decoded.batch
            (decoded.fast ? decodedFast : decodedGeneric).increment()
        } catch {
            logger.warning("batch refused: not a valid agent.v1.Batch", metadata: ["node": "\(node)", "bytes": "\(message.payload.count)", "error": "\(error)"])
            return .malformed
        }
        let received = now()
        clampClock(&batch, node: node, received: received)
        let verdict = assembler.withLock { $0.accept(batch, subjectNode: node) }
        switch verdict {
        case .pending:
            return .part
        case .stale:
            logger.debug("batch dropped: duplicate or older", metadata: ["node": "\(node)", "sequence": "\(batch.sequence)"])
            return .stale
        case .rejected(let reason):
            logger.warning("batch refused", metadata: ["node": "\(node)", "reason": "\(reason)"])
            return .invalid
        case .complete(let whole):
            state.ingest(whole, receivedAt: received)
            graph?.ingest(whole, receivedAt: received)
            // Every snapshot once, at the time the agent collected it.
            history?.record(whole, cluster: cluster)
            nodes.record(state.nodeCount)
            lag.recordSeconds(max(0, received - ClusterState.seconds(whole.collectedAt)))
            return .complete
        }
    }

    /// A batch from its bytes: the fast decoder, or swift-protobuf's when it declines. Fields
    /// this aggregator does not know (a newer agent's) are dropped rather than kept with
    /// the batch: nothing here re-encodes a batch, and held parts and state would carry them.
    static func decode(_ payload: [UInt8]) throws -> (batch: Agent_V1_Batch, fast: Bool) {
        if let fast = BatchDecoding.batch(payload) { return (fast, true) }
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        return (try Agent_V1_Batch(serializedBytes: payload, options: options), false)
    }

    /// An agent whose clock is off (an hour ahead, a day behind): its snapshot is placed at
    /// the time it arrived, so that rates, history and ordering across agent restarts hold.
    func clampClock(_ batch: inout Agent_V1_Batch, node: String, received: Double) {
        let offset = ClusterState.seconds(batch.collectedAt) - received
        guard offset > clockTolerance.ahead || offset < -clockTolerance.behind else { return }
        (offset > 0 ? skewAhead : skewBehind).increment()
        let first = skewed.withLock { $0.insert(node).inserted }
        if first {
            logger.warning("agent clock is off: its snapshots are placed at their receive time", metadata: [
                "node": "\(node)", "offset_seconds": "\(Int(offset.rounded()))", "instance": "\(batch.agentInstance)",
            ])
        }
        let whole = received.rounded(.down)
        batch.collectedAt = .with {
            $0.seconds = Int64(whole)
            $0.nanos = Int32(((received - whole) * 1e9).rounded(.down))
        }
    }

    /// Forgets expired nodes in the assembler too, so that their next batch starts afresh.
    public func forget(nodes names: [String]) {
        assembler.withLock { assembler in
            for name in names { assembler.forget(node: name) }
        }
        nodes.record(state.nodeCount)
    }
}
