import Aggregator
import Hummingbird
import Kubernetes
import Metrics
import NIOCore
import Synchronization

/// `GET /metrics/resource`: the kubelet's resource metrics for every node, pod and container
/// of the cluster in one Prometheus text exposition (one scrape of the aggregator instead of
/// one per kubelet), with a `node` label and the agents' sample timestamps, and the
/// dependency graph's edges as counters.
///
/// Each node's lines are rendered once per agent snapshot and kept until the next one, so
/// a scrape renders only the nodes that reported since the previous scrape and sends the
/// rest from the cache, without copying: the body is the kept buffers in family order.
public final class ResourceMetrics: Sendable {
    let samples: @Sendable () -> [NodeSample]
    let edges: (@Sendable () -> [EdgeHistory])?
    private let cache = Mutex<[String: NodeLines]>([:])
    private let renderTimer = Timer(label: "clustermon_resource_metrics_render_seconds")

    public init(samples: @escaping @Sendable () -> [NodeSample], edges: (@Sendable () -> [EdgeHistory])?) {
        self.samples = samples
        self.edges = edges
    }

    /// One node's lines per family, for the snapshot they were rendered from.
    struct NodeLines: @unchecked Sendable {
        // ByteBuffer is a value type with copy-on-write storage; these are never mutated.
        var agentInstance: String
        var sequence: UInt64
        var families: [ByteBuffer]
    }

    /// Two low-priority threads of their own (shared by every instance): rendering is
    /// hundreds of milliseconds at 1,000 nodes, never spent on the pool serving requests,
    /// and nodes are independent, so both cores take half.
    static let workers = [BackgroundThread(name: "clustermon-scrape-0"), BackgroundThread(name: "clustermon-scrape-1")]

    /// The exposition as buffers, in order; nodes whose agent has been silent for three
    /// intervals are left out (as metrics.k8s.io leaves them out). The nodes that reported
    /// since the last call are rendered on the two scrape threads.
    public func render(now: Double) async -> [ByteBuffer] {
        let started = ContinuousClock.now
        let nodes = samples().filter { !MetricsAPIController.stale($0, now: now) }.sorted { $0.name < $1.name }
        let kept = cache.withLock { $0 }
        let stale = nodes.filter { node in
            guard let lines = kept[node.name] else { return true }
            return lines.agentInstance != node.agentInstance || lines.sequence != node.sequence
        }
        let half = stale.count / 2
        let first = stale[..<half], second = stale[half...]
        async let a = Self.workers[0].run { first.map(Self.lines) }
        async let b = Self.workers[1].run { second.map(Self.lines) }
        let rendered = await a + b
        var fresh: [String: NodeLines] = [:]
        fresh.reserveCapacity(nodes.count)
        for node in nodes { fresh[node.name] = kept[node.name] }
        for (node, lines) in zip(stale, rendered) { fresh[node.name] = lines }
        // Departed nodes leave the cache with this swap.
        cache.withLock { $0 = fresh }
        var body: [ByteBuffer] = []
        body.reserveCapacity(ResourceFamily.allCases.count * (nodes.count + 1) + EdgeSeries.families.count)
        let ordered = nodes.compactMap { fresh[$0.name] }
        for family in ResourceFamily.allCases {
            let header = body.count
            body.append(ByteBuffer(string: "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"))
            for lines in ordered where lines.families[family.rawValue].readableBytes > 0 { body.append(lines.families[family.rawValue]) }
            // The kubelet's families are always named; clustermon's GPU ones only with series.
            if family.isGPU, body.count == header + 1 { body.removeLast() }
        }
        if let edges { body.append(contentsOf: Self.edgeLines(edges())) }
        renderTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
        return body
    }

    /// The response: `text/plain; version=0.0.4`, as Prometheus' classic text format.
    func response(now: Double) async -> Response {
        let body = await render(now: now)
        let length = body.reduce(0) { $0 + $1.readableBytes }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .contentLength: String(length)],
                        body: ResponseBody(contentsOf: body))
    }

    // MARK: - Rendering

    /// `name{` of every family, one after the other, and where each one is.
    static let prefixBytes: [UInt8] = ResourceFamily.allCases.flatMap { Array($0.name.utf8) + [UInt8(ascii: "{")] }
    static let prefixOffsets: [Int] = ResourceFamily.allCases.reduce(into: [0]) { $0.append($0.last! + $1.name.utf8.count + 1) }

    static func lines(_ node: NodeSample) -> NodeLines {
        let containers = node.pods.reduce(0) { $0 + $1.containers.count }
        let allocator = ByteBufferAllocator()
        var families = ResourceFamily.allCases.map { family -> ByteBuffer in
            switch family {
            case .nodeCPU, .nodeMemory: allocator.buffer(capacity: 128)
            case .podCPU, .podMemory: allocator.buffer(capacity: node.pods.count * 140)
            case .containerCPU, .containerMemory, .containerStart: allocator.buffer(capacity: containers * 170)
            default: allocator.buffer(capacity: 0)   // GPUs: few nodes and pods have any
            }
        }
        // ` <timestamp ms>\n`, the same on every line of the snapshot.
        var suffix: [UInt8] = [UInt8(ascii: " ")]
        JSONWriter.appendDigits(UInt64(max((node.collectedAt * 1000).rounded(), 0)), to: &suffix)
        suffix.append(UInt8(ascii: "\n"))
        var nodeLabel: [UInt8] = []
        appendLabel("node", node.name, to: &nodeLabel)
        // A line's labels (`container="..",namespace="..",node="..",pod=".."`, the pod's
        // without the container, the node's alone), built once per pod and container.
        var labels: [UInt8] = []
        labels.reserveCapacity(512)
        let offsets = Self.prefixOffsets
        // Each line is written straight into its family's buffer through one pointer: one
        // capacity check per line, no per-append bounds or uniqueness checks (the render is
        // about 550,000 lines at 1,000 nodes x 110 pods).
        families.withUnsafeMutableBufferPointer { families in
            Self.prefixBytes.withUnsafeBufferPointer { prefixes in
                suffix.withUnsafeBufferPointer { suffix in
                    /// The lines of one node, pod or container: `labels` then `more` between the braces.
                    func lines(_ labels: UnsafeBufferPointer<UInt8>, _ more: UnsafeBufferPointer<UInt8> = .init(start: nil, count: 0),
                               _ series: ((ResourceFamily, ResourceValue) -> Void) -> Void) {
                        series { family, value in
                            let prefix = UnsafeBufferPointer(rebasing: prefixes[offsets[family.rawValue]..<offsets[family.rawValue + 1]])
                            write(prefix: prefix, labels: labels, more, value: value, suffix: suffix, to: &families[family.rawValue])
                        }
                    }
                    nodeLabel.withUnsafeBufferPointer { labels in lines(labels) { ResourceSeries.nodeSeries(node, $0) } }
                    for pod in node.pods {
                        // The pod's labels follow its containers' `container="..",`.
                        labels.removeAll(keepingCapacity: true)
                        appendLabel("namespace", pod.namespace, to: &labels)
                        labels.append(UInt8(ascii: ","))
                        labels += nodeLabel
                        labels.append(UInt8(ascii: ","))
                        appendLabel("pod", pod.name, to: &labels)
                        let podLength = labels.count
                        labels.withUnsafeBufferPointer { labels in lines(labels) { ResourceSeries.podSeries(pod, $0) } }
                        for container in pod.containers where ResourceSeries.isReported(container) {
                            labels.removeSubrange(podLength...)
                            appendLabel("container", container.name, to: &labels)
                            labels.append(UInt8(ascii: ","))
                            labels.withUnsafeBufferPointer { all in
                                // `container="..",` and then the pod's.
                                lines(UnsafeBufferPointer(rebasing: all[podLength...]), UnsafeBufferPointer(rebasing: all[..<podLength])) {
                                    ResourceSeries.containerSeries(container, $0)
                                }
                            }
                        }
                    }
                }
            }
        }
        return NodeLines(agentInstance: node.agentInstance, sequence: node.sequence, families: families)
    }

    /// One line: `name{labels} value timestamp\n`.
    @inline(__always)
    static func write(prefix: UnsafeBufferPointer<UInt8>, labels: UnsafeBufferPointer<UInt8>, _ more: UnsafeBufferPointer<UInt8> = .init(start: nil, count: 0),
                      value: ResourceValue, suffix: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) {
        // A ratio (GPUs only) as Swift writes a Double; every other value fits in 21 characters.
        var ratio: [UInt8] = []
        if case .ratio(let r) = value { ratio = Array((r.isFinite ? r : 0).description.utf8) }
        let most = prefix.count + labels.count + more.count + 2 + max(21, ratio.count) + suffix.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: most) { raw in
            let start = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var cursor = start
            put(prefix, at: &cursor)
            put(labels, at: &cursor)
            put(more, at: &cursor)
            cursor[0] = UInt8(ascii: "}")
            cursor[1] = UInt8(ascii: " ")
            cursor += 2
            switch value {
            case .nanoseconds(let n): putSeconds(nanoseconds: n, at: &cursor)
            case .count(let n): JSONWriter.putDigits(n, at: &cursor)
            case .ratio: ratio.withUnsafeBufferPointer { put($0, at: &cursor) }
            }
            put(suffix, at: &cursor)
            return cursor - start
        }
    }

    @inline(__always)
    static func put(_ bytes: UnsafeBufferPointer<UInt8>, at cursor: inout UnsafeMutablePointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        cursor.update(from: base, count: bytes.count)
        cursor += bytes.count
    }

    /// Nanoseconds as exact decimal seconds (`36.205284112`, `7`): no float rounding, so
    /// `rate()` over the exposition is the counters' own. At most 21 characters.
    @inline(__always)
    static func putSeconds(nanoseconds: UInt64, at cursor: inout UnsafeMutablePointer<UInt8>) {
        JSONWriter.putDigits(nanoseconds / 1_000_000_000, at: &cursor)
        var fraction = nanoseconds % 1_000_000_000
        guard fraction > 0 else { return }
        var width = 9
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        cursor.pointee = UInt8(ascii: ".")
        // `width` digits, leading zeros included.
        var index = cursor + 1 + width
        for _ in 0..<width {
            index -= 1
            index.pointee = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        cursor += 1 + width
    }

    /// `name="value"`, the value escaped as the text format wants (`\`, `"`, newlines).
    static func appendLabel(_ name: StaticString, _ value: String, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "="))
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            if !utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) {
                bytes.append(contentsOf: utf8)
            } else {
                bytes += escaped(String(decoding: utf8, as: UTF8.self))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static func edgeLines(_ edges: [EdgeHistory]) -> [ByteBuffer] {
        let labelled = edges.map { edge -> (labels: [UInt8], edge: EdgeHistory) in
            var labels: [UInt8] = []
            for (index, (name, value)) in EdgeSeries.labels(edge.key).enumerated() {
                if index > 0 { labels.append(UInt8(ascii: ",")) }
                labels += label(name, value)
            }
            return (labels, edge)
        }.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }
        return EdgeSeries.families.map { family in
            var bytes = Array("# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n".utf8)
            for (labels, edge) in labelled {
                bytes += family.name.utf8
                bytes.append(UInt8(ascii: "{"))
                bytes += labels
                bytes += "} ".utf8
                JSONWriter.appendDigits(family.value(edge), to: &bytes)
                bytes.append(UInt8(ascii: "\n"))
            }
            return ByteBuffer(bytes: bytes)
        }
    }

    static func label(_ name: String, _ value: String) -> [UInt8] {
        Array(name.utf8) + [UInt8(ascii: "="), UInt8(ascii: "\"")] + escaped(value) + [UInt8(ascii: "\"")]
    }

    /// A label value as the text format wants it: `\`, `"` and newlines escaped.
    static func escaped(_ value: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            default: out.append(byte)
            }
        }
        return out
    }

    /// `putSeconds` into an array (tests read it this way).
    static func appendSeconds(nanoseconds: UInt64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { buffer in
            var cursor = buffer.baseAddress!
            putSeconds(nanoseconds: nanoseconds, at: &cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: cursor - buffer.baseAddress!))
        }
    }
}

/// The route of `/metrics/resource`: admins only (a Prometheus scrape config's
/// `authorization` with an admin JWT), as the figures of every tenant are in it.
struct ResourceMetricsController {
    let metrics: ResourceMetrics
    let auth: Authenticator
    /// Unix seconds.
    let now: @Sendable () -> Double

    func addRoutes(to router: Router<APIContext>) {
        router.get("/metrics/resource") { request, _ -> Response in
            _ = try self.auth.admin(request)
            _ = try request.checkedQuery([])
            return await self.metrics.response(now: self.now())
        }
    }
}
