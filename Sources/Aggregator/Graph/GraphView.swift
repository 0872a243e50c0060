import Kubernetes

/// One edge's traffic over a window: client -> server bytes, server -> client bytes,
/// connections opened, retransmits, and RTT samples.
public struct EdgeCounters: Sendable, Equatable {
    public var toServer: UInt64 = 0
    public var toClient: UInt64 = 0
    public var opened: UInt64 = 0
    public var retransmits: UInt64 = 0
    public var rttSumMicros: UInt64 = 0
    public var rttCount: UInt64 = 0

    public init(toServer: UInt64 = 0, toClient: UInt64 = 0, opened: UInt64 = 0, retransmits: UInt64 = 0, rttSumMicros: UInt64 = 0, rttCount: UInt64 = 0) {
        self.toServer = toServer
        self.toClient = toClient
        self.opened = opened
        self.retransmits = retransmits
        self.rttSumMicros = rttSumMicros
        self.rttCount = rttCount
    }

    mutating func add(_ other: EdgeCounters) {
        toServer &+= other.toServer
        toClient &+= other.toClient
        opened &+= other.opened
        retransmits &+= other.retransmits
        rttSumMicros &+= other.rttSumMicros
        rttCount &+= other.rttCount
    }
}

/// A graph edge's identity: client vertex -> server vertex, transport and server port.
public struct EdgeKey: Hashable, Sendable {
    public var source: GraphEntity
    public var target: GraphEntity
    /// 1 TCP, 2 UDP.
    public var transport: UInt8
    public var port: UInt16

    public init(source: GraphEntity, target: GraphEntity, transport: UInt8, port: UInt16) {
        self.source = source
        self.target = target
        self.transport = transport
        self.port = port
    }

    var protocolName: String { transport == 2 ? "UDP" : transport == 3 ? "SCTP" : "TCP" }

    /// `source->target:tcp/port`; also the history series key.
    public var id: String { "\(source.id)->\(target.id):\(protocolName.lowercased())/\(port)" }

    public init?(id: String) {
        guard let arrow = id.range(of: "->"), let colon = id.lastIndex(of: ":"), colon > arrow.upperBound,
              let source = GraphEntity(id: String(id[..<arrow.lowerBound])), let target = GraphEntity(id: String(id[arrow.upperBound..<colon])) else { return nil }
        let tail = id[id.index(after: colon)...].split(separator: "/")
        guard tail.count == 2, let port = UInt16(tail[1]) else { return nil }
        let transport: UInt8 = tail[0] == "udp" ? 2 : tail[0] == "sctp" ? 3 : 1
        self.init(source: source, target: target, transport: transport, port: port)
    }
}

/// An edge's traffic over a window, connections open now and the server pods behind it.
public struct EdgeTotal: Sendable {
    public var counters = EdgeCounters()
    public var active = 0
    public var backends: Set<GraphEntity> = []
    public init(counters: EdgeCounters = EdgeCounters(), active: Int = 0, backends: Set<GraphEntity> = []) {
        self.counters = counters
        self.active = active
        self.backends = backends
    }
}

/// A vertex as served: the entity and its label (an external's reverse-DNS name).
public struct GraphNode: Sendable {
    public var entity: GraphEntity
    public var label: String
}

/// An edge as served, its rates over the view's window.
public struct GraphEdge: Sendable {
    public var source: Int32
    public var target: Int32
    public var transport: UInt8
    public var port: UInt16
    /// Bytes per second, client -> server and server -> client.
    public var sentPerSecond: Double
    public var receivedPerSecond: Double
    /// Bytes both ways over the window.
    public var bytes: Double
    /// Connections open at the end of the window.
    public var active: Int
    public var openedPerSecond: Double
    /// Nil when unknown.
    public var retransmitsPerSecond: Double?
    public var rttMillis: Double?
    /// The server pods seen behind the edge (the backends of a ClusterIP when the server's
    /// agent reported them), at most `maxBackends`.
    public var backends: [GraphEntity] = []

    static let maxBackends = 20
}

/// What a caller asked of the graph (`GET /api/graph/dependencies`, `/sse/graph`).
public struct GraphQuery: Sendable, Equatable {
    /// Edges with an end in this namespace; with `service`, the namespace of that service.
    public var namespace: String?
    /// A vertex's neighbourhood: `name` (with `namespace`), `namespace/name`, or a vertex id.
    public var service: String?
    public var depth = 1
    /// Edges that moved fewer bytes (both ways) over the window are left out.
    public var minBytes: Double = 0
    /// Only the N heaviest edges.
    public var top: Int?
    public init(namespace: String? = nil, service: String? = nil, depth: Int = 1, minBytes: Double = 0, top: Int? = nil) {
        self.namespace = namespace
        self.service = service
        self.depth = depth
        self.minBytes = minBytes
        self.top = top
    }
}

/// The dependency graph over one window, built once per refresh (or per history query)
/// and filtered per request: services, workloads, pods, nodes and externals, with traffic
/// on every edge.
public final class GraphView: Sendable {
    /// Unix seconds of the window's end.
    public let timestamp: Int64
    /// The window, seconds.
    public let window: Double
    public let nodes: [GraphNode]
    /// Heaviest first.
    public let edges: [GraphEdge]
    let byID: [String: Int32]
    /// Each vertex's id as UTF-8 (ids need no JSON escaping: Kubernetes names, kinds and
    /// addresses only).
    let idBytes: [[UInt8]]
    /// The edges touching each vertex, heaviest first; the vertices of each namespace.
    let vertexEdges: [[Int32]]
    let namespaceVertices: [String: [Int32]]

    init(timestamp: Int64, window: Double, nodes: [GraphNode], edges: [GraphEdge]) {
        self.timestamp = timestamp
        self.window = window
        self.nodes = nodes
        self.edges = edges
        var byID: [String: Int32] = [:]
        byID.reserveCapacity(nodes.count)
        var namespaces: [String: [Int32]] = [:]
        for (index, node) in nodes.enumerated() {
            byID[node.entity.id] = Int32(index)
            if node.entity.isNamespaced { namespaces[node.entity.namespace, default: []].append(Int32(index)) }
        }
        self.byID = byID
        idBytes = nodes.map { Array($0.entity.id.utf8) }
        var adjacency = [[Int32]](repeating: [], count: nodes.count)
        for (index, edge) in edges.enumerated() {
            adjacency[Int(edge.source)].append(Int32(index))
            if edge.target != edge.source { adjacency[Int(edge.target)].append(Int32(index)) }
        }
        vertexEdges = adjacency
        namespaceVertices = namespaces
    }

    public static let empty = GraphView(timestamp: 0, window: 0, nodes: [], edges: [])

    /// Builds a view from edge totals over `span` seconds (the window actually covered).
    public static func build(timestamp: Int64, window: Double, span: Double, totals: [EdgeKey: EdgeTotal],
                      label: (GraphEntity) -> String, historical: Bool = false) -> GraphView {
        var index: [GraphEntity: Int32] = [:]
        var nodes: [GraphNode] = []
        func vertex(_ entity: GraphEntity) -> Int32 {
            if let known = index[entity] { return known }
            let number = Int32(nodes.count)
            index[entity] = number
            nodes.append(GraphNode(entity: entity, label: label(entity)))
            return number
        }
        let seconds = max(span, 1)
        var edges: [GraphEdge] = []
        edges.reserveCapacity(totals.count)
        for (key, value) in totals {
            let c = value.counters
            edges.append(GraphEdge(
                source: vertex(key.source), target: vertex(key.target), transport: key.transport, port: key.port,
                sentPerSecond: Double(c.toServer) / seconds, receivedPerSecond: Double(c.toClient) / seconds,
                bytes: Double(c.toServer &+ c.toClient) * min(window, seconds) / seconds, active: value.active,
                openedPerSecond: Double(c.opened) / seconds,
                retransmitsPerSecond: Double(c.retransmits) / seconds,
                rttMillis: c.rttCount > 0 ? Double(c.rttSumMicros) / Double(c.rttCount) / 1000 : nil,
                backends: Array(value.backends.sorted().prefix(GraphEdge.maxBackends))))
        }
        let ids = nodes.map(\.entity.id)
        edges.sort { a, b in
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            return (ids[Int(a.source)], ids[Int(a.target)], a.port, a.transport) < (ids[Int(b.source)], ids[Int(b.target)], b.port, b.transport)
        }
        return GraphView(timestamp: timestamp, window: window, nodes: nodes, edges: edges)
    }

    /// Why a query cannot be answered.
    public enum QueryError: Error, Equatable {
        /// The service's namespace is not the caller's.
        case forbidden
    }

    /// An edge of a caller's graph: vertex -1 is the anonymous "other".
    struct Selected {
        var source: Int32
        var target: Int32
        var edge: GraphEdge
    }

    /// The caller's graph after the filters, as Cluster Monitor JSON with metrics. `visible`
    /// nil: an admin, who sees everything; else vertices of namespaces it refuses become
    /// "other" and edges with no visible namespaced end are left out.
    public func render(_ query: GraphQuery, visible: ((String) -> Bool)?) throws(QueryError) -> [UInt8] {
        let selected = try select(query, visible: visible)
        return json(selected)
    }

    func select(_ query: GraphQuery, visible: ((String) -> Bool)?) throws(QueryError) -> [Selected] {
        try Self.checkAccess(query, visible: visible)
        var working: [Selected]
        // Heaviest first, as `edges` is, until "other" edges are merged.
        var ordered = true
        if let visible {
            // Only the edges of the caller's namespaces are read; edges touching another
            // tenant fold into edges to or from "other".
            var candidates: [Int32] = []
            for (namespace, vertices) in namespaceVertices where visible(namespace) {
                for vertex in vertices { candidates.append(contentsOf: vertexEdges[Int(vertex)]) }
            }
            candidates.sort()
            var seen: [Int32: Bool] = [:]
            func shown(_ vertex: Int32) -> Bool? {
                let entity = nodes[Int(vertex)].entity
                guard entity.isNamespaced else { return nil }
                if let known = seen[vertex] { return known }
                let answer = visible(entity.namespace)
                seen[vertex] = answer
                return answer
            }
            var merged: [EdgeFold: Int] = [:]
            working = []
            var previous: Int32 = -1
            for index in candidates where index != previous {
                previous = index
                var edge = edges[Int(index)]
                let s = shown(edge.source), t = shown(edge.target)
                let source = s == false ? -1 : edge.source, target = t == false ? -1 : edge.target
                // Backends are named only in the caller's namespaces.
                if !edge.backends.isEmpty { edge.backends = edge.backends.filter { visible($0.namespace) } }
                if source != -1 && target != -1 {
                    working.append(Selected(source: source, target: target, edge: edge))
                    continue
                }
                edge.backends = []
                let fold = EdgeFold(source: source, target: target, transport: edge.transport, port: edge.port)
                if let at = merged[fold] {
                    working[at].edge.merge(edge)
                    ordered = false
                } else {
                    merged[fold] = working.count
                    working.append(Selected(source: source, target: target, edge: edge))
                }
            }
            if let service = query.service {
                guard let start = vertex(named: service, namespace: query.namespace) else { return [] }
                if nodes[Int(start)].entity.isNamespaced, !visible(nodes[Int(start)].entity.namespace) { throw .forbidden }
                working = neighbourhood(of: start, depth: max(query.depth, 1), in: working)
            } else if let namespace = query.namespace {
                working = working.filter { inNamespace($0.source, namespace) || inNamespace($0.target, namespace) }
            }
        } else {
            // An admin: the filters read the precomputed adjacency, never every edge.
            var indices: [Int32]
            if let service = query.service {
                guard let start = vertex(named: service, namespace: query.namespace) else { return [] }
                indices = neighbourhoodIndices(of: start, depth: max(query.depth, 1))
            } else if let namespace = query.namespace {
                indices = (namespaceVertices[namespace] ?? []).flatMap { vertexEdges[Int($0)] }
                indices.sort()
                indices = indices.enumerated().filter { $0.offset == 0 || indices[$0.offset - 1] != $0.element }.map(\.element)
            } else {
                indices = Array(0..<Int32(edges.count))
            }
            if query.minBytes > 0 { indices = indices.filter { edges[Int($0)].bytes >= query.minBytes } }
            if let top = query.top, indices.count > top { indices.removeSubrange(max(top, 0)...) }
            return indices.map { Selected(source: edges[Int($0)].source, target: edges[Int($0)].target, edge: edges[Int($0)]) }
        }
        if query.minBytes > 0 { working = working.filter { $0.edge.bytes >= query.minBytes } }
        if let top = query.top, working.count > top {
            if !ordered { working.sort { $0.edge.bytes > $1.edge.bytes } }
            working.removeSubrange(max(top, 0)...)
        }
        return working
    }

    /// Edge indices within `depth` hops of `start`, ascending (heaviest first).
    private func neighbourhoodIndices(of start: Int32, depth: Int) -> [Int32] {
        Self.reach(from: start, depth: depth, edgesOf: { vertexEdges[Int($0)].map(Int.init) },
                   ends: { (edges[$0].source, edges[$0].target) }).map(Int32.init)
    }

    /// Refuses a query that names another tenant's namespace or service, before any lookup,
    /// so that the answer never tells whether it has such a service.
    public static func checkAccess(_ query: GraphQuery, visible: ((String) -> Bool)?) throws(QueryError) {
        guard let visible else { return }
        if let namespace = query.namespace, !visible(namespace) { throw .forbidden }
        if let service = query.service, let namespace = namespace(ofVertex: service), !visible(namespace) { throw .forbidden }
    }

    /// The namespace a `service` parameter names, when it names one itself.
    static func namespace(ofVertex name: String) -> String? {
        if let entity = GraphEntity(id: name) { return entity.isNamespaced ? entity.namespace : nil }
        guard let slash = name.firstIndex(of: "/") else { return nil }
        return String(name[..<slash])
    }

    struct EdgeFold: Hashable {
        var source: Int32
        var target: Int32
        var transport: UInt8
        var port: UInt16
    }

    private func inNamespace(_ vertex: Int32, _ namespace: String) -> Bool {
        vertex >= 0 && nodes[Int(vertex)].entity.namespace == namespace
    }

    /// A vertex by id, `namespace/name` or `name` (with `namespace`); Services first, then
    /// workloads and pods of that name.
    func vertex(named name: String, namespace: String?) -> Int32? {
        if let exact = byID[name] { return exact }
        var ns = namespace ?? "", short = name
        if let slash = name.firstIndex(of: "/") {
            ns = String(name[..<slash])
            short = String(name[name.index(after: slash)...])
        }
        if let service = byID[GraphEntity(.service, namespace: ns, name: short).id] { return service }
        return nodes.indices.first { i in
            let entity = nodes[i].entity
            return entity.name == short && (entity.namespace == ns || (ns.isEmpty && !entity.isNamespaced))
        }.map(Int32.init)
    }

    /// The edges within `depth` hops of `start` (either direction; "other" is not crossed).
    private func neighbourhood(of start: Int32, depth: Int, in working: [Selected]) -> [Selected] {
        var adjacency: [Int32: [Int]] = [:]
        for (i, edge) in working.enumerated() {
            adjacency[edge.source, default: []].append(i)
            if edge.target != edge.source { adjacency[edge.target, default: []].append(i) }
        }
        return Self.reach(from: start, depth: depth, edgesOf: { $0 == -1 ? [] : adjacency[$0] ?? [] },
                          ends: { (working[$0].source, working[$0].target) }).map { working[$0] }
    }

    /// Breadth-first: the edges (ascending) within `depth` hops of `start`, either direction.
    private static func reach(from start: Int32, depth: Int, edgesOf: (Int32) -> [Int], ends: (Int) -> (Int32, Int32)) -> [Int] {
        var reached: Set<Int32> = [start]
        var frontier = [start]
        var kept = Set<Int>()
        for _ in 1...depth {
            var next: [Int32] = []
            for vertex in frontier {
                for index in edgesOf(vertex) {
                    kept.insert(index)
                    let (source, target) = ends(index)
                    let other = source == vertex ? target : source
                    if reached.insert(other).inserted { next.append(other) }
                }
            }
            frontier = next
            if frontier.isEmpty { break }
        }
        return kept.sorted()
    }

    func json(_ selected: [Selected]) -> [UInt8] {
        var writer = JSONWriter(capacity: 256 + selected.count * 400)
        writer.beginObject()
        writer.field("timestamp", UnixTime(seconds: timestamp).rfc3339)
        writer.field("window_seconds", window)
        var used: [Int32] = []
        var seen = Set<Int32>()
        for edge in selected {
            if seen.insert(edge.source).inserted { used.append(edge.source) }
            if seen.insert(edge.target).inserted { used.append(edge.target) }
        }
        let otherID = Array(GraphEntity.other.id.utf8)
        func id(_ vertex: Int32) -> [UInt8] { vertex < 0 ? otherID : idBytes[Int(vertex)] }
        writer.key("nodes")
        writer.beginArray()
        for vertex in used.sorted(by: { id($0).lexicographicallyPrecedes(id($1)) }) {
            let node = vertex < 0 ? GraphNode(entity: .other, label: "other") : nodes[Int(vertex)]
            writer.beginObject()
            writer.key("id")
            writer.rawString(id(vertex))
            writer.field("label", node.label)
            writer.field("type", node.entity.kind.rawValue)
            if node.entity.isNamespaced { writer.field("namespace", node.entity.namespace) }
            if !node.entity.workloadKind.isEmpty { writer.field("kind", node.entity.workloadKind) }
            writer.endObject()
        }
        writer.endArray()
        writer.key("edges")
        writer.beginArray()
        let arrow = Array("->".utf8)
        for item in selected {
            let edge = item.edge
            let name = edge.transport == 2 ? "UDP" : edge.transport == 3 ? "SCTP" : "TCP"
            let lower = edge.transport == 2 ? "udp" : edge.transport == 3 ? "sctp" : "tcp"
            var edgeID = id(item.source) + arrow + id(item.target)
            edgeID.append(UInt8(ascii: ":"))
            edgeID.append(contentsOf: lower.utf8)
            edgeID.append(UInt8(ascii: "/"))
            JSONWriter.appendDigits(UInt64(edge.port), to: &edgeID)
            writer.beginObject()
            writer.key("id")
            writer.rawString(edgeID)
            writer.key("source")
            writer.rawString(id(item.source))
            writer.key("target")
            writer.rawString(id(item.target))
            writer.field("type", lower)
            var label = Array(name.utf8)
            label.append(UInt8(ascii: " "))
            JSONWriter.appendDigits(UInt64(edge.port), to: &label)
            writer.key("label")
            writer.rawString(label)
            writer.field("protocol", name)
            writer.field("port", Int(edge.port))
            writer.field("bytes_sent_per_second", edge.sentPerSecond)
            writer.field("bytes_received_per_second", edge.receivedPerSecond)
            writer.field("bytes", edge.bytes)
            writer.field("active_connections", edge.active)
            writer.field("new_connections_per_second", edge.openedPerSecond)
            if let retransmits = edge.retransmitsPerSecond { writer.field("retransmits_per_second", retransmits) }
            if let rtt = edge.rttMillis { writer.field("rtt_ms", rtt) }
            if !edge.backends.isEmpty {
                writer.key("backends")
                writer.beginArray()
                for pod in edge.backends { writer.value(pod.id) }
                writer.endArray()
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}

extension GraphEdge {
    /// Folds another edge into this one (a tenant's "other" edges).
    mutating func merge(_ other: GraphEdge) {
        let rttSamples = (rttMillis == nil ? 0 : 1) + (other.rttMillis == nil ? 0 : 1)
        if rttSamples > 0 { rttMillis = ((rttMillis ?? 0) + (other.rttMillis ?? 0)) / Double(rttSamples) }
        sentPerSecond += other.sentPerSecond
        receivedPerSecond += other.receivedPerSecond
        bytes += other.bytes
        active += other.active
        openedPerSecond += other.openedPerSecond
        if let mine = retransmitsPerSecond, let theirs = other.retransmitsPerSecond { retransmitsPerSecond = mine + theirs }
        backends = Array(Set(backends + other.backends).sorted().prefix(GraphEdge.maxBackends))
    }
}

extension HistoryStore {
    /// The dependency graph of a past window from the edge history: each edge's bytes and
    /// connections opened are its counters' increase over [start, end] (exact, from the
    /// stored counters), its open connections the last count in the window.
    public func graph(start: Int64, end: Int64, keep: (EdgeKey) -> Bool = { _ in true }) async throws -> GraphView {
        let family = HistoryFamily.edge
        var keys: [String] = []
        for key in entities(family, .all).keys where EdgeKey(id: key).map(keep) ?? false { keys.append(key) }
        var totals: [EdgeKey: EdgeTotal] = [:]
        if !keys.isEmpty {
            let step = max(end - start, 1)
            func increase(_ name: String) async throws -> [String: [MetricPoint]] {
                try await series(family, .stored(HistoryCatalog.index(family, name)), .keys(keys), start: start, end: start + step - 1, step: step, aggregation: .increase, alignToStep: false)
            }
            let sent = try await increase("network/tx"), received = try await increase("network/rx")
            let opened = try await increase("connections/opened"), retransmits = try await increase("network/retransmits")
            let active = try await series(family, .stored(HistoryCatalog.index(family, "connections/active")), .keys(keys), start: start, end: start + step - 1, step: step, aggregation: .last, alignToStep: false)
            for id in keys {
                guard let key = EdgeKey(id: id) else { continue }
                func total(_ series: [String: [MetricPoint]]) -> UInt64 { UInt64(max(series[id]?.reduce(0) { $0 + $1.value } ?? 0, 0)) }
                let counters = EdgeCounters(toServer: total(sent), toClient: total(received), opened: total(opened), retransmits: total(retransmits))
                if counters.toServer == 0 && counters.toClient == 0 && counters.opened == 0 && active[id] == nil { continue }
                totals[key] = EdgeTotal(counters: counters, active: Int(active[id]?.last?.value ?? 0))
            }
        }
        let span = Double(end - start)
        return GraphView.build(timestamp: end, window: span, span: span, totals: totals, label: \.name, historical: true)
    }
}
