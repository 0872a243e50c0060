import Synchronization

/// Sockets per network namespace, re-read at most every `refresh`.
///
/// Reading `/proc/<pid>/net/tcp` makes the kernel walk the whole (shared) TCP hash table
/// and filter by namespace: about 4 ms per file on this 24 GiB machine whatever the number
/// of sockets, so 110 pod namespaces read every interval would cost most of a second.
/// Listening sockets change rarely; a new namespace is read at once.
public final class SocketCache: Sendable {
    private struct Entry { var at: ContinuousClock.Instant; var sockets: NamespaceSockets }
    public let refresh: Duration
    /// Namespaces read per call at most (~8 ms each): an agent starting on a busy node
    /// spreads the first reads over a few cycles instead of stalling one for a second.
    public let maxReadsPerCall: Int
    private let entries = Mutex<[UInt64: Entry]>([:])

    public init(refresh: Duration, maxReadsPerCall: Int = 16) {
        self.refresh = refresh
        self.maxReadsPerCall = maxReadsPerCall
    }

    /// Sockets of the namespaces in `representatives` (netns -> a pid inside it): reads
    /// those never read first, then those older than `refresh`, up to `maxReadsPerCall`; a
    /// stale one past the budget keeps its last value; namespaces that are gone are
    /// forgotten. A new namespace past the budget is absent until a later call.
    public func sockets(for representatives: [UInt64: Int32], using procfs: ProcfsReader, now: ContinuousClock.Instant = .now) -> (sockets: [UInt64: NamespaceSockets], malformedRows: Int) {
        let cached = entries.withLock { $0 }
        var result: [UInt64: Entry] = [:]
        var due: [(netns: UInt64, pid: Int32, neverRead: Bool)] = []
        for (netns, pid) in representatives {
            if let entry = cached[netns] {
                result[netns] = entry
                if now - entry.at >= refresh { due.append((netns, pid, false)) }
            } else {
                due.append((netns, pid, true))
            }
        }
        due.sort { $0.neverRead && !$1.neverRead || ($0.neverRead == $1.neverRead && $0.netns < $1.netns) }
        var malformed = 0
        for (netns, pid, _) in due.prefix(maxReadsPerCall) {
            let sockets = procfs.sockets(pid: pid)
            malformed += sockets.malformedRows
            result[netns] = Entry(at: now, sockets: sockets)
        }
        entries.withLock { $0 = result }
        return (result.mapValues(\.sockets), malformed)
    }
}
