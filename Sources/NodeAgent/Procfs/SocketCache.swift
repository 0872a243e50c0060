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
    private let entries = Mutex<[UInt64: Entry]>([:])

    public init(refresh: Duration) { self.refresh = refresh }

    /// Sockets of every namespace in `representatives` (netns -> a pid inside it); reads
    /// what is missing or older than `refresh`, forgets namespaces that are gone.
    public func sockets(for representatives: [UInt64: Int32], using procfs: ProcfsReader, now: ContinuousClock.Instant = .now) -> (sockets: [UInt64: NamespaceSockets], malformedRows: Int) {
        let cached = entries.withLock { $0 }
        var result: [UInt64: Entry] = [:]
        var malformed = 0
        for (netns, pid) in representatives {
            if let entry = cached[netns], now - entry.at < refresh {
                result[netns] = entry
            } else {
                let sockets = procfs.sockets(pid: pid)
                malformed += sockets.malformedRows
                result[netns] = Entry(at: now, sockets: sockets)
            }
        }
        entries.withLock { $0 = result }
        return (result.mapValues(\.sockets), malformed)
    }
}
