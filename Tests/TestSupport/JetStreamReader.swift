import CNATS

/// A JetStream consumer for tests, the way an alerting service reads the CLUSTER stream:
/// an ephemeral push consumer delivering everything stored, read until the stream is idle.
public enum JetStreamReader {
    public struct Message: Sendable {
        public var subject: String
        public var payload: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Every stored message of `stream` matching `subject`, in stream order. Blocks the
    /// calling thread until no message came for `idleMilliseconds`.
    public static func readAll(url: String, stream: String, subject: String, idleMilliseconds: Int64 = 500) throws -> [Message] {
        var connection: OpaquePointer?
        guard natsConnection_ConnectTo(&connection, url) == NATS_OK, let connection else { throw Failure(description: "connect \(url)") }
        defer { natsConnection_Destroy(connection) }
        var context: OpaquePointer?
        guard natsConnection_JetStream(&context, connection, nil) == NATS_OK, let context else { throw Failure(description: "jetstream context") }
        defer { jsCtx_Destroy(context) }
        var options = jsSubOptions()
        jsSubOptions_Init(&options)
        var subscription: OpaquePointer?
        var errorCode = jsErrCode(0)
        let status = stream.withCString { streamName -> natsStatus in
            options.Stream = streamName
            options.Config.DeliverPolicy = js_DeliverAll
            options.Config.AckPolicy = js_AckNone
            return js_SubscribeSync(&subscription, context, subject, nil, &options, &errorCode)
        }
        guard status == NATS_OK, let subscription else { throw Failure(description: "subscribe \(subject): \(status) \(errorCode)") }
        defer { natsSubscription_Destroy(subscription) }
        var messages: [Message] = []
        while true {
            var message: OpaquePointer?
            guard natsSubscription_NextMsg(&message, subscription, idleMilliseconds) == NATS_OK, let message else { break }
            let length = Int(natsMsg_GetDataLength(message))
            let payload = natsMsg_GetData(message).map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
            messages.append(Message(subject: String(cString: natsMsg_GetSubject(message)), payload: payload))
            natsMsg_Destroy(message)
        }
        return messages
    }
}
