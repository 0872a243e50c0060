import CNATS
import Metrics
import Synchronization

/// What a libnats message callback needs: where to deliver. Retained once for the C side
/// and released by the subscription's on-complete callback (no callback follows it).
private final class SubscriptionBox: Sendable {
    let sink: BusSubscription.Sink
    init(sink: BusSubscription.Sink) { self.sink = sink }
}

private let onMessage: natsMsgHandler = { _, _, message, closure in
    defer { natsMsg_Destroy(message) }
    guard let closure, let message else { return }
    let box = Unmanaged<SubscriptionBox>.fromOpaque(closure).takeUnretainedValue()
    let subject = String(cString: natsMsg_GetSubject(message))
    let count = Int(natsMsg_GetDataLength(message))
    var payload = [UInt8](repeating: 0, count: count)
    if count > 0, let data = natsMsg_GetData(message) {
        payload.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: data, count: count)) }
    }
    box.sink.deliver(BusMessage(subject: subject, payload: payload))
}

private let onComplete: natsOnCompleteCB = { closure in
    guard let closure else { return }
    let box = Unmanaged<SubscriptionBox>.fromOpaque(closure)
    box.takeUnretainedValue().sink.finish()
    box.release()
}

/// Owns a libnats subscription and keeps its connection alive while it exists.
final class NATSSubscriptionHandle: @unchecked Sendable {
    private let pointer: OpaquePointer
    private let connection: NATSConnection
    private let cancelled = Atomic<Bool>(false)

    private init(pointer: OpaquePointer, connection: NATSConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        natsSubscription_Destroy(pointer)
    }

    static func subscribe(connection: NATSConnection, subject: String, bufferCapacity: Int) throws -> BusSubscription {
        let dropCounter = Counter(label: "clustermon_nats_subscription_dropped_total", dimensions: [("subject", subject)])
        let handleSlot = Mutex<NATSSubscriptionHandle?>(nil)
        let subscription = BusSubscription(
            subject: subject,
            bufferCapacity: bufferCapacity,
            onDrop: { dropCounter.increment(by: $0) },
            onCancel: { handleSlot.withLock { $0 }?.unsubscribe() }
        )
        let box = Unmanaged.passRetained(SubscriptionBox(sink: subscription.producer))
        var sub: OpaquePointer?
        let status = natsConnection_Subscribe(&sub, connection.handle.pointer, subject, onMessage, box.toOpaque())
        guard status == NATS_OK, let sub else {
            box.release()
            throw MessagingError(.subscribe, "subscribe \(subject)", status: status)
        }
        // libnats drops past its own pending limit before our buffer sees anything; raise it
        // so that our bounded buffer (which keeps the newest) is the one that decides.
        _ = natsSubscription_SetPendingLimits(sub, 1 << 20, 256 << 20)
        _ = natsSubscription_SetOnCompleteCB(sub, onComplete, box.toOpaque())
        let handle = NATSSubscriptionHandle(pointer: sub, connection: connection)
        handleSlot.withLock { $0 = handle }
        return subscription
    }

    func unsubscribe() {
        guard cancelled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        _ = natsSubscription_Unsubscribe(pointer)
    }
}
