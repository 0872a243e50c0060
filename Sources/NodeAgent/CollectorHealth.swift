import Kubernetes
import Logging
import Metrics
import Synchronization

/// Per-collector failure bookkeeping: counts every failure on `/metrics`, and logs when a
/// collector starts failing or recovers (not every interval, so a kubelet that is down for
/// an hour writes two lines, not 360).
final class CollectorHealth: Sendable {
    private let failing = Mutex<[String: String]>([:])
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func record(_ name: String, error: String?, duration: Duration) {
        Timer(label: "clustermon_agent_collector_duration_seconds", dimensions: [("collector", name)]).recordNanoseconds(duration.nanosecondsClamped)
        let previous = failing.withLock { failing in
            defer { failing[name] = error }
            return failing[name]
        }
        if let error {
            Counter(label: "clustermon_agent_collector_errors_total", dimensions: [("collector", name)]).increment()
            if previous == nil {
                logger.warning("collector failing; the rest of the batch is still sent", metadata: ["collector": "\(name)", "error": "\(error)"])
            } else {
                logger.debug("collector still failing", metadata: ["collector": "\(name)", "error": "\(error)"])
            }
        } else if let previous {
            logger.info("collector recovered", metadata: ["collector": "\(name)", "last_error": "\(previous)"])
        }
    }
}
