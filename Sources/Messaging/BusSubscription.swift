import Synchronization

/// Messages for one subscription, as an `AsyncSequence` with a bounded buffer.
///
/// Agent batches are snapshots, so when a consumer falls behind the oldest waiting message
/// is the one to lose: the buffer keeps the newest and counts every drop (`droppedCount`).
public final class BusSubscription: AsyncSequence, Sendable {
    public typealias Element = BusMessage

    public let subject: String
    private let stream: AsyncStream<BusMessage>
    private let sink: Sink
    private let onCancel: @Sendable () -> Void

    /// The producing side, handed to whatever delivers messages (a libnats callback or the
    /// in-process bus). Safe to call from any thread.
    public final class Sink: Sendable {
        private let continuation: AsyncStream<BusMessage>.Continuation
        private let drops = Atomic<Int>(0)
        private let onDrop: @Sendable (Int) -> Void

        init(continuation: AsyncStream<BusMessage>.Continuation, onDrop: @escaping @Sendable (Int) -> Void) {
            self.continuation = continuation
            self.onDrop = onDrop
        }

        /// Delivers one message; returns false if it displaced an older one.
        @discardableResult
        public func deliver(_ message: BusMessage) -> Bool {
            switch continuation.yield(message) {
            case .dropped:
                drops.add(1, ordering: .relaxed)
                onDrop(1)
                return false
            case .enqueued, .terminated:
                return true
            @unknown default:
                return true
            }
        }

        /// Counts messages lost before they reached this buffer (e.g. by the NATS client).
        public func countExternalDrops(_ n: Int) {
            guard n > 0 else { return }
            drops.add(n, ordering: .relaxed)
            onDrop(n)
        }

        public func finish() { continuation.finish() }

        var dropped: Int { drops.load(ordering: .relaxed) }
    }

    init(
        subject: String,
        bufferCapacity: Int,
        onDrop: @escaping @Sendable (Int) -> Void = { _ in },
        onCancel: @escaping @Sendable () -> Void
    ) {
        precondition(bufferCapacity > 0, "a subscription needs room for at least one message")
        self.subject = subject
        let (stream, continuation) = AsyncStream<BusMessage>.makeStream(bufferingPolicy: .bufferingNewest(bufferCapacity))
        self.stream = stream
        self.sink = Sink(continuation: continuation, onDrop: onDrop)
        self.onCancel = onCancel
        continuation.onTermination = { _ in onCancel() }
    }

    var producer: Sink { sink }

    /// Messages lost because this subscriber fell behind.
    public var droppedCount: Int { sink.dropped }

    /// Stops delivery; iteration ends after the messages already buffered.
    public func cancel() {
        onCancel()
        sink.finish()
    }

    public func makeAsyncIterator() -> AsyncStream<BusMessage>.Iterator {
        stream.makeAsyncIterator()
    }
}
