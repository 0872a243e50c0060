import Logging
import Messaging
import Metrics
import Synchronization
import Wire

/// Publishes each snapshot to `agent.v1.<node>`. While NATS is away it keeps only the
/// newest snapshot (a snapshot replaces the last one at the aggregator, so older ones are
/// worth nothing) and sends it as soon as the connection is back: memory stays bounded
/// however long the outage.
public final class Shipper: Sendable {
    public let subject: String
    private let bus: any MessageBus
    private let logger: Logger
    private let pending = Mutex<[[UInt8]]?>(nil)
    private let published = Counter(label: "clustermon_agent_batches_published_total")
    private let failures = Counter(label: "clustermon_agent_publish_failures_total")
    private let skipped = Counter(label: "clustermon_agent_snapshots_replaced_total")
    private let bytes = Counter(label: "clustermon_agent_published_bytes_total")
    private let stats = Mutex(ShipperStats())

    public struct ShipperStats: Sendable, Equatable {
        public var published = 0
        public var failures = 0
        /// Snapshots replaced by a newer one before NATS came back.
        public var replaced = 0
    }

    public init(nodeName: String, bus: any MessageBus, logger: Logger) {
        subject = "agent.v1.\(nodeName)"
        self.bus = bus
        self.logger = logger
    }

    public var counts: ShipperStats { stats.withLock { $0 } }

    /// Ships the parts of one snapshot now, or keeps them as the one pending snapshot.
    public func ship(_ parts: [[UInt8]]) {
        guard bus.state == .connected else {
            let replaced = pending.withLock { pending -> Bool in
                defer { pending = parts }
                return pending != nil
            }
            if replaced {
                skipped.increment()
                stats.withLock { $0.replaced += 1 }
            }
            return
        }
        send(parts)
    }

    private func send(_ parts: [[UInt8]]) {
        do {
            for part in parts {
                try bus.publish(subject: subject, payload: part)
                bytes.increment(by: part.count)
            }
            published.increment()
            stats.withLock { $0.published += 1 }
        } catch {
            failures.increment()
            stats.withLock { $0.failures += 1 }
            logger.warning("publishing the batch failed; the next snapshot replaces it", metadata: ["subject": "\(subject)", "error": "\(error)"])
        }
    }

    /// Sends the pending snapshot every time the connection comes back. Runs until cancelled.
    public func resendOnReconnect() async {
        for await state in bus.stateUpdates() where state == .connected {
            if let parts = pending.withLock({ pending -> [[UInt8]]? in defer { pending = nil }; return pending }) {
                logger.info("nats is back; sending the newest snapshot", metadata: ["subject": "\(subject)"])
                send(parts)
            }
        }
    }
}
