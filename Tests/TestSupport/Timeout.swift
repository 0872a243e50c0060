/// A bound on how long a test waits for something it awaits: the awaited condition, not
/// the clock, ends the wait; the bound only turns a hang into a failure.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let after: Duration
    public var description: String { "timed out after \(after) waiting for \(what)" }
}

public func withTimeout<T: Sendable>(
    _ limit: Duration = .seconds(10),
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(what: what, after: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Reads up to `count` elements from an async sequence, within a time bound.
public func collect<S: AsyncSequence & Sendable>(
    _ count: Int, from sequence: S, within limit: Duration = .seconds(10)
) async throws -> [S.Element] where S.Element: Sendable {
    try await withTimeout(limit, "\(count) elements") {
        var result: [S.Element] = []
        for try await element in sequence {
            result.append(element)
            if result.count == count { break }
        }
        return result
    }
}
