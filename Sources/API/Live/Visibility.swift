import Aggregator
import Hummingbird
import Metrics
import Synchronization

/// Decides, for one caller, which namespaces they see; owner labels are read once per use.
struct Visibility: Sendable {
    let cluster: (any ClusterView)?
    let access: NamespaceAccess

    /// A predicate over namespace names for this caller; each namespace is judged once
    /// (history selections ask for every series key).
    func namespaces(for principal: Principal) -> @Sendable (String) -> Bool {
        if principal.isAdmin { return { _ in true } }
        let owners = cluster.map { access.namespaceOwners($0) } ?? []
        let cluster = self.cluster
        let rules = self.access
        let judged = Mutex<[String: Bool]>([:])
        return { namespace in
            if let known = judged.withLock({ $0[namespace] }) { return known }
            let visible = rules.canSee(principal, namespace: namespace, labels: cluster?.namespaceLabels(namespace), knownOwners: owners)
            judged.withLock { $0[namespace] = visible }
            return visible
        }
    }
}

/// Caps the number of open streams (SSE and WebSocket together).
final class StreamLimiter: Sendable {
    let limit: Int
    private let open: Mutex<[String: Int]> = Mutex([:])
    private let rejected = Counter(label: "clustermon_api_streams_rejected_total")

    init(limit: Int) { self.limit = limit }

    var total: Int { open.withLock { $0.values.reduce(0, +) } }

    /// A slot for one stream of `kind` (`sse`, `ws`), or nil when all are taken.
    func acquire(_ kind: String) -> StreamPermit? {
        let count: Int? = open.withLock { open in
            guard open.values.reduce(0, +) < limit else { return nil }
            open[kind, default: 0] += 1
            return open[kind]
        }
        guard let count else { rejected.increment(); return nil }
        Gauge(label: "clustermon_api_streams", dimensions: [("kind", kind)]).record(count)
        return StreamPermit(limiter: self, kind: kind)
    }

    fileprivate func release(_ kind: String) {
        let count = open.withLock { open in
            open[kind, default: 1] -= 1
            return open[kind] ?? 0
        }
        Gauge(label: "clustermon_api_streams", dimensions: [("kind", kind)]).record(count)
    }
}

/// One open stream's slot; released exactly once.
final class StreamPermit: Sendable {
    let limiter: StreamLimiter
    let kind: String
    private let released = Mutex(false)

    init(limiter: StreamLimiter, kind: String) {
        self.limiter = limiter
        self.kind = kind
    }

    func release() {
        let first = released.withLock { done in
            defer { done = true }
            return !done
        }
        if first { limiter.release(kind) }
    }

    deinit { release() }
}
