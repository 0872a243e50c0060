import CNATS

/// A NATS operation that failed: which one, on what, and the client library's reason.
public struct MessagingError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case connect, publish, subscribe, jetStream, configuration, closed, payloadTooLarge
    }

    public var kind: Kind
    public var operation: String
    public var reason: String

    public init(_ kind: Kind, _ operation: String, reason: String) {
        self.kind = kind
        self.operation = operation
        self.reason = reason
    }

    init(_ kind: Kind, _ operation: String, status: natsStatus) {
        var reason = String(cString: natsStatus_GetText(status))
        var detailStatus = NATS_OK
        if let detail = nats_GetLastError(&detailStatus), detailStatus == status {
            let text = String(cString: detail)
            if !text.isEmpty && text != reason { reason += ": \(text)" }
        }
        self.init(kind, operation, reason: reason)
    }

    public var description: String { "\(operation): \(reason)" }
}
