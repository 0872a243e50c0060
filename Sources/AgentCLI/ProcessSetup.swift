import Kubernetes
import Logging
import Metrics
import Prometheus
import Synchronization

/// Logging and metrics are process-wide and may be set up only once.
public enum ProcessSetup {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Sets up logging (one line per event on stderr) and the Prometheus registry behind
    /// swift-metrics; later calls return the same registry.
    public static func bootstrap(logLevel: Logger.Level) -> PrometheusCollectorRegistry {
        state.withLock { registry in
            if let registry { return registry }
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }
}

extension PrometheusCollectorRegistry {
    /// The Prometheus text exposition of every metric, and the process's own (CPU, memory,
    /// threads, file descriptors).
    public func bytes() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        emit(into: &bytes)
        ProcessMetrics.append(to: &bytes)
        return bytes
    }
}
