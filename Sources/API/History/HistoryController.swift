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
    /// Identical queries in flight share one read.
    let shared = SharedAnswers()

    func addRoutes(to router: Router<APIContext>) {
        router.get("/api/metrics/nodes") { request, _ in try await self.nodes(request, name: nil) }
        router.get("/api/metrics/nodes/:name") { request, context in
            try await self.nodes(request, name: context.parameters.get("name"))
        }
        router.get("/api/metrics/pods") { request, _ in try await self.pods(request) }
        router.get("/api/metrics/containers") { request, _ in try await self.containers(request) }
    }

    struct Window {
        var start: Int64
        var end: Int64
        var resolution: Resolution
        /// Seconds between points when given as `step` (overrides the resolution's).
        var step: Int64?
    }

    func window(_ query: [String: String]) throws -> Window {
        try Self.window(query, history: history, now: now())
    }

    /// The span and resolution a query names: RFC 3339 times under `startName` and
    /// `endName` (default: `defaultSpan` seconds up to now), `resolution` or `step`, or one
    /// chosen by span (buckets instead of raw samples for windows older than the raw
    /// retention).
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
        guard start < end else { throw APIFailure(.unprocessableContent, "\(startName) must be before \(endName)") }
        var step: Int64?
        if let text = query["step"] {
            // The pattern (checked with the query) admits only whole seconds, minutes or hours.
            guard let duration = GoDurationText.parse(text), duration.components.seconds >= 1, duration.components.attoseconds == 0 else {
                throw APIFailure(.badRequest, "step must be \(ParameterSchema.duration.requirement), got \"\(text)\"")
            }
            step = duration.components.seconds
        }
        var resolution: Resolution
        var chosenBySpan = false
        if let text = query["resolution"] {
            guard step == nil else { throw APIFailure(.unprocessableContent, "resolution and step exclude each other") }
            guard let chosen = Resolution(rawValue: text) else {
                throw APIFailure(.badRequest, "resolution must be one of raw, 1m, 5m, 15m, 1h, got \"\(text)\"")
            }
            resolution = chosen
        } else if step != nil {
            resolution = .raw
        } else {
            resolution = Resolution.automatic(span: end - start)
            chosenBySpan = true
        }
        // Raw samples are kept for a limited time only: a window older than that, unless
        // the caller chose its resolution, reads hourly buckets.
        let rawFrom = now - history.configuration.rawRetention.components.seconds
        if start < rawFrom && chosenBySpan { resolution = .oneHour }
        if start < rawFrom, let given = step, given % 3600 != 0 {
            throw APIFailure(.unprocessableContent, "step must be a whole number of hours for a window that starts before the raw retention (\(GoDurationText.format(history.configuration.rawRetention)) ago): hourly buckets are all that is kept")
        }
        return Window(start: start, end: end, resolution: resolution, step: step)
    }

    /// Seconds between points (raw points are about one agent interval apart).
    static func step(_ window: Window, refresh: Duration) -> Int64 {
        window.step ?? (window.resolution == .raw ? max(refresh.components.seconds, 1) : window.resolution.seconds)
    }

    /// Refuses (422) a query whose answer would hold more than `maxPoints` points; `legacy`:
    /// the cpu/mem/disk shape, whose points are its resolution apart (a step becomes the
    /// nearest resolution at or above it, at most an hour).
    func checkSize(series: Int, _ window: Window, legacy: Bool = false) throws {
        var step = Self.step(window, refresh: refresh)
        if legacy {
            let resolution = Self.legacy(window)
            step = resolution == .raw ? max(refresh.components.seconds, 1) : resolution.seconds
        }
        let (span, _) = (window.end - window.start).dividedReportingOverflow(by: step)
        let (points, overflow) = Int64(series).multipliedReportingOverflow(by: span + 1)
        if overflow || points > Int64(maxPoints) {
            throw APIFailure(.unprocessableContent, "the query would return about \(points) points (at most \(maxPoints)); choose a coarser resolution or step, or a shorter span")
        }
    }

    /// `metric` (a catalog name) and `agg`: nil when the query asks for the legacy shape.
    func metric(_ query: [String: String], _ family: HistoryFamily) throws -> (HistoryCatalog.Formula, Aggregation?)? {
        var aggregation: Aggregation?
        if let text = query["agg"] {
            guard let chosen = Aggregation(rawValue: text) else {
                throw APIFailure(.badRequest, "agg must be one of \(Aggregation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            aggregation = chosen
        }
        guard let name = query["metric"] else {
            if aggregation != nil { throw APIFailure(.unprocessableContent, "agg needs metric") }
            return nil
        }
        guard let formula = HistoryCatalog.formula(name, in: family) else {
            throw APIFailure(.badRequest, "unknown metric \"\(name)\" for \(family.definition.name)s; the catalog: \(HistoryCatalog.names(family).joined(separator: ", "))")
        }
        return (formula, aggregation)
    }

    func points(_ family: HistoryFamily, _ selection: SeriesSelection, _ window: Window, _ formula: HistoryCatalog.Formula,
                _ aggregation: Aggregation?) async throws -> Response {
        let step = window.step ?? (window.resolution == .raw ? nil : window.resolution.seconds)
        let series = try await history.series(family, formula, selection, start: window.start, end: window.end, step: step, aggregation: aggregation)
        return Self.render(series, window)
    }

    func nodes(_ request: Request, name: String?) async throws -> Response {
        _ = try auth.admin(request)
        let query = try request.checkedQuery(OpenAPI.history(.node))
        let window = try window(query)
        let metric = try metric(query, .node)
        var selection = SeriesSelection.all
        if let name {
            let live = self.live?.value.view.nodes.contains { $0.name == name } ?? false
            guard live || history.knows(.node, key: name) else { throw APIFailure(.notFound, "node \"\(name)\" not found") }
            selection = .keys([name])
        }
        try checkSize(series: history.seriesCount(.node, selection), window, legacy: metric == nil)
        return try await shared.answer(SharedAnswers.key("nodes", selection, start: window.start, end: window.end, query: query)) { [self, selection] in
            if let (formula, aggregation) = metric { return try await points(.node, selection, window, formula, aggregation) }
            let series = try await history.nodePoints(selection, start: window.start, end: window.end, resolution: Self.legacy(window))
            return Self.render(series, window, integers: false)
        }
    }

    /// The legacy shape's resolution: a `step` becomes the nearest resolution at or above it.
    static func legacy(_ window: Window) -> Resolution {
        guard let step = window.step else { return window.resolution }
        return Resolution.allCases.first { $0 != .raw && $0.seconds >= step } ?? .oneHour
    }

    /// The namespaces, pods (and containers) a user's query may read: `namespace`, `pod` and
    /// `container` are independent filters (a pod's name across the caller's namespaces, a
    /// container's name across pods).
    func selection(_ query: [String: String], principal: Principal, containers: Bool) throws -> SeriesSelection {
        let visible = visibility.namespaces(for: principal)
        let pod = query["pod"], container = containers ? query["container"] : nil
        var namespaces: @Sendable (String) -> Bool = visible
        if principal.isAdmin { namespaces = { _ in true } }
        if let namespace = query["namespace"] {
            guard visible(namespace) else { throw APIFailure.forbidden }
            switch (pod, container) {
            case (nil, nil): return .prefix("\(namespace)/")
            case (let pod?, nil): return containers ? .prefix("\(namespace)/\(pod)/") : .keys(["\(namespace)/\(pod)"])
            case (let pod?, let container?): return .keys(["\(namespace)/\(pod)/\(container)"])
            case (nil, _?): namespaces = { $0 == namespace }
            }
        } else if pod == nil && container == nil {
            return principal.isAdmin ? .all : .namespaces(visible)
        }
        return .filtered(namespaces: namespaces) { key in
            let parts = key.split(separator: "/")
            guard parts.count >= 2 else { return false }
            return (pod == nil || parts[1] == pod!) && (container == nil || (parts.count > 2 && parts[2] == container!))
        }
    }

    func pods(_ request: Request) async throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(OpenAPI.podHistory)
        let window = try window(query)
        let metric = try metric(query, .pod)
        let selection = try selection(query, principal: principal, containers: false)
        try checkSize(series: history.seriesCount(.pod, selection), window, legacy: metric == nil)
        return try await shared.answer(SharedAnswers.key("pods", selection, start: window.start, end: window.end, query: query)) { [self] in
            if let (formula, aggregation) = metric { return try await points(.pod, selection, window, formula, aggregation) }
            return try await Self.podHistory(history, selection, window)
        }
    }

    /// The legacy pod answer; raw points are read as columns and written pod by pod.
    static func podHistory(_ history: HistoryStore, _ selection: SeriesSelection, _ window: Window) async throws -> Response {
        let resolution = legacy(window)
        guard resolution == .raw else {
            let series = try await history.podPoints(selection, start: window.start, end: window.end, resolution: resolution)
            return render(series, window, integers: true)
        }
        return try await Task.detached(priority: .userInitiated) {
            // Written pod by pod into the answer's buffer (through a small one reused for
            // each pod): no second copy of a few megabytes, nor its pages to fault in.
            var body = ByteBuffer()
            var pod: [UInt8] = [], first = true
            pod.reserveCapacity(8192)
            try history.podPointsRaw(selection, start: window.start, end: window.end) { samples in
                // A point is at most 113 bytes, mostly 70-90: a guess over is cheaper than a
                // reallocation of the whole answer.
                body = ByteBufferAllocator().buffer(capacity: 1024 + samples * 100)
                body.writeBytes(envelope(window, resolution: .raw, step: nil, capacity: 0).bytes)
            } _: { key, points in
                pod.removeAll(keepingCapacity: true)
                if !first { pod.append(UInt8(ascii: ",")) }
                first = false
                JSONWriter.appendString(key, to: &pod)
                pod.append(UInt8(ascii: ":"))
                array(points, into: &pod, integers: true)
                body.writeBytes(pod)
            }
            if body.readableBytes == 0 { body.writeBytes(envelope(window, resolution: .raw, step: nil, capacity: 0).bytes) }
            body.writeBytes([UInt8(ascii: "}"), UInt8(ascii: "}")])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }.value
    }

    func containers(_ request: Request) async throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(OpenAPI.containerHistory)
        let window = try window(query)
        guard let (formula, aggregation) = try metric(query.merging(["metric": query["metric"] ?? "cpu/usage_rate"]) { a, _ in a }, .container) else {
            throw APIFailure(.badRequest, "metric is required")
        }
        let selection = try selection(query, principal: principal, containers: true)
        try checkSize(series: history.seriesCount(.container, selection), window)
        return try await shared.answer(SharedAnswers.key("containers", selection, start: window.start, end: window.end, query: query)) { [self] in
            try await points(.container, selection, window, formula, aggregation)
        }
    }

    /// `{"start","end","resolution","step"?,"series":{"<key>":[{"t","value"}]}}`, keys sorted.
    static func render(_ series: [String: [MetricPoint]], _ window: Window) -> Response {
        // With a step, `resolution` names it only when it is one of the resolutions.
        let resolution = window.step.map { step in Resolution.allCases.first { $0 != .raw && $0.seconds == step } } ?? window.resolution
        return render(series, window, resolution: resolution, step: window.step, bytesPerPoint: 48) { bytes, points in
            list(points, into: &bytes) { bytes, point in
                JSONWriter.appendLiteral(Self.timeKey, to: &bytes)
                JSONWriter.appendTime(point.time, to: &bytes)
                JSONWriter.appendLiteral(Self.valueKey, to: &bytes)
                JSONWriter.appendHundredths(point.value, to: &bytes)
                bytes.append(UInt8(ascii: "}"))
            }
        }
    }

    /// `[`, the points separated by commas, `]`; `write` appends one point's object.
    static func list<Point>(_ points: [Point], into bytes: inout [UInt8], _ write: (inout [UInt8], Point) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (index, point) in points.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            write(&bytes, point)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `{"start","end","resolution","series":{"<key>":[{"t","cpu","mem","disk"}]}}`, keys sorted.
    static func render(_ series: [String: [HistoryPoint]], _ window: Window, integers: Bool) -> Response {
        render(series, window, resolution: legacy(window), step: nil, bytesPerPoint: 80) { bytes, points in
            array(points, into: &bytes, integers: integers)
        }
    }

    /// One series' `[{"t","cpu","mem","disk"},...]`: whole numbers (pods) or hundredths (nodes).
    static func array(_ points: [HistoryPoint], into bytes: inout [UInt8], integers: Bool) {
        guard integers else {
            return list(points, into: &bytes) { bytes, point in
                JSONWriter.appendLiteral(Self.timeKey, to: &bytes)
                JSONWriter.appendTime(point.time, to: &bytes)
                JSONWriter.appendLiteral(Self.cpuKey, to: &bytes)
                JSONWriter.appendHundredths(point.cpu, to: &bytes)
                JSONWriter.appendLiteral(Self.memKey, to: &bytes)
                JSONWriter.appendHundredths(point.memory, to: &bytes)
                JSONWriter.appendLiteral(Self.diskKey, to: &bytes)
                JSONWriter.appendHundredths(point.disk, to: &bytes)
                bytes.append(UInt8(ascii: "}"))
            }
        }
        // Pods' points (most of the history's answers) are written through a pointer into a
        // small buffer, appended a few dozen at a time (one point: at most 113 bytes).
        bytes.append(UInt8(ascii: "["))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            let start = buffer.baseAddress!, limit = start + 4096 - 128
            var cursor = start
            var days = JSONWriter.DayText()
            for (index, point) in points.enumerated() {
                if index > 0 {
                    cursor.pointee = UInt8(ascii: ",")
                    cursor += 1
                }
                JSONWriter.put(Self.timeKey, at: &cursor)
                JSONWriter.putTime(point.time, at: &cursor, days: &days)
                JSONWriter.put(Self.cpuKey, at: &cursor)
                JSONWriter.putInteger(rounding: point.cpu, at: &cursor)
                JSONWriter.put(Self.memKey, at: &cursor)
                JSONWriter.putInteger(rounding: point.memory, at: &cursor)
                JSONWriter.put(Self.diskKey, at: &cursor)
                JSONWriter.putInteger(rounding: point.disk, at: &cursor)
                cursor.pointee = UInt8(ascii: "}")
                cursor += 1
                if cursor >= limit || index == points.count - 1 {
                    bytes.append(contentsOf: UnsafeBufferPointer(start: start, count: cursor - start))
                    cursor = start
                }
            }
        }
        bytes.append(UInt8(ascii: "]"))
    }

    // A point's fixed parts, static bytes (a history answer holds millions of points).
    static var timeKey: StaticString { #"{"t":"# }
    static var valueKey: StaticString { #","value":"# }
    static var cpuKey: StaticString { #","cpu":"# }
    static var memKey: StaticString { #","mem":"# }
    static var diskKey: StaticString { #","disk":"# }

    /// The envelope and every series' array, keys sorted; `write` appends one series' array.
    static func render<Point>(_ series: [String: [Point]], _ window: Window, resolution: Resolution?, step: Int64?, bytesPerPoint: Int,
                              series write: (inout [UInt8], [Point]) -> Void) -> Response {
        var w = envelope(window, resolution: resolution, step: step,
                         capacity: series.reduce(0) { $0 + $1.value.count * bytesPerPoint + $1.key.utf8.count + 8 })
        for key in series.keys.sorted() {
            w.key(key)
            w.rawValue { bytes in write(&bytes, series[key]!) }
        }
        return finish(w)
    }

    /// An answer's start up to the open `series` object.
    static func envelope(_ window: Window, resolution: Resolution?, step: Int64?, capacity: Int) -> JSONWriter {
        var w = JSONWriter(capacity: 1024 + capacity)
        w.beginObject()
        w.field("start", UnixTime(seconds: window.start).rfc3339)
        w.field("end", UnixTime(seconds: window.end).rfc3339)
        if let resolution { w.field("resolution", resolution.rawValue) }
        if let step { w.field("step", "\(step)s") }
        w.key("series")
        w.beginObject()
        return w
    }

    /// Closes the `series` object and the answer.
    static func finish(_ writer: JSONWriter) -> Response {
        var w = writer
        w.endObject()
        w.endObject()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

/// The bodies of the history endpoints without a server around them (benchmarks).
public enum HistoryBodies {
    /// `/api/metrics/pods?namespace=<namespace>&start=&end=` (raw, the legacy shape): its size in bytes.
    public static func podHistory(_ history: HistoryStore, namespace: String, start: Int64, end: Int64) async throws -> Int {
        let window = HistoryController.Window(start: start, end: end, resolution: .raw, step: nil)
        return try await HistoryController.podHistory(history, .prefix("\(namespace)/"), window).body.contentLength ?? 0
    }
}
