import Aggregator
import Foundation
import Hummingbird
import Kubernetes
import Metrics

/// Kube-App's API (REFERENCE.md §5): `POST /api/<metric>` with its body, headers, row
/// shapes, messages and codes, answered from the history, each container once and exactly.
struct KubeAppController {
    let history: HistoryStore
    let access: AccountingAuth
    let clusterName: String
    /// Unix milliseconds.
    let now: @Sendable () -> Int64
    let timer = Timer(label: "clustermon_accounting_query_seconds", dimensions: [("api", "kubeapp")])
    let failures = Counter(label: "clustermon_accounting_failures_total", dimensions: [("api", "kubeapp")])

    func addRoutes(to router: Router<APIContext>) {
        router.post("/api/**") { request, context in try await self.query(request, context: context) }
        // Kube-App answered the other methods of HTTP/1.1 with 400 (others, such as TRACE or
        // QUERY, which no client of it sends, are 405: MethodGuard).
        for method in MethodGuard.kubeAppMethods {
            router.on("/api/**", method: method) { _, _ in Self.answer(400, "Bad request") }
        }
        // `/api` redirects to `/api/`, which is Kube-App's 404 (one route: the router
        // treats both paths alike).
        router.on("/api", method: .post) { request, _ in Self.root(request) }
        router.get("/api") { request, _ in Self.root(request) }
    }

    static func root(_ request: Request) -> Response {
        if request.uri.path.hasSuffix("/") { return answer(404, "Request not found") }
        return Response(status: .movedPermanently, headers: [.location: "/api/"])
    }

    /// `{"code": status, "message": text}` with that status.
    static func answer(_ status: Int, _ message: String) -> Response {
        var w = JSONWriter(capacity: 64 + message.utf8.count)
        w.beginObject()
        w.field("code", status)
        w.field("message", message)
        w.endObject()
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    /// A request body, parsed strictly.
    struct Body: Equatable {
        var namespace = "default"
        var limit = 100
        var agg: KubeApp.Grouping?
        /// Unix milliseconds; nil: the last 60 minutes.
        var begin: Int64?
        var end: Int64?

        static let fields = ["namespace", "limit", "agg", "timeBeginInterval", "timeEndInterval"]

        /// An empty body is every default; anything else must be a JSON object of the known
        /// fields, each of its type (`limit` a positive integer, as a number or a string).
        init(_ bytes: [UInt8]) throws(BodyError) {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return }
            guard let object = JSONValue.object(bytes) else {
                throw BodyError("the body must be a JSON object")
            }
            if let unknown = object.keys.sorted().first(where: { !Self.fields.contains($0) }) {
                throw BodyError("unknown field \"\(unknown)\"; the fields: \(Self.fields.joined(separator: ", "))")
            }
            if let value = object["namespace"] {
                guard case .string(let text) = value, !text.isEmpty else { throw BodyError("namespace must be a non-empty string") }
                namespace = text
            }
            if let value = object["limit"] {
                let parsed: Int? = switch value {
                case .string(let text): Self.isLimit(text) ? Int(text) : nil
                case .number(let number) where number == number.rounded() && abs(number) < 1e15: Int(number)
                default: nil
                }
                guard let parsed, parsed >= 1, parsed <= 1_000_000 else { throw BodyError("limit must be an integer from 1 to 1000000, as a number or a string") }
                limit = parsed
            }
            if let value = object["agg"] {
                guard case .string(let text) = value, let grouping = KubeApp.Grouping(rawValue: text) else {
                    throw BodyError("agg must be one of \(KubeApp.Grouping.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                agg = grouping
            }
            func time(_ name: String) throws(BodyError) -> Int64? {
                guard let value = object[name] else { return nil }
                guard case .string(let text) = value, let parsed = Self.time(text) else {
                    throw BodyError("\(name) must be an RFC 3339 time or YYYY-MM-DD[ hh:mm:ss] (UTC)")
                }
                return parsed
            }
            begin = try time("timeBeginInterval")
            // Kube-App read the end only with a beginning; here an end alone is the hour before it.
            end = try time("timeEndInterval")
        }

        /// `ParameterPatterns.kubeAppLimit` by hand (the body is parsed without Swift's regex
        /// engine, whose one-time allocations LeakSanitizer reports in the fuzz target): 1 to
        /// 1000000 in digits, no sign, no leading zero. A test holds the two equal.
        static func isLimit(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            guard (1...7).contains(bytes.count), bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }), bytes[0] != 48 else { return false }
            return bytes.count < 7 || text == "1000000"
        }

        /// `ParameterPatterns.kubeAppTime` by hand: RFC 3339 (`T`/`t`, `Z`/`z` or an offset
        /// within ±23:59, fractional seconds) or `YYYY-MM-DD[ hh:mm:ss]`, with a real calendar
        /// date. A test holds it equal to the pattern.
        static func isTime(_ text: String) -> Bool {
            let b = Array(text.utf8)
            func number(_ at: Int, _ count: Int) -> Int? {
                guard at + count <= b.count else { return nil }
                var value = 0
                for i in at..<at + count {
                    guard b[i] >= 48, b[i] <= 57 else { return nil }
                    value = value * 10 + Int(b[i] - 48)
                }
                return value
            }
            guard b.count >= 10, let year = number(0, 4), b[4] == 45, let month = number(5, 2), b[7] == 45, let day = number(8, 2),
                  (1...12).contains(month), day >= 1 else { return false }
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
            guard day <= days else { return false }
            if b.count == 10 { return true }
            func clock(_ at: Int) -> Bool {
                guard let h = number(at, 2), b.count > at + 5, b[at + 2] == 58, let m = number(at + 3, 2), b[at + 5] == 58, let s = number(at + 6, 2) else { return false }
                return h < 24 && m < 60 && s < 60
            }
            if b[10] == 32 { return b.count == 19 && clock(11) }
            guard b[10] == 84 || b[10] == 116, b.count >= 20, clock(11) else { return false }
            var i = 19
            if i < b.count, b[i] == 46 {
                i += 1
                let start = i
                while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
                guard i > start else { return false }
            }
            guard i < b.count else { return false }
            if b[i] == 90 || b[i] == 122 { return i + 1 == b.count }
            guard b[i] == 43 || b[i] == 45, b.count == i + 6, let h = number(i + 1, 2), b[i + 3] == 58, let m = number(i + 4, 2) else { return false }
            return h < 24 && m < 60
        }

        /// RFC 3339, or `YYYY-MM-DD` / `YYYY-MM-DD hh:mm:ss` in UTC: Unix milliseconds.
        static func time(_ text: String) -> Int64? {
            guard Self.isTime(text) else { return nil }
            var candidate = text
            let bytes = Array(text.utf8)
            if bytes.count == 10 { candidate = text + "T00:00:00Z" } else if bytes.count == 19, bytes[10] == UInt8(ascii: " ") {
                candidate = String(text.prefix(10)) + "T" + String(text.suffix(8)) + "Z"
            }
            // The pattern holds the calendar (no 2026-02-30) and the offsets' ranges.
            guard let parsed = UnixTime(rfc3339: candidate) else { return nil }
            return parsed.seconds * 1000 + Int64(parsed.nanoseconds / 1_000_000)
        }
    }

    struct BodyError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    func query(_ request: Request, context: APIContext) async throws -> Response {
        // Kube-App's order: method (routed), credentials, metric.
        let principal: Principal
        switch access.caller(request) {
        case .failure(.missing): return Self.answer(401, "You are not authorized")
        case .failure(.unrecognized): return Self.answer(401, "Username and password is not recognized")
        case .success(let caller): principal = caller
        }
        let metric = context.parameters.getCatchAll().joined(separator: "/")
        guard !metric.isEmpty, KubeApp.knows(metric) else { return Self.answer(404, "Request not found") }
        var request = request
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let body: Body
        do { body = try Body(Array(buffer: buffer)) } catch { return Self.answer(400, "Bad request: \(error.message)") }
        let now = self.now()
        let end = body.end ?? now
        let begin = body.begin ?? end - 3_600_000
        // Both bounds exclusive, as Kube-App's query: a beginning at or after the end selects nothing.
        guard begin < end else { return Self.answer(200, "Query returns empty set") }
        let visible = access.visibility.namespaces(for: principal)
        let history = self.history
        switch body.agg {
        case nil, .podByNamespace:
            guard visible(body.namespace) else { return Self.answer(403, "Forbidden") }
        case .allPod, .allNamespace:
            break
        }
        let namespace = body.namespace
        let started = ContinuousClock.now
        defer { timer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6) }
        do {
            if let grouping = body.agg {
                let admits: @Sendable (String) -> Bool
                if grouping == .podByNamespace { admits = { $0 == namespace } } else { admits = { $0 != "kube-system" && visible($0) } }
                let sums = try await Task.detached(priority: .userInitiated) {
                    try history.kubeAppSums(metric, grouping: grouping, namespaces: admits, begin: begin, end: end)
                }.value
                if sums.isEmpty { return Self.answer(200, "Query returns empty set") }
                return Self.render(sums, begin: begin)
            }
            let rows = try await Task.detached(priority: .userInitiated) {
                try history.kubeAppRows(metric, namespaces: { $0 == namespace }, begin: begin, end: end, limit: body.limit)
            }.value
            if rows.isEmpty { return Self.answer(200, "Query returns empty set") }
            return render(rows, gpu: metric.hasPrefix("gpu/"))
        } catch {
            failures.increment()
            access.auth.logger.error("kube-app query failed", metadata: ["metric": "\(metric)", "error": "\(error)"])
            return Self.answer(500, "Wrong configuration or query to the history")
        }
    }

    static func render(_ sums: [KubeApp.Sum], begin: Int64) -> Response {
        var w = JSONWriter(capacity: 64 + sums.count * 96)
        let time = UnixTime(seconds: floorDivide(begin, 1000)).rfc3339
        w.beginArray()
        for sum in sums {
            w.beginObject()
            w.field("time", time)
            if let exact = sum.exact { w.field("sum", exact) } else { w.field("sum", sum.sum) }
            w.field("namespace_name", sum.namespace)
            if let pod = sum.pod { w.field("pod_name", pod) }
            w.endObject()
        }
        w.endArray()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    /// `gpu`: the rows carry the container's GPUs (`gpu_uuid`, `gpu_name`, `gpu_index`), as
    /// Kube-App's `gpu/usage` rows did.
    func render(_ rows: [KubeApp.Row], gpu: Bool = false) -> Response {
        var w = JSONWriter(capacity: 64 + rows.count * 320)
        w.beginArray()
        for row in rows {
            let p = row.properties
            w.beginObject()
            w.field("time", time: floorDivide(row.time, 1000))
            if row.integer, row.value.magnitude < 9.0e15 { w.field("value", Int64(row.value)) } else { w.field("value", row.value) }
            w.field("type", row.type)
            w.field("pod_name", p.pod)
            w.field("namespace_name", p.namespace)
            Self.optional(&w, "container_name", row.type == "pod" ? "" : p.container)
            Self.optional(&w, "nodename", p.node)
            w.field("labels", p.labels.keys.sorted().map { "\($0):\(p.labels[$0]!)" }.joined(separator: ","))
            Self.optional(&w, "container_base_image", row.type == "pod" ? "" : p.image)
            Self.optional(&w, "cluster_name", clusterName)
            if gpu {
                Self.optional(&w, "gpu_uuid", p.gpuUUID)
                Self.optional(&w, "gpu_name", p.gpuName)
                Self.optional(&w, "gpu_index", p.gpuIndex)
            }
            w.endObject()
        }
        w.endArray()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    /// A tag that is missing is `null`, as InfluxDB answered.
    static func optional(_ w: inout JSONWriter, _ name: String, _ value: String) {
        w.key(name)
        if value.isEmpty { w.null() } else { w.value(value) }
    }
}

/// Kube-App's request body checked as the API checks it: nil when it is accepted, else the
/// 400's message (for the fuzz target and tools).
public func kubeAppBodyProblem(_ bytes: [UInt8]) -> String? {
    do {
        _ = try KubeAppController.Body(bytes)
        return nil
    } catch {
        return error.message
    }
}

@inline(__always) func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
