import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// A response whose whole body has been read.
public struct CollectedResponse: Sendable {
    public var status: HTTPResponseStatus
    public var body: ByteBuffer
}

/// The body would exceed the caller's limit.
public struct BodyTooLarge: Error, CustomStringConvertible {
    public var limit: Int
    public var description: String { "the body exceeds \(limit) bytes" }
}

/// The last successful body size of each URL a client reads, so that the next body's buffer
/// is allocated once at about the right size.
public final class BodySizes: Sendable {
    private let sizes = Mutex<[String: Int]>([:])

    public init() {}

    func expected(for url: String) -> Int { sizes.withLock { $0[url] } ?? 0 }

    func remember(_ bytes: Int, for url: String) { sizes.withLock { $0[url] = bytes } }
}

extension HTTPClient {
    /// A GET whose body is collected on the connection's event loop into one buffer.
    ///
    /// `HTTPClientResponse.body.collect(upTo:)` hands every body part from the event loop to
    /// the awaiting task and regrows its buffer part by part (for the kubelet's ~1 MB each
    /// cycle, a thread wake-up per part and a chain of reallocations). Here the parts are
    /// copied into a buffer sized once, from `Content-Length` or else from the last
    /// successful body of the same URL that `sizes` remembers, and the caller resumes once.
    /// Cancelling the calling task cancels the request.
    public func collectGET(url: String, headers: HTTPHeaders, limit: Int, sizes: BodySizes, timeout: Duration) async throws -> CollectedResponse {
        let request = try HTTPClient.Request(url: url, method: .GET, headers: headers)
        let delegate = CollectingDelegate(limit: limit, expectedBytes: sizes.expected(for: url))
        let task = execute(request: request, delegate: delegate, deadline: .now() + .nanoseconds(timeout.nanosecondsClamped))
        let response = try await withTaskCancellationHandler {
            try await task.futureResult.get()
        } onCancel: {
            task.cancel()
        }
        if response.status == .ok { sizes.remember(response.body.readableBytes, for: url) }
        return response
    }
}

/// Collects the body; AHC calls it on the request's event loop, one call at a time (the
/// lock is uncontended, it makes that visible to the compiler).
private final class CollectingDelegate: HTTPClientResponseDelegate {
    typealias Response = CollectedResponse

    private struct State {
        var status: HTTPResponseStatus = .ok
        var body: ByteBuffer?
    }

    private let limit: Int
    private let expectedBytes: Int
    private let state = Mutex(State())

    init(limit: Int, expectedBytes: Int) {
        self.limit = limit
        self.expectedBytes = expectedBytes
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let length = head.headers.first(name: "content-length").flatMap { Int($0) }
        if let length, length > limit { return task.eventLoop.makeFailedFuture(BodyTooLarge(limit: limit)) }
        // A larger Content-Length than expected is honoured; a missing one (chunked) is
        // answered with the expected size plus an eighth, so that a slowly growing body
        // still fits without regrowth.
        let capacity = min(length ?? (expectedBytes + expectedBytes / 8), limit)
        state.withLock {
            $0.status = head.status
            $0.body = ByteBufferAllocator().buffer(capacity: capacity)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        let fits = state.withLock { state -> Bool in
            let received = state.body?.readableBytes ?? 0
            guard received + part.readableBytes <= limit else { return false }
            var part = part
            if state.body == nil { state.body = part } else { state.body!.writeBuffer(&part) }
            return true
        }
        return fits ? task.eventLoop.makeSucceededVoidFuture() : task.eventLoop.makeFailedFuture(BodyTooLarge(limit: limit))
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        state.withLock { CollectedResponse(status: $0.status, body: $0.body ?? ByteBuffer()) }
    }
}
