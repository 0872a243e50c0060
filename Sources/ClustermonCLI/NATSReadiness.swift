import API
import Messaging

/// Ready while the bus is connected.
struct BusReadiness: ReadinessCheck {
    let name = "nats"
    let bus: any MessageBus

    func notReadyReason() async -> String? { bus.notReadyReason }
}
