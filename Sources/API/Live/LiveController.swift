import Aggregator
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Messaging
import ServiceLifecycle

/// The Cluster Monitor's live endpoints (REFERENCE.md §1): REST snapshots, SSE and
/// WebSocket streams. Every answer is sliced from the refresh's precomputed `LiveView`.
///
/// Streams send the current view on connect, then one frame per refresh. Each stream
/// follows the newest view with a one-slot buffer: a client that reads slowly skips to the
/// newest frame and never holds back other clients or grows memory. SSE streams carry a
/// keep-alive comment when nothing else was sent for `keepAlive`.
struct LiveController {
    let live: Observed<LiveFrame>
    let auth: Authenticator
    let visibility: Visibility
    let limiter: StreamLimiter
    let keepAlive: Duration

    /// What a stream or a request serves.
    enum Feed: String, Sendable {
        case clusterInfo = "cluster-info", podMetrics = "pod-metrics", health
    }

    func addRoutes(to router: Router<APIContext>) {
        router.get("/cluster-info") { request, _ -> Response in
            _ = try self.auth.admin(request)
            _ = try request.checkedQuery([])
            return Self.json(self.live.value.view.clusterInfoJSON)
        }
        router.get("/pod-metrics") { request, _ -> Response in
            let principal = try self.auth.user(request)
            let query = try request.checkedQuery(OpenAPI.podFilters)
            let view = self.live.value.view
            let pods = try self.pods(view, principal: principal, query: query)
            return Self.json(view.podMetricsJSON(pods))
        }
        router.get("/sse/health") { request, _ in try self.sse(request, feed: .health) }
        router.get("/sse/cluster-info") { request, _ in try self.sse(request, feed: .clusterInfo) }
        router.get("/sse/pod-metrics") { request, _ in try self.sse(request, feed: .podMetrics) }
        for feed in [Feed.clusterInfo, .podMetrics] {
            router.ws(RouterPath(stringLiteral: "/ws/\(feed.rawValue)")) { request, _ in
                _ = try self.admit(request, feed: feed)
                guard self.limiter.total < self.limiter.limit else { throw APIFailure(.serviceUnavailable, "too many open streams") }
                return .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                try await self.webSocket(context.request, feed: feed, inbound: inbound, outbound: outbound)
            }
        }
    }

    static func json(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The caller's pods, after the `namespace` (403 when not theirs) and `node` filters.
    func pods(_ view: LiveView, principal: Principal, query: [String: String]) throws -> [PodView] {
        let visible = visibility.namespaces(for: principal)
        if let namespace = query["namespace"], !visible(namespace) { throw APIFailure.forbidden }
        return view.pods(visible: visible, namespace: query["namespace"], node: query["node"])
    }

    /// Auth and parameters of a stream: returns the principal and the frame renderer.
    func admit(_ request: Request, feed: Feed) throws -> @Sendable (LiveView) -> [UInt8] {
        let principal = feed == .clusterInfo ? try auth.admin(request) : try auth.user(request)
        let query = try request.checkedQuery(feed == .clusterInfo ? [] : OpenAPI.podFilters)
        if let namespace = query["namespace"], !visibility.namespaces(for: principal)(namespace) { throw APIFailure.forbidden }
        let visibility = self.visibility
        return { view in
            let visible = visibility.namespaces(for: principal)
            let pods = view.pods(visible: visible, namespace: query["namespace"], node: query["node"])
            switch feed {
            case .clusterInfo:
                return view.clusterInfoJSON
            case .podMetrics:
                return LiveView.podArray(pods)
            case .health:
                // Typed frames; cluster frames for admins only.
                var bytes: [UInt8] = []
                if principal.isAdmin {
                    bytes += Array(#"{"type":"cluster","payload":"#.utf8) + view.clusterInfoJSON + [UInt8(ascii: "}"), 0]
                }
                bytes += Array(#"{"type":"pods","payload":"#.utf8) + view.podMetricsJSON(pods) + [UInt8(ascii: "}")]
                return bytes
            }
        }
    }

    /// Renders one view into SSE bytes: one `data:` message per frame (a 0 byte separates
    /// the health feed's two frames).
    static func sseMessages(_ frame: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for part in frame.split(separator: 0, omittingEmptySubsequences: true) {
            buffer.writeString("data: ")
            buffer.writeBytes(part)
            buffer.writeString("\n\n")
        }
        return buffer
    }

    func sse(_ request: Request, feed: Feed) throws -> Response {
        let render = try admit(request, feed: feed)
        return try eventStream(limiter: limiter, keepAlive: keepAlive, updates: live) { frame in
            frame.view.version > 0 ? Self.sseMessages(render(frame.view)) : nil
        }
    }

    func webSocket(_ request: Request, feed: Feed, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let render = try admit(request, feed: feed)
        guard let permit = limiter.acquire("ws") else {
            try await outbound.close(.unexpectedServerError, reason: "too many open streams")
            return
        }
        defer { permit.release() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Reading the inbound side answers pings and notices the client's close.
            group.addTask {
                for try await _ in inbound {}
            }
            group.addTask {
                try await cancelWhenGracefulShutdown {
                    for await frame in self.live.updates() where frame.view.version > 0 {
                        for part in render(frame.view).split(separator: 0, omittingEmptySubsequences: true) {
                            try await outbound.write(.text(String(decoding: part, as: UTF8.self)))
                        }
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
