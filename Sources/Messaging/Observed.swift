import Synchronization

/// A value that any number of listeners can follow: each gets the current value, then every
/// change. Used for connection state and publish counts, so that callers await a condition
/// instead of polling.
public final class Observed<Value: Sendable & Equatable>: Sendable {
    private struct Inner {
        var value: Value
        var listeners: [Int: AsyncStream<Value>.Continuation] = [:]
        var nextID = 0
        var finished = false
    }

    private let inner: Mutex<Inner>

    public init(_ initial: Value) {
        inner = Mutex(Inner(value: initial))
    }

    public var value: Value { inner.withLock { $0.value } }

    /// Changes the value and tells the listeners; returns the previous value.
    @discardableResult
    public func update(_ body: (inout Value) -> Void) -> Value {
        inner.withLock { inner in
            let previous = inner.value
            body(&inner.value)
            if inner.value != previous {
                for listener in inner.listeners.values { listener.yield(inner.value) }
            }
            return previous
        }
    }

    @discardableResult
    public func set(_ value: Value) -> Value { update { $0 = value } }

    /// Ends every listener's sequence (e.g. when a connection closes for good).
    public func finish() {
        let listeners = inner.withLock { inner in
            inner.finished = true
            defer { inner.listeners = [:] }
            return Array(inner.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }

    /// The current value, then every change, newest kept when the reader falls behind.
    public func updates() -> AsyncStream<Value> {
        let (stream, continuation) = AsyncStream<Value>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = inner.withLock { inner in
            continuation.yield(inner.value)
            guard !inner.finished else { return nil }
            let id = inner.nextID
            inner.nextID += 1
            inner.listeners[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.inner.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    /// Waits until the value satisfies `condition` (or the task is cancelled, or it finishes).
    @discardableResult
    public func wait(until condition: (Value) -> Bool) async -> Value {
        var last = value
        for await value in updates() {
            last = value
            if condition(value) { break }
        }
        return last
    }
}
