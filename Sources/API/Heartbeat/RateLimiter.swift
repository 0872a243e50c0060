import Synchronization

/// A fixed-window rate limit per client: `limit` requests per `period`, the window
/// starting at the client's first request. Windows of clients that went quiet are dropped
/// as they expire, so memory follows the number of active clients.
public final class FixedWindowRateLimiter: Sendable {
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// When the window resets, Unix seconds.
        public var reset: Int64
    }

    private struct Window { var start: Int64; var count: Int }
    public let limit: Int
    public let periodSeconds: Int64
    private let windows = Mutex<[String: Window]>([:])

    public init(limit: Int, period: Duration) {
        self.limit = limit
        self.periodSeconds = max(1, period.components.seconds)
    }

    public func check(_ client: String, now: Int64) -> Decision {
        windows.withLock { windows in
            if windows.count > 10_000 { windows = windows.filter { now < $0.value.start + periodSeconds } }
            var window = windows[client] ?? Window(start: now, count: 0)
            if now >= window.start + periodSeconds { window = Window(start: now, count: 0) }
            window.count += 1
            windows[client] = window
            return Decision(allowed: window.count <= limit, limit: limit, remaining: max(0, limit - window.count), reset: window.start + periodSeconds)
        }
    }
}
