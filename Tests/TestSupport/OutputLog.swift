import Foundation

/// Everything a child process writes to a pipe, read on a thread of its own (plain
/// blocking reads: FileHandle's readabilityHandler can crash libdispatch when the handle
/// goes away while its source is live), with waiters for a marker to appear.
public final class OutputLog: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    private var ended = false
    private var waiters: [(@Sendable (String) -> Bool, CheckedContinuation<String, Never>)] = []

    /// Starts reading `handle` until end of file.
    public init(reading handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                append(String(decoding: data, as: UTF8.self))
            }
            end()
        }
    }

    private func append(_ chunk: String) {
        lock.lock()
        text += chunk
        let current = text
        let ready = waiters.filter { $0.0(current) }
        waiters.removeAll { $0.0(current) }
        let snapshot = text
        lock.unlock()
        ready.forEach { $0.1.resume(returning: snapshot) }
    }

    private func end() {
        lock.lock()
        ended = true
        let pending = waiters
        waiters = []
        let snapshot = text
        lock.unlock()
        pending.forEach { $0.1.resume(returning: snapshot) }
    }

    /// The output so far once it contains `marker`, or once the writer has closed the pipe.
    public func wait(for marker: String) async -> String {
        await wait { $0.contains(marker) }
    }

    /// The output so far once `condition` holds for it, or once the writer has closed the pipe.
    public func wait(until condition: @escaping @Sendable (String) -> Bool) async -> String {
        await withCheckedContinuation { continuation in
            lock.lock()
            if condition(text) || ended {
                let snapshot = text
                lock.unlock()
                continuation.resume(returning: snapshot)
            } else {
                waiters.append((condition, continuation))
                lock.unlock()
            }
        }
    }

    public var all: String { lock.lock(); defer { lock.unlock() }; return text }
}
