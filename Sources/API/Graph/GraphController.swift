import Aggregator
import Foundation
import Hummingbird
import Kubernetes
import Messaging

/// The service dependency graph: `GET /api/graph/dependencies` (the Cluster Monitor shape
/// with traffic on every edge, filtered server-side; `from`/`to` read the history) and
/// `/sse/graph` (the filtered graph every refresh). Admins see every vertex; a user sees the
/// edges touching their namespaces, other tenants folded into one anonymous "other".
struct GraphController {
    let graph: ConnectionGraph
    let history: HistoryStore?
    let auth: Authenticator
    let visibility: Visibility
    let limiter: StreamLimiter
    let keepAlive: Duration
    /// How far apart raw history points are.
    let refresh: Duration
    let now: @Sendable () -> Int64

    static let maxDepth = 10

    func addRoutes(to router: Router<APIContext>) {
        router.get("/api/graph/dependencies") { request, _ in try await self.dependencies(request) }
        router.get("/sse/graph") { request, _ in try self.stream(request) }
    }

    /// The filters and the window (seconds) of a request.
    func parse(_ query: [String: String]) throws -> (GraphQuery, window: Int) {
        var graphQuery = GraphQuery(namespace: query["namespace"], service: query["service"])
        if let text = query["depth"] {
            guard let depth = Int(text), depth >= 1, depth <= Self.maxDepth else {
                throw APIFailure(.badRequest, "depth must be an integer from 1 to \(Self.maxDepth), got \"\(text)\"")
            }
            guard graphQuery.service != nil else { throw APIFailure(.unprocessableContent, "depth needs service") }
            graphQuery.depth = depth
        }
        if let text = query["min_bytes"] {
            // An integer (checked with the query).
            graphQuery.minBytes = Double(text) ?? 0
        }
        if let text = query["top"] {
            graphQuery.top = Int(text)
        }
        var window = graph.defaultWindowSeconds
        if let text = query["window"] {
            let longest = graph.configuration.maxWindow
            guard let duration = GoDurationText.parse(text), duration >= .seconds(1), duration <= longest else {
                throw APIFailure(.unprocessableContent, "window must be a duration from 1s to \(GoDurationText.format(longest)) such as 30s, 1m or 5m, got \"\(text)\"; use from/to for older or longer windows")
            }
            window = Int(duration.components.seconds)
        }
        return (graphQuery, window)
    }

    func render(_ view: GraphView, _ query: GraphQuery, principal: Principal) throws -> [UInt8] {
        do {
            return try view.render(query, visible: visible(principal))
        } catch {
            throw APIFailure.forbidden
        }
    }

    /// The caller's namespace predicate; nil for an admin, who sees everything.
    func visible(_ principal: Principal) -> (@Sendable (String) -> Bool)? {
        if principal.isAdmin { return nil }
        return visibility.namespaces(for: principal)
    }

    func dependencies(_ request: Request) async throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(OpenAPI.graphFilters + OpenAPI.graphPast)
        let (graphQuery, window) = try parse(query)
        guard query["from"] != nil || query["to"] != nil else {
            return LiveController.json(try render(graph.view(window: window), graphQuery, principal: principal))
        }
        guard query["window"] == nil else { throw APIFailure(.unprocessableContent, "window and from/to exclude each other") }
        guard let history else { throw APIFailure(.unprocessableContent, "from/to need the history (the aggregator's --data-dir)") }
        let span = try HistoryController.window(query, start: "from", end: "to", defaultSpan: Int64(graph.defaultWindowSeconds),
                                                history: history, now: now())
        // A user's query reads only edges with an end in their namespaces.
        let shown = visible(principal)
        let view = try await history.graph(start: span.start, end: span.end) { key in
            guard let shown else { return true }
            return (key.source.isNamespaced && shown(key.source.namespace)) || (key.target.isNamespaced && shown(key.target.namespace))
        }
        return LiveController.json(try render(view, graphQuery, principal: principal))
    }

    func stream(_ request: Request) throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(OpenAPI.graphFilters)
        let (graphQuery, window) = try parse(query)
        // Refused before the stream starts (403), not as a frame.
        do { try GraphView.checkAccess(graphQuery, visible: visible(principal)) } catch { throw APIFailure.forbidden }
        let controller = self
        return try eventStream(limiter: limiter, keepAlive: keepAlive, updates: graph.live) { frame in
            guard frame.version > 0 else { return nil }
            let view = window == controller.graph.defaultWindowSeconds ? frame.view : controller.graph.view(window: window)
            guard let bytes = try? controller.render(view, graphQuery, principal: principal) else { return nil }
            return LiveController.sseMessages(bytes)
        }
    }
}
