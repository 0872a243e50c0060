import Aggregator
import Foundation
import Hummingbird
import Kubernetes
import Messaging

/// The Cluster Monitor's history endpoints (REFERENCE.md §1): `start`/`end` (RFC 3339,
/// default the last hour), `resolution` (`raw|1m|5m|15m`, default chosen by span).
struct HistoryController {
    let history: HistoryStore
    let live: Observed<LiveFrame>?
    let auth: Authenticator
    let visibility: Visibility
    /// The refresh interval: how far apart raw points are.
    let refresh: Duration
    /// A query that would return more points is refused (400): ask for a coarser resolution.
    var maxPoints = 2_000_000
    let now: @Sendable () -> Int64

    func addRoutes(to router: Router<APIContext>) {
        router.get("/api/metrics/nodes") { request, _ in try await self.nodes(request, name: nil) }
        router.get("/api/metrics/nodes/:name") { request, context in
            try await self.nodes(request, name: context.parameters.get("name"))
        }
        router.get("/api/metrics/pods") { request, _ in try await self.pods(request) }
    }

    struct Window {
        var start: Int64
        var end: Int64
        var resolution: Resolution
    }

    func window(_ query: [String: String]) throws -> Window {
        try Self.window(query, history: history, now: now())
    }

    /// The span and resolution a query names: RFC 3339 times under `startName` and
    /// `endName` (default: `defaultSpan` seconds up to now), `resolution` or one chosen by
    /// span (1m instead of raw for windows older than the raw retention).
    static func window(_ query: [String: String], start startName: String = "start", end endName: String = "end",
                       defaultSpan: Int64 = 3600, history: HistoryStore, now: Int64) throws -> Window {
        func time(_ name: String) throws -> Int64? {
            guard let text = query[name] else { return nil }
            guard let parsed = UnixTime(rfc3339: text) else {
                throw APIFailure(.badRequest, "\(name) must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got \"\(text)\"")
            }
            return parsed.seconds
        }
        let end = try time(endName) ?? now
        let start = try time(startName) ?? end - defaultSpan
        guard start < end else { throw APIFailure(.badRequest, "\(startName) must be before \(endName)") }
        var resolution: Resolution
        if let text = query["resolution"] {
            guard let chosen = Resolution(rawValue: text) else {
                throw APIFailure(.badRequest, "resolution must be one of raw, 1m, 5m, 15m, got \"\(text)\"")
            }
            resolution = chosen
        } else {
            resolution = Resolution.automatic(span: end - start)
            // Raw points are kept for a limited time only; older windows read rollups.
            if resolution == .raw, start < now - history.configuration.rawRetention.components.seconds { resolution = .oneMinute }
        }
        return Window(start: start, end: end, resolution: resolution)
    }

    /// Seconds between points at a resolution (raw points are one refresh apart).
    static func step(_ resolution: Resolution, refresh: Duration) -> Int64 {
        resolution == .raw ? max(refresh.components.seconds, 1) : resolution.seconds
    }

    func checkSize(series: Int, _ window: Window) throws {
        let points = series * Int((window.end - window.start) / Self.step(window.resolution, refresh: refresh) + 1)
        if points > maxPoints {
            throw APIFailure(.badRequest, "the query would return about \(points) points (at most \(maxPoints)); choose a coarser resolution or a shorter span")
        }
    }

    func nodes(_ request: Request, name: String?) async throws -> Response {
        _ = try auth.admin(request)
        let query = try request.checkedQuery(["start", "end", "resolution"])
        let window = try window(query)
        var selection = SeriesSelection.all
        if let name {
            let live = self.live?.value.view.nodes.contains { $0.name == name } ?? false
            guard live || history.knows(.node, key: name) else { throw APIFailure(.notFound, "node \"\(name)\" not found") }
            selection = .keys([name])
        }
        try checkSize(series: history.seriesCount(.node, selection), window)
        let series = try await history.query(.node, selection, start: window.start, end: window.end, resolution: window.resolution)
        return Self.render(series, window, integers: false)
    }

    func pods(_ request: Request) async throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(["start", "end", "resolution", "namespace", "pod"])
        let window = try window(query)
        let visible = visibility.namespaces(for: principal)
        var selection: SeriesSelection
        if let namespace = query["namespace"] {
            guard visible(namespace) else { throw APIFailure.forbidden }
            selection = query["pod"].map { .keys(["\(namespace)/\($0)"]) } ?? .prefix("\(namespace)/")
        } else if query["pod"] != nil {
            throw APIFailure(.badRequest, "pod needs namespace")
        } else if principal.isAdmin {
            selection = .all
        } else {
            selection = .namespaces(visible)
        }
        try checkSize(series: history.seriesCount(.pod, selection), window)
        let series = try await history.query(.pod, selection, start: window.start, end: window.end, resolution: window.resolution)
        return Self.render(series, window, integers: true)
    }

    /// `{"start","end","resolution","series":{"<key>":[{"t","cpu","mem","disk"}]}}`, keys sorted.
    static func render(_ series: [String: [HistoryPoint]], _ window: Window, integers: Bool) -> Response {
        var w = JSONWriter(capacity: 1024 + series.reduce(0) { $0 + $1.value.count * 80 })
        w.beginObject()
        w.field("start", UnixTime(seconds: window.start).rfc3339)
        w.field("end", UnixTime(seconds: window.end).rfc3339)
        w.field("resolution", window.resolution.rawValue)
        w.key("series")
        w.beginObject()
        for key in series.keys.sorted() {
            w.key(key)
            w.beginArray()
            for point in series[key]! {
                w.beginObject()
                w.field("t", UnixTime(seconds: point.time).rfc3339)
                if integers {
                    w.field("cpu", Int64(point.cpu.rounded()))
                    w.field("mem", Int64(point.memory.rounded()))
                    w.field("disk", Int64(point.disk.rounded()))
                } else {
                    w.field("cpu", point.cpu)
                    w.field("mem", point.memory)
                    w.field("disk", point.disk)
                }
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        w.endObject()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
