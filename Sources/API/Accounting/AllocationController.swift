import Aggregator
import Foundation
import Hummingbird
import Kubernetes
import Metrics

/// `GET|POST /api/v2/allocation`: usage per container, pod, controller, namespace, owner or
/// label, per step, exact from the history's counters (OpenCost's fields, REFERENCE.md §7).
struct AllocationController {
    let history: HistoryStore
    let access: AccountingAuth
    let cluster: (any ClusterView)?
    let namespaceAccess: NamespaceAccess
    let clusterName: String
    let prices: PriceTable?
    /// Unix milliseconds.
    let now: @Sendable () -> Int64

    let timer = Timer(label: "clustermon_accounting_query_seconds", dimensions: [("api", "allocation")])
    let failures = Counter(label: "clustermon_accounting_failures_total", dimensions: [("api", "allocation")])

    static var parameters: [String] { OpenAPI.allocation.map(\.name) }
    /// More steps than this in one answer are refused.
    static let maxSteps = 1000

    func addRoutes(to router: Router<APIContext>) {
        router.get("/api/v2/allocation") { request, _ in
            try await self.answer(request) { try request.checkedQuery(OpenAPI.allocation) }
        }
        router.post("/api/v2/allocation") { request, _ in
            var request = request
            let buffer = try await request.collectBody(upTo: 64 * 1024)
            return try await self.answer(request) { try Self.bodyParameters(Array(buffer: buffer)) }
        }
    }

    /// A POST body: a JSON object of the GET parameters (strings; `accumulate` may be a
    /// boolean); an empty body is every default.
    static func bodyParameters(_ bytes: [UInt8]) throws -> [String: String] {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard let object = JSONValue.object(bytes) else {
            throw APIFailure(.badRequest, "the body must be a JSON object of the parameters: \(parameters.joined(separator: ", "))")
        }
        var result: [String: String] = [:]
        for (key, value) in object {
            guard let parameter = OpenAPI.allocation.first(where: { $0.name == key }) else {
                throw APIFailure(.badRequest, "unknown field \"\(key)\"; allowed: \(parameters.joined(separator: ", "))")
            }
            switch value {
            case .string(let text): result[key] = text
            case .bool(let flag) where key == "accumulate": result[key] = flag ? "true" : "false"
            default:
                throw APIFailure(.badRequest, "\(key) must be a string\(key == "accumulate" ? " or a boolean" : "")")
            }
            try parameter.check(result[key]!)
        }
        return result
    }

    /// The answer to a caller's parameters (read once the caller is known: credentials first).
    func answer(_ request: Request, parameters read: () throws -> [String: String]) async throws -> Response {
        let principal: Principal
        switch access.caller(request) {
        case .success(let caller): principal = caller
        case .failure: throw APIFailure.unauthorized
        }
        let parameters = try read()
        let now = self.now()
        var query = AllocationQuery(edges: try Self.edges(window: parameters["window"] ?? "24h", step: parameters["step"], now: now))
        if let text = parameters["aggregate"], !text.isEmpty {
            query.aggregate = try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
                guard let key = AllocationKey(String(part).trimmingCharacters(in: .whitespaces)) else {
                    throw APIFailure(.badRequest, "aggregate: unknown property \"\(part)\"; one or more of \(AllocationKey.names), comma-separated")
                }
                return key
            }
        }
        if let text = parameters["accumulate"] {
            guard let flag = Bool(text) else { throw APIFailure(.badRequest, "accumulate must be true or false, got \"\(text)\"") }
            query.accumulate = flag
        }
        if let text = parameters["basis"] {
            guard let basis = AllocationBasis(rawValue: text) else {
                throw APIFailure(.badRequest, "basis must be one of \(AllocationBasis.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            query.basis = basis
        }
        let format = parameters["format"] ?? "json"
        guard format == "json" || format == "csv" else { throw APIFailure(.badRequest, "format must be json or csv, got \"\(format)\"") }
        let visible = access.visibility.namespaces(for: principal)
        if let text = parameters["filter"], !text.isEmpty {
            let filter = try AllocationFilter(text)
            // Naming a namespace the caller cannot see is refused, as everywhere else.
            for namespace in filter.namespaces where !visible(namespace) { throw APIFailure.forbidden }
            query.filter = { filter.admits($0) }
        }
        query.namespaces = visible
        query.cluster = clusterName
        if let cluster {
            let owners = namespaceAccess.namespaceOwners(cluster)
            let rules = namespaceAccess
            query.owner = { namespace in rules.owner(of: namespace, labels: cluster.namespaceLabels(namespace), knownOwners: owners) }
        } else {
            let rules = namespaceAccess
            query.owner = { rules.owner(of: $0, labels: nil, knownOwners: []) }
        }
        let history = self.history
        let frozen = query
        let started = ContinuousClock.now
        defer { timer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6) }
        let steps: [[String: Allocation]]
        do {
            steps = try await Task.detached(priority: .userInitiated) { try history.allocations(frozen) }.value
        } catch {
            failures.increment()
            access.auth.logger.error("allocation query failed", metadata: ["error": "\(error)"])
            throw APIFailure(.internalServerError, "the history could not be read: \(error)")
        }
        let step = parameters["step"]
        return format == "csv" ? Self.csv(steps, prices: prices) : Self.json(steps, query: frozen, step: step, prices: prices)
    }

    // MARK: - Windows and steps

    /// The steps' edges (Unix milliseconds) of `window` cut by `step`; never past now.
    static func edges(window text: String, step: String?, now: Int64) throws -> [Int64] {
        var (start, end) = try window(text, now: now)
        end = min(end, now)
        guard start < end else { throw APIFailure(.unprocessableContent, "window \"\(text)\" is empty or in the future") }
        guard let step, !step.isEmpty else { return [start, end] }
        var edges = [start]
        func next(_ time: Int64) throws -> Int64 {
            switch step {
            case "day": return Calendar.utc.next(time, unit: .day)
            case "week": return Calendar.utc.next(time, unit: .weekOfYear)
            case "month": return Calendar.utc.next(time, unit: .month)
            default:
                guard let duration = duration(step) else {
                    throw APIFailure(.badRequest, "step must be a duration (30m, 1h, 1d, 1w) or day, week or month, got \"\(step)\"")
                }
                return time + duration
            }
        }
        while edges.last! < end {
            let upcoming = try next(edges.last!)
            edges.append(min(upcoming, end))
            if edges.count > maxSteps + 1 {
                throw APIFailure(.unprocessableContent, "window \"\(text)\" with step \"\(step)\" makes more than \(maxSteps) steps; choose a longer step")
            }
        }
        return edges
    }

    /// A duration with the units m, h, d, w (or any Go duration of at least a minute).
    static func duration(_ text: String) -> Int64? {
        if let last = text.last, last == "d" || last == "w", let count = Int64(text.dropLast()), count > 0, count < 100_000 {
            return count * (last == "d" ? 86_400_000 : 604_800_000)
        }
        guard let parsed = GoDurationText.parse(text), parsed >= .seconds(60) else { return nil }
        return parsed.components.seconds * 1000 + parsed.components.attoseconds / 1_000_000_000_000_000
    }

    /// `today`, `yesterday`, `week`, `lastweek`, `month`, `lastmonth`, a duration up to now,
    /// `<RFC3339>,<RFC3339>` or Unix seconds `s,e`.
    static func window(_ text: String, now: Int64) throws -> (Int64, Int64) {
        let calendar = Calendar.utc
        switch text {
        case "today": return (calendar.start(of: .day, now), now)
        case "yesterday":
            let today = calendar.start(of: .day, now)
            return (calendar.previous(today, unit: .day), today)
        case "week": return (calendar.start(of: .weekOfYear, now), now)
        case "lastweek":
            let week = calendar.start(of: .weekOfYear, now)
            return (calendar.previous(week, unit: .weekOfYear), week)
        case "month": return (calendar.start(of: .month, now), now)
        case "lastmonth":
            let month = calendar.start(of: .month, now)
            return (calendar.previous(month, unit: .month), month)
        default: break
        }
        if let duration = duration(text) { return (now - duration, now) }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            if let a = Int64(parts[0]), let b = Int64(parts[1]), a >= 0, b >= 0, a < 1 << 40, b < 1 << 40 { return (a * 1000, b * 1000) }
            if let a = UnixTime(rfc3339: parts[0]), let b = UnixTime(rfc3339: parts[1]) {
                return (a.seconds * 1000 + Int64(a.nanoseconds / 1_000_000), b.seconds * 1000 + Int64(b.nanoseconds / 1_000_000))
            }
        }
        throw APIFailure(.badRequest, "window must be today, yesterday, week, lastweek, month, lastmonth, a duration (15m, 24h, 7d, 2w), <RFC3339>,<RFC3339> or <unix seconds>,<unix seconds>; got \"\(text)\"")
    }

    // MARK: - Rendering

    static func time(_ milliseconds: Int64) -> String {
        let seconds = floorDivide(milliseconds, 1000)
        let remainder = milliseconds - seconds * 1000
        return UnixTime(seconds: seconds, nanoseconds: Int32(remainder * 1_000_000)).rfc3339
    }

    static func json(_ steps: [[String: Allocation]], query: AllocationQuery, step: String?, prices: PriceTable?) -> Response {
        var w = JSONWriter(capacity: 1024 + steps.reduce(0) { $0 + $1.count * 1400 })
        w.beginObject()
        w.field("code", 200)
        w.field("status", "success")
        w.key("data"); w.beginArray()
        for allocations in steps {
            w.beginObject()
            for key in allocations.keys.sorted() {
                w.key(key)
                write(allocations[key]!, prices: prices, to: &w)
            }
            w.endObject()
        }
        w.endArray()
        w.key("meta"); w.beginObject()
        w.key("window"); w.beginObject()
        w.field("start", time(query.edges.first!)); w.field("end", time(query.edges.last!))
        w.endObject()
        if let step { w.field("step", step) } else { w.key("step"); w.null() }
        w.field("basis", query.basis.rawValue)
        w.field("accumulate", query.accumulate)
        w.key("units"); w.beginObject()
        for (name, unit) in [("cpuCoreHours", "core-hours"), ("cpuCoreNanoseconds", "core-nanoseconds"), ("cpu*Average", "cores"),
                             ("ramByteHours", "byte-hours"), ("ram*Average", "bytes"), ("network*Bytes", "bytes"), ("minutes", "minutes"),
                             ("coverage", "share of the members' time in the window that had samples")] {
            w.field(name, unit)
        }
        if let prices { w.field("currency", prices.currency) }
        w.endObject()
        w.endObject()
        w.endObject()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    static func write(_ a: Allocation, prices: PriceTable?, to w: inout JSONWriter) {
        w.beginObject()
        w.field("name", a.name)
        w.key("properties"); w.beginObject()
        for key in ["cluster", "node", "namespace", "controllerKind", "controller", "pod", "container"] {
            if let value = a.properties[key] { w.field(key, value) }
        }
        w.endObject()
        w.key("window"); w.beginObject(); w.field("start", time(a.windowStart)); w.field("end", time(a.windowEnd)); w.endObject()
        w.field("start", time(a.start == .max ? a.windowStart : a.start))
        w.field("end", time(a.end == .min ? a.windowEnd : a.end))
        w.field("minutes", exact: a.minutes)
        w.field("cpuCoreRequestAverage", exact: a.cpuCoreRequestAverage)
        w.field("cpuCoreUsageAverage", exact: a.cpuCoreUsageAverage)
        w.field("cpuCoreUsageMax", exact: a.cpuCoreUsageMax)
        w.field("cpuCoreHours", exact: a.cpuCoreHours)
        w.field("cpuCoreNanoseconds", a.cpuCoreNanoseconds)
        w.field("cpuEfficiency", exact: a.cpuEfficiency)
        w.field("ramByteRequestAverage", exact: a.ramByteRequestAverage)
        w.field("ramByteUsageAverage", exact: a.ramByteUsageAverage)
        w.field("ramByteUsageMax", exact: a.ramByteUsageMax)
        w.field("ramByteHours", exact: a.ramByteHours)
        w.field("ramEfficiency", exact: a.ramEfficiency)
        w.field("gpuCount", exact: a.gpuCount)
        w.field("gpuHours", exact: a.gpuHours)
        w.field("gpuUsageAverage", exact: a.gpuUsageAverage)
        w.field("gpuMemoryByteHours", exact: a.gpuMemoryByteHours)
        w.field("networkReceiveBytes", a.networkReceiveBytes)
        w.field("networkTransferBytes", a.networkTransferBytes)
        w.field("pvBytes", 0)
        w.field("pvByteHours", 0)
        w.field("totalEfficiency", exact: a.totalEfficiency(prices))
        w.field("coverage", exact: a.coverage)
        w.field("containerInstances", a.containerInstances)
        w.field("restarts", a.restarts)
        if let prices {
            w.field("cpuCost", exact: a.cpuCost(prices))
            w.field("ramCost", exact: a.ramCost(prices))
            w.field("gpuCost", exact: a.gpuCost(prices))
            w.field("networkCost", exact: a.networkCost(prices))
            w.field("totalCost", exact: a.totalCost(prices))
        }
        w.endObject()
    }

    static let csvHeader = ["Date", "Namespace", "ControllerKind", "ControllerName", "Pod", "Container", "CPUCoreUsageAverage", "CPUCoreRequestAverage",
                            "CPUCoreHours", "RAMBytesUsageAverage", "RAMBytesRequestAverage", "RAMByteHours", "NetworkReceiveBytes",
                            "NetworkTransferBytes", "GPUs", "GPUHours", "GPUUsageAverage", "GPUMemoryByteHours", "Coverage"]

    static func csv(_ steps: [[String: Allocation]], prices: PriceTable?) -> Response {
        var lines = [(csvHeader + (prices == nil ? [] : ["CPUCost", "RAMCost", "GPUCost", "NetworkCost", "TotalCost"])).joined(separator: ",")]
        func number(_ value: Double) -> String {
            var w = JSONWriter(capacity: 24)
            w.value(exact: value)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        for allocations in steps {
            for key in allocations.keys.sorted() {
                let a = allocations[key]!
                var fields = [time(a.windowStart), a.properties["namespace"] ?? "", a.properties["controllerKind"] ?? "", a.properties["controller"] ?? "",
                              a.properties["pod"] ?? "", a.properties["container"] ?? "",
                              number(a.cpuCoreUsageAverage), number(a.cpuCoreRequestAverage), number(a.cpuCoreHours),
                              number(a.ramByteUsageAverage), number(a.ramByteRequestAverage), number(a.ramByteHours),
                              String(a.networkReceiveBytes), String(a.networkTransferBytes), number(a.gpuCount), number(a.gpuHours),
                              number(a.gpuUsageAverage), number(a.gpuMemoryByteHours), number(a.coverage)]
                if let prices {
                    fields += [number(a.cpuCost(prices)), number(a.ramCost(prices)), number(a.gpuCost(prices)), number(a.networkCost(prices)), number(a.totalCost(prices))]
                }
                lines.append(fields.map(csvField).joined(separator: ","))
            }
        }
        let text = lines.joined(separator: "\r\n") + "\r\n"
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"allocation.csv\""],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break; a leading `=+-@`
    /// is prefixed with `'` so that a spreadsheet never runs a name as a formula.
    static func csvField(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@".contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// OpenCost's filter language, the part allocations use: clauses joined by `+` (all must
/// hold), each `<field>:"v1","v2"` (any value) or `<field>!:"v"` (none), fields
/// `namespace`, `node`, `controllerKind`, `controllerName` (or `controller`), `pod`,
/// `container`, `label[<key>]`.
struct AllocationFilter: Sendable {
    enum Field: Sendable, Equatable { case namespace, node, controllerKind, controller, pod, container, label(String) }
    struct Clause: Sendable {
        var field: Field
        var values: [String]
        var negated: Bool
    }
    var clauses: [Clause] = []

    /// The namespaces a positive `namespace` clause names (a user may name only their own).
    var namespaces: [String] { clauses.filter { $0.field == .namespace }.flatMap(\.values) }

    /// The characters that end a bare value: those of the grammar and ASCII white space.
    static let bareStops: Set<Unicode.Scalar> = ["\"", ",", "+", " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]

    /// Parses the grammar the document's pattern states, and nothing else:
    /// `clause(+clause)*`, `clause = field!?:value(,value)*`, a value `"..."` (non-empty,
    /// `\` escapes the next character) or bare (none of `",+` or white space).
    init(_ text: String) throws {
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            var name = ""
            while i < scalars.count, scalars[i] != ":" { name.unicodeScalars.append(scalars[i]); i += 1 }
            guard i < scalars.count else { throw Self.error("\"\(name)\" has no ':'") }
            i += 1
            let negated = name.hasSuffix("!")
            if negated { name.removeLast() }
            let field: Field
            switch name {
            case "namespace": field = .namespace
            case "node": field = .node
            case "controllerKind": field = .controllerKind
            case "controllerName", "controller": field = .controller
            case "pod": field = .pod
            case "container": field = .container
            default:
                guard name.hasPrefix("label["), name.hasSuffix("]"), name.count > 7 else {
                    throw Self.error("unknown field \"\(name)\"")
                }
                field = .label(String(name.dropFirst(6).dropLast()))
            }
            var values: [String] = []
            while true {
                var value = ""
                if i < scalars.count, scalars[i] == "\"" {
                    i += 1
                    while i < scalars.count, scalars[i] != "\"" {
                        if scalars[i] == "\\" { i += 1 }
                        guard i < scalars.count else { break }
                        value.unicodeScalars.append(scalars[i])
                        i += 1
                    }
                    guard i < scalars.count else { throw Self.error("an unclosed quote") }
                    i += 1
                } else {
                    while i < scalars.count, !Self.bareStops.contains(scalars[i]) { value.unicodeScalars.append(scalars[i]); i += 1 }
                }
                guard !value.isEmpty else { throw Self.error("\(name) has an empty value") }
                values.append(value)
                guard i < scalars.count, scalars[i] == "," else { break }
                i += 1
            }
            clauses.append(Clause(field: field, values: values, negated: negated))
            if i < scalars.count {
                guard scalars[i] == "+" else { throw Self.error("\"\(Character(scalars[i]))\" after a value") }
                i += 1
                guard i < scalars.count else { throw Self.error("nothing after '+'") }
            }
        }
    }

    func admits(_ p: InstanceProperties) -> Bool {
        clauses.allSatisfy { clause in
            let value: String?
            switch clause.field {
            case .namespace: value = p.namespace
            case .node: value = p.node
            case .controllerKind: value = p.controllerKind
            case .controller: value = p.controller
            case .pod: value = p.pod
            case .container: value = p.container
            case .label(let key): value = p.labels[key]
            }
            let hit = value.map { clause.values.contains($0) } ?? false
            return clause.negated ? !hit : hit
        }
    }

    static func error(_ why: String) -> APIFailure {
        APIFailure(.badRequest, "filter: \(why); the form is namespace:\"a\",\"b\"+label[app]:\"web\" (fields namespace, node, controllerKind, controllerName, pod, container, label[<key>]; !: negates)")
    }
}

extension Calendar {
    /// The Gregorian calendar in UTC, weeks starting on Sunday (as OpenCost's `week`).
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        calendar.firstWeekday = 1
        return calendar
    }()

    func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
    func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// The start of the day, week or month holding `time`.
    func start(of unit: Calendar.Component, _ time: Int64) -> Int64 {
        milliseconds(dateInterval(of: unit, for: date(time))!.start)
    }

    /// The next start of a day, week or month after `time`.
    func next(_ time: Int64, unit: Calendar.Component) -> Int64 {
        milliseconds(dateInterval(of: unit, for: date(time))!.end)
    }

    /// The start of the day, week or month before the one that starts at `time`.
    func previous(_ time: Int64, unit: Calendar.Component) -> Int64 { start(of: unit, time - 1) }
}
