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
        let first = Array(stale[..<half]), second = Array(stale[half...])
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
        for family in ResourceFamily.allCases {
            let header = body.count
            body.append(ByteBuffer(string: "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"))
            for node in nodes {
                if let buffer = fresh[node.name]?.families[family.rawValue], buffer.readableBytes > 0 { body.append(buffer) }
            }
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

    /// `name{` of each family.
    static let prefixes: [[UInt8]] = ResourceFamily.allCases.map { Array($0.name.utf8) + [UInt8(ascii: "{")] }

    static func lines(_ node: NodeSample) -> NodeLines {
        let containers = node.pods.reduce(0) { $0 + $1.containers.count }
        var families = ResourceFamily.allCases.map { family -> [UInt8] in
            var bytes: [UInt8] = []
            switch family {
            case .nodeCPU, .nodeMemory: bytes.reserveCapacity(128)
            case .podCPU, .podMemory: bytes.reserveCapacity(node.pods.count * 140)
            case .containerCPU, .containerMemory, .containerStart: bytes.reserveCapacity(containers * 160)
            default: break   // GPUs: few nodes and pods have any
            }
            return bytes
        }
        // ` <timestamp ms>\n`, the same on every line of the snapshot.
        var suffix: [UInt8] = [UInt8(ascii: " ")]
        JSONWriter.appendDigits(UInt64(max((node.collectedAt * 1000).rounded(), 0)), to: &suffix)
        suffix.append(UInt8(ascii: "\n"))
        var nodeLabel: [UInt8] = []
        appendLabel("node", node.name, to: &nodeLabel)
        // The labels of the series being walked (`container="..",namespace="..",node="..",
        // pod=".."`), built once per pod or container: a container's three families and a
        // pod's two follow each other.
        var labels: [UInt8] = []
        labels.reserveCapacity(256)
        var current: (namespace: String?, pod: String?, container: String?) = ("", "", "")
        ResourceSeries.visit(node) { family, namespace, pod, container, value in
            var bytes = families[family.rawValue]
            families[family.rawValue] = []
            bytes += prefixes[family.rawValue]
            if current.namespace != namespace || current.pod != pod || current.container != container {
                current = (namespace, pod, container)
                labels.removeAll(keepingCapacity: true)
                if let container {
                    appendLabel("container", container, to: &labels)
                    labels.append(UInt8(ascii: ","))
                }
                if let namespace, let pod {
                    appendLabel("namespace", namespace, to: &labels)
                    labels.append(UInt8(ascii: ","))
                    labels += nodeLabel
                    labels.append(UInt8(ascii: ","))
                    appendLabel("pod", pod, to: &labels)
                } else {
                    labels += nodeLabel
                }
            }
            bytes += labels
            bytes.append(UInt8(ascii: "}"))
            bytes.append(UInt8(ascii: " "))
            switch value {
            case .nanoseconds(let n): appendSeconds(nanoseconds: n, to: &bytes)
            case .count(let n): JSONWriter.appendDigits(n, to: &bytes)
            case .ratio(let r): bytes += Array((r.isFinite ? r : 0).description.utf8)
            }
            bytes += suffix
            families[family.rawValue] = bytes
        }
        return NodeLines(agentInstance: node.agentInstance, sequence: node.sequence, families: families.map { ByteBuffer(bytes: $0) })
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

    /// Nanoseconds as exact decimal seconds (`36.205284112`, `7`): no float rounding, so
    /// `rate()` over the exposition is the counters' own.
    static func appendSeconds(nanoseconds: UInt64, to bytes: inout [UInt8]) {
        JSONWriter.appendDigits(nanoseconds / 1_000_000_000, to: &bytes)
        var fraction = nanoseconds % 1_000_000_000
        guard fraction > 0 else { return }
        var width = 9
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        bytes.append(UInt8(ascii: "."))
        // `width` digits, leading zeros included.
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        var index = start + width
        while fraction > 0 {
            index -= 1
            bytes[index] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
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
