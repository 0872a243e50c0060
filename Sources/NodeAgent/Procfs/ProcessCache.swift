import Synchronization

/// Each process's container and network namespace, re-read at most every `refresh`.
///
/// Reading `/proc/<pid>/cgroup` and the `ns/net` link costs tens of microseconds of kernel
/// time per process, and a node with 110 pods runs a thousand processes or more: tens of
/// milliseconds every cycle to learn what the last cycle learned. A process's network
/// namespace does not change, and its cgroup changes when a runtime places it, just after
/// it starts. So a process is read on the first two scans that see it, then again after
/// between half of `refresh` and `refresh` (spread by pid, so that the processes seen at
/// start-up are not all due in one cycle). A pid that leaves the listing is forgotten.
public final class ProcessCache: Sendable {
    private struct Entry {
        var process: ProcessEntry
        var reads: Int
        var due: ContinuousClock.Instant
    }

    public let refresh: Duration
    private let entries = Mutex<[Int32: Entry]>([:])

    public init(refresh: Duration) { self.refresh = refresh }

    /// Every process of the proc root, with what is due re-read.
    public func scan(using procfs: ProcfsReader, now: ContinuousClock.Instant = .now) -> ProcessScan {
        let cached = entries.withLock { $0 }
        var scan = ProcessScan()
        var result: [Int32: Entry] = [:]
        result.reserveCapacity(cached.count)
        for pid in procfs.pids() {
            if let entry = cached[pid], entry.reads >= 2, now < entry.due {
                result[pid] = entry
                scan.processes.append(entry.process)
                continue
            }
            guard let process = procfs.process(pid, into: &scan) else { continue }
            let spread = refresh * (Double(16 + Int(pid % 16)) / 32)
            result[pid] = Entry(process: process, reads: (cached[pid]?.reads ?? 0) + 1, due: now + spread)
            scan.processes.append(process)
        }
        entries.withLock { $0 = result }
        return scan
    }
}
