import Hummingbird
import HTTPTypes
import Messaging
import ServiceLifecycle

enum StreamEvent<Frame: Sendable>: Sendable { case frame(Frame), keepAlive }

/// A server-sent-events response that follows `updates`: the current value first, then
/// each new one (a slow client skips to the newest: a one-slot buffer), a keep-alive
/// comment when nothing else was sent for `keepAlive`, and the end of the stream when the
/// server shuts down. `render` gives the SSE bytes of a frame, nil while there is nothing
/// to send yet. The caller has checked auth and parameters; the stream cap is taken here.
func eventStream<Frame: Sendable>(limiter: StreamLimiter, keepAlive: Duration, updates: Observed<Frame>,
                                  render: @escaping @Sendable (Frame) -> ByteBuffer?) throws -> Response {
    guard let permit = limiter.acquire("sse") else { throw APIFailure(.serviceUnavailable, "too many open streams") }
    let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
    return Response(status: .ok, headers: headers, body: ResponseBody { writer in
        defer { permit.release() }
        let (events, sink) = AsyncStream<StreamEvent<Frame>>.makeStream(bufferingPolicy: .bufferingNewest(2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await frame in updates.updates() { sink.yield(.frame(frame)) }
                sink.finish()
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: keepAlive)
                    sink.yield(.keepAlive)
                }
            }
            // A shutting-down server ends its streams (else it would wait for them).
            try await withGracefulShutdownHandler {
                for await event in events {
                    switch event {
                    case .frame(let frame):
                        try await writer.write(render(frame) ?? ByteBuffer(string: ": waiting for the first refresh\n\n"))
                    case .keepAlive:
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            group.cancelAll()
        }
        try await writer.finish(nil)
    })
}
