import Aggregator
import Hummingbird
import Metrics
import Synchronization

/// Identical history queries in flight share one read. A dashboard open in several
/// browsers, or a team's, asks the same namespace's last hour at the same moments; each
/// of those answers is a few megabytes read and written for the same bytes. A query that
/// arrives while the same one (the same answer by construction: the same selection of
/// series, the same window to the second, the same parameters) is being answered waits for
/// that answer instead of reading again.
///
/// Only selections named by value join (a namespace, keys, everything for an
/// administrator): who may ask is checked for each request before it gets here, and two
/// callers who may both read a namespace read the same series in it. A query whose series
/// depend on its caller's visibility (no namespace given) is answered on its own.
final class SharedAnswers: Sendable {
    private let inFlight = Mutex<[String: Task<Response, any Error>]>([:])
    /// Queries answered by another's read (`/metrics`; `sharedCount` for tests).
    private let joined = Counter(label: "clustermon_history_queries_shared_total")
    private let joinedCount = Atomic<Int>(0)
    var sharedCount: Int { joinedCount.load(ordering: .relaxed) }

    /// The answer of the query `key` names: the one being computed, or `compute`'s. A
    /// failure is every waiter's (the same query fails the same way).
    func answer(_ key: String?, _ compute: @escaping @Sendable () async throws -> Response) async throws -> Response {
        guard let key else { return try await compute() }
        let (task, created) = inFlight.withLock { flights -> (Task<Response, any Error>, Bool) in
            if let running = flights[key] { return (running, false) }
            let task = Task { try await compute() }
            flights[key] = task
            return (task, true)
        }
        if !created {
            joined.increment()
            joinedCount.add(1, ordering: .relaxed)
        }
        defer { if created { _ = inFlight.withLock { $0.removeValue(forKey: key) } } }
        return try await task.value
    }

    /// The key of a query over `selection`, nil when its series depend on the caller.
    static func key(_ path: String, _ selection: SeriesSelection, start: Int64, end: Int64, query: [String: String]) -> String? {
        let series: String
        switch selection {
        case .all: series = "all"
        case .prefix(let prefix): series = "prefix \(prefix)"
        case .keys(let keys): series = "keys \(keys.joined(separator: "\n"))"
        case .namespaces, .filtered: return nil
        }
        // Every parameter but the credentials (the window's defaults are in start and end).
        let parameters = query.filter { $0.key != "token" }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return "\(path) \(series) \(start) \(end) \(parameters)"
    }
}
