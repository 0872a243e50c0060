import Foundation

/// A dedicated thread for heavy, latency-tolerant work such as building a refresh or
/// sealing the history: it never occupies Swift's cooperative pool, which serves requests
/// and ingest. At the same priority as they: at nice 10 it was preempted for
/// hundreds of milliseconds while it held locks that ingest takes for every batch (the
/// history store's, the graph's), and the pool's threads waited on them (the load's
/// context switches at 5,000 nodes showed ingest blocked 400-700 ms at a time).
public final class BackgroundThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false

    public init(name: String) {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while jobs.isEmpty && !stopped { condition.wait() }
                if jobs.isEmpty && stopped { condition.unlock(); return }
                let job = jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            condition.lock()
            jobs.append { continuation.resume(returning: body()) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Ends the thread once the queued jobs ran.
    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
