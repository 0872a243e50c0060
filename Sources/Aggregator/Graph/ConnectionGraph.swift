import Foundation
import Kubernetes
import Messaging
import Metrics
import Synchronization
import Wire

public struct GraphConfiguration: Sendable {
    /// The window of the live graph when a request names none.
    public var window: Duration = .seconds(60)
    /// The longest window a live request may ask for (longer: `from`/`to` on the history).
    public var maxWindow: Duration = .seconds(900)
    /// Connections tracked per node; more are dropped and counted.
    public var maxConnectionsPerNode = 65_536
    /// How long the address of a pod that is gone keeps resolving to it.
    public var addressGrace: Duration = .seconds(300)
    public init() {}
}

/// Turns the agents' connections into the service dependency graph.
///
/// Each batch's connections are resolved as they arrive (ingest): the local end through
/// the pod the agent tied it to, the remote end through the `ResolutionIndex` (ClusterIPs,
/// pod addresses, host-network pods' ports, node addresses, else external). Traffic is the
/// difference of each connection's cumulative counters between two snapshots of the same
/// agent. A connection both of whose ends run agents is reported twice; it is counted by
/// its client's report only (the server's report is skipped when the client's node runs a
/// reporting agent), so it is counted once.
///
/// Every refresh closes the open interval into a bucket: buckets of the last minute are
/// kept per refresh, older ones merged per minute up to `maxWindow`; a window's rates are
/// the sum of its buckets over the time they cover.
public final class ConnectionGraph: Sendable {
    public let configuration: GraphConfiguration
    let dns: ReverseDNS?

    struct ConnectionKey: Hashable, Comparable {
        var local: NetworkAddress
        var remote: NetworkAddress
        var netns: UInt64
        var localPort: UInt16
        var remotePort: UInt16
        var transport: UInt8

        static func < (a: ConnectionKey, b: ConnectionKey) -> Bool {
            if a.local != b.local { return a.local < b.local }
            if a.remote != b.remote { return a.remote < b.remote }
            return (a.netns, a.localPort, a.remotePort, a.transport) < (b.netns, b.localPort, b.remotePort, b.transport)
        }
    }

    /// A node's connections of its latest snapshot and their counters, sorted by key: a
    /// binary search finds a connection's previous counters. A dictionary took about twice
    /// its entries' size at Swift's load factor and power-of-two capacities (~160 bytes a
    /// connection, ~96 MiB at 600,000 connections); two sorted arrays take 80.
    struct ConnectionTable {
        private(set) var keys: [ConnectionKey] = []
        private var values: [Cumulative] = []

        init() {}

        /// The connections of a snapshot; of a key reported twice, the last report.
        init(_ entries: [(key: ConnectionKey, value: Cumulative)]) {
            let order = entries.indices.sorted { entries[$0].key != entries[$1].key ? entries[$0].key < entries[$1].key : $0 < $1 }
            keys.reserveCapacity(order.count)
            values.reserveCapacity(order.count)
            for (position, index) in order.enumerated() where position + 1 == order.count || entries[order[position + 1]].key != entries[index].key {
                keys.append(entries[index].key)
                values.append(entries[index].value)
            }
        }

        var count: Int { keys.count }

        subscript(key: ConnectionKey) -> Cumulative? {
            var low = 0, high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if keys[middle] < key { low = middle + 1 } else { high = middle }
            }
            return low < keys.count && keys[low] == key ? values[low] : nil
        }
    }

    /// A connection's client end as its server sees it, to find the backend behind a
    /// ClusterIP the client dialled.
    struct ClientEndpoint: Hashable {
        var address: NetworkAddress
        var port: UInt16
        var transport: UInt8
    }

    struct Cumulative {
        var sent: UInt64
        var received: UInt64
        var retransmits: UInt64
        /// The edge the connection was counted on in its snapshot (set by ingest; `noEdge`
        /// in a baseline snapshot taken before the first refresh).
        var edge: UInt32 = 0
    }

    static let noEdge = UInt32.max

    struct NodeConnections {
        var instance: String
        var sequence: UInt64
        var table: ConnectionTable
        /// Connections of the latest snapshot per edge.
        var active: [UInt32: UInt32]
        /// Server pods behind each edge in the latest snapshot: dialled directly, or
        /// through a ClusterIP (then found by the client end in the servers' reports when
        /// views are built, whichever agent reported first). Pairs of an edge and a pod's
        /// identity, 16 bytes each; a set of vertices per edge took ~200 bytes a backend at
        /// 5,000 nodes (31 MiB).
        var backends: [EdgeBackend]
        var clusterIPClients: [UInt32: [ClientEndpoint]]
        var pods: AgentPods
    }

    /// A server pod behind an edge of a node's snapshot.
    struct EdgeBackend {
        var edge: UInt32
        var pod: PodIdentity
    }

    /// An edge and a pod's identity object, to count each backend of an edge once.
    struct BackendKey: Hashable {
        var edge: UInt32
        var pod: ObjectIdentifier
    }

    struct Bucket {
        var start: Double
        var end: Double
        var entries: [UInt32: EdgeCounters]
    }

    private struct State {
        /// Each node's connections; set through `replace(node:with:)`, which keeps the total.
        private(set) var nodes: [String: NodeConnections] = [:]
        /// Connections tracked over every node (kept as nodes change: summing 5,000 nodes'
        /// tables per batch was the largest single cost of ingest at that size).
        private(set) var trackedConnections = 0
        /// The last `AgentPods.version` given out.
        var podsVersion: UInt64 = 0
        var edgeIDs: [EdgeKey: UInt32] = [:]
        var edgeKeys: [EdgeKey?] = []
        var free: [UInt32] = []
        var open: [UInt32: EdgeCounters] = [:]
        /// Each edge's counters since it was first seen (the history's counters).
        var cumulative: [UInt32: EdgeCounters] = [:]
        var openSince: Double?
        var fine: [Bucket] = []
        var coarse: [Bucket] = []
        /// Backend pods by client end, from servers' reports (Unix seconds received).
        var backendsByClient: [ClientEndpoint: (pod: GraphEntity, time: Double)] = [:]
        /// The generation before (a client end's backend is kept one to two minutes after its
        /// server last reported it): the generations turn once a minute, two moves under the
        /// lock where a filter of every client end was one pass over them all.
        var olderBackends: [ClientEndpoint: (pod: GraphEntity, time: Double)] = [:]
        var backendsTurnedAt: Double?

        mutating func replace(node name: String, with connections: NodeConnections?) {
            trackedConnections += (connections?.table.count ?? 0) - (nodes[name]?.table.count ?? 0)
            nodes[name] = connections
        }

        /// After edges were forgotten: the lowest free ids are given out first, free ids at
        /// the end leave the arrays, and a table far larger than its edges is made anew
        /// (Swift's tables never shrink: a burst of edges kept its room for good).
        mutating func compact() {
            free.sort(by: >)
            while let last = edgeKeys.last, last == nil { edgeKeys.removeLast() }
            free.removeAll { Int($0) >= edgeKeys.count }
            if edgeKeys.capacity > 2 * edgeKeys.count + 256 { edgeKeys = Array(edgeKeys[...]) }
            if edgeIDs.capacity > 4 * edgeIDs.count + 256 { edgeIDs = Self.resized(edgeIDs) }
            if cumulative.capacity > 4 * cumulative.count + 256 { cumulative = Self.resized(cumulative) }
        }

        static func resized<Key, Value>(_ table: [Key: Value]) -> [Key: Value] {
            var fresh = [Key: Value](minimumCapacity: table.count)
            for (key, value) in table { fresh[key] = value }
            return fresh
        }

        mutating func edge(_ key: EdgeKey) -> UInt32 {
            if let id = edgeIDs[key] { return id }
            let id: UInt32
            if let reused = free.popLast() {
                id = reused
                edgeKeys[Int(id)] = key
            } else {
                id = UInt32(edgeKeys.count)
                edgeKeys.append(key)
            }
            edgeIDs[key] = id
            return id
        }
    }

    private let state = Mutex(State())
    private let index = Mutex(ResolutionIndex.empty)
    /// Keeps the index up to date; used by the refresh only.
    private let indexer = Mutex(ResolutionIndexer())
    /// Views of the current refresh, by window (seconds); the default one built by `refresh`.
    private let views = Mutex<(version: Int, time: Double, byWindow: [Int: GraphView])>((0, 0, [:]))
    public let live = Observed(GraphFrame(view: .empty, version: 0))

    private let resolved = Counter(label: "clustermon_graph_connections_total", dimensions: [("outcome", "counted")])
    private let duplicates = Counter(label: "clustermon_graph_connections_total", dimensions: [("outcome", "other_end")])
    private let skipped = Counter(label: "clustermon_graph_connections_total", dimensions: [("outcome", "loopback_or_same_pod")])
    private let malformed = Counter(label: "clustermon_graph_connections_total", dimensions: [("outcome", "malformed")])
    private let dropped = Counter(label: "clustermon_graph_connections_dropped_total")
    private let tracked = Gauge(label: "clustermon_graph_connections_tracked")
    private let edgeGauge = Gauge(label: "clustermon_graph_edges")
    private let buildTimer = Timer(label: "clustermon_graph_build_seconds")

    /// Backend pods remembered per edge and node (views show `GraphEdge.maxBackends`).
    static let backendsKept = 64

    public init(configuration: GraphConfiguration = .init(), dns: ReverseDNS? = nil) {
        self.configuration = configuration
        self.dns = dns
    }

    var maxWindowSeconds: Double { Double(configuration.maxWindow.components.seconds) }
    public var defaultWindowSeconds: Int { Int(configuration.window.components.seconds) }

    // MARK: Ingest

    /// What one connection report became.
    struct Report {
        var key: ConnectionKey
        var counters: Cumulative
        var countersKnown: Bool
        var edge: EdgeKey
        var clientIsLocal: Bool
        var rttMicros: UInt32?
        /// The server pod when the client dialled it directly.
        var backend: PodIdentity?
        /// The client end, when it dialled a ClusterIP (the backend comes from the server's report).
        var viaClusterIP: ClientEndpoint?
    }

    /// Resolves and accounts one node's complete snapshot. Never blocks on anything but
    /// the graph's own lock; the reverse-DNS names are looked up when views are built.
    public func ingest(_ batch: Agent_V1_Batch, receivedAt: Double) {
        let index = self.index.withLock { $0 }
        // Before the first refresh there is no index: every remote end would resolve to an
        // external address, and each such edge would be kept for the longest window. A
        // node's first snapshot only sets its counters' baseline anyway: then its
        // connections are kept without an edge, and get theirs with the node's next snapshot
        // (at 5,000 nodes the first refresh came after ~300,000 such edges, whose index kept
        // its room for good).
        let unindexed = index === ResolutionIndex.empty
        // Pods unchanged since the node's previous snapshot keep their identity objects; a
        // pod the informers list as reported takes theirs.
        let known = state.withLock { $0.nodes[batch.nodeName]?.pods.byUID } ?? [:]
        let pods = Dictionary(batch.pods.map { pod in
            (pod.uid, AgentPod.from(batchPod: pod, node: batch.nodeName, previous: known[pod.uid], listed: index.podsByUID[pod.uid]))
        }, uniquingKeysWith: { a, _ in a })
        // Pods that started since the last refresh are known from their own node's batch.
        var batchAddresses: [NetworkAddress: PodIdentity] = [:]
        for pod in pods.values.lazy.map(\.identity) where !pod.hostNetwork { for address in pod.addresses { batchAddresses[address] = pod } }
        let node = GraphEntity(.node, name: batch.nodeName)
        var reports: [Report] = []
        reports.reserveCapacity(min(batch.connections.count, configuration.maxConnectionsPerNode))
        var counts = (counted: 0, duplicate: 0, skipped: 0, malformed: 0)
        var served: [(ClientEndpoint, GraphEntity)] = []
        let overflow = max(0, batch.connections.count - configuration.maxConnectionsPerNode)
        for connection in batch.connections.prefix(configuration.maxConnectionsPerNode) {
            switch Self.resolve(connection, node: node, batchPods: pods, batchAddresses: batchAddresses, index: index) {
            case .report(let report): reports.append(report); counts.counted += 1
            case .otherEnd(let client, let backend):
                counts.duplicate += 1
                if let backend { served.append((client, backend)) }
            case .skipped: counts.skipped += 1
            case .malformed: counts.malformed += 1
            }
        }
        let total = state.withLock { state -> Int in
            let previous = state.nodes[batch.nodeName]
            // A duplicate or older snapshot (ingest drops them before) changes nothing.
            if let previous, previous.instance == batch.agentInstance, previous.sequence >= batch.sequence {
                return state.trackedConnections
            }
            let continuing = previous?.instance == batch.agentInstance
            let old = continuing ? previous!.table : ConnectionTable()
            var entries: [(key: ConnectionKey, value: Cumulative)] = []
            entries.reserveCapacity(reports.count)
            var active: [UInt32: UInt32] = [:]
            var backends: [EdgeBackend] = []
            var backendKeys = Set<BackendKey>()
            var backendCounts: [UInt32: Int] = [:]
            var clusterIPClients: [UInt32: [ClientEndpoint]] = [:]
            if state.openSince == nil { state.openSince = receivedAt }
            for (client, backend) in served { state.backendsByClient[client] = (backend, receivedAt) }
            for report in reports {
                if !continuing && unindexed {
                    var counters = report.counters
                    counters.edge = Self.noEdge
                    entries.append((report.key, counters))
                    continue
                }
                let before = continuing ? old[report.key] : nil
                // A connection on the same edge as in the node's previous snapshot (nearly
                // all) keeps its edge: its key compared, not hashed (the largest cost of
                // the graph's ingest at 300,000 connections). An edge in a snapshot is never
                // freed, and a reused id holds another key.
                let id: UInt32
                if let before, Int(before.edge) < state.edgeKeys.count, let known = state.edgeKeys[Int(before.edge)], known == report.edge {
                    id = before.edge
                } else {
                    id = state.edge(report.edge)
                }
                active[id, default: 0] += 1
                // A few dozen backends per edge are plenty to show; more cost hashing.
                if let backend = report.backend, backendCounts[id, default: 0] < Self.backendsKept,
                   backendKeys.insert(BackendKey(edge: id, pod: ObjectIdentifier(backend))).inserted {
                    backendCounts[id, default: 0] += 1
                    backends.append(EdgeBackend(edge: id, pod: backend))
                }
                if let client = report.viaClusterIP { clusterIPClients[id, default: []].append(client) }
                var counters = report.counters
                counters.edge = id
                entries.append((report.key, counters))
                // The first snapshot of an agent only sets the baseline.
                guard continuing else { continue }
                var delta = EdgeCounters()
                if before == nil { delta.opened = 1 }
                if report.countersKnown {
                    let sent = Self.difference(report.counters.sent, before?.sent)
                    let received = Self.difference(report.counters.received, before?.received)
                    delta.toServer = report.clientIsLocal ? sent : received
                    delta.toClient = report.clientIsLocal ? received : sent
                    delta.retransmits = Self.difference(report.counters.retransmits, before?.retransmits)
                }
                if let rtt = report.rttMicros {
                    delta.rttSumMicros = UInt64(rtt)
                    delta.rttCount = 1
                }
                state.open[id, default: EdgeCounters()].add(delta)
            }
            // The same pods (the same identity objects) keep their version: the resolution
            // index passes over the nodes whose version did not move.
            let same = previous.map { previous in
                previous.pods.byUID.count == pods.count && !pods.contains { previous.pods.byUID[$0.key]?.identity !== $0.value.identity }
            } ?? false
            if !same { state.podsVersion += 1 }
            let agentPods = AgentPods(version: same ? previous?.pods.version ?? 0 : state.podsVersion, byUID: pods)
            state.replace(node: batch.nodeName, with: NodeConnections(instance: batch.agentInstance, sequence: batch.sequence, table: ConnectionTable(entries), active: active,
                                                                      backends: backends.withUnsafeBufferPointer { Array($0) }, clusterIPClients: clusterIPClients, pods: agentPods))
            return state.trackedConnections
        }
        tracked.record(total)
        if counts.counted > 0 { resolved.increment(by: counts.counted) }
        if counts.duplicate > 0 { duplicates.increment(by: counts.duplicate) }
        if counts.skipped > 0 { skipped.increment(by: counts.skipped) }
        if counts.malformed > 0 { malformed.increment(by: counts.malformed) }
        if overflow > 0 { dropped.increment(by: overflow) }
    }

    /// A counter's growth since the previous snapshot; the whole value for a connection
    /// not seen before or whose counter went back (its 4-tuple was reused).
    static func difference(_ now: UInt64, _ before: UInt64?) -> UInt64 {
        guard let before, now >= before else { return now }
        return now - before
    }

    enum Resolution {
        case report(Report)
        /// Counted by the other end's agent; the server pod that served this client end.
        case otherEnd(ClientEndpoint, GraphEntity?)
        case skipped
        case malformed
    }

    static func resolve(_ connection: Agent_V1_Connection, node: GraphEntity, batchPods: [String: AgentPod],
                        batchAddresses: [NetworkAddress: PodIdentity] = [:], index: ResolutionIndex) -> Resolution {
        guard let local = NetworkAddress(bytes: connection.localAddress), let remote = NetworkAddress(bytes: connection.remoteAddress),
              connection.localPort <= 65535, connection.remotePort <= 65535 else { return .malformed }
        if remote.isLoopback || local.isLoopback || remote.isUnspecified || remote == local { return .skipped }
        let transport: UInt8 = connection.protocol == .udp ? 2 : 1
        let localPort = ProtocolPort(transport: transport, port: UInt16(connection.localPort))
        let remotePort = ProtocolPort(transport: transport, port: UInt16(connection.remotePort))
        let localPod = connection.podUid.isEmpty ? nil : (index.podsByUID[connection.podUid] ?? batchPods[connection.podUid]?.identity)
        let clientIsLocal: Bool
        switch connection.direction {
        case .outgoing: clientIsLocal = true
        case .incoming: clientIsLocal = false
        default:
            // No direction (procfs, UDP): the end that serves a declared or Service port is
            // the server, else the lower port.
            if let localPod, localPod.ports.contains(localPort) || localPod.services.contains(where: { $0.ports.contains(localPort) }) {
                clientIsLocal = false
            } else {
                clientIsLocal = !(localPort.port < remotePort.port)
            }
        }
        let other = index.remote(remote, port: clientIsLocal ? remotePort : localPort, sameBatch: batchAddresses)
        if case .pod(let pod) = other, pod.uid == localPod?.uid { return .skipped }
        let edge: EdgeKey
        var backend: PodIdentity?
        var viaClusterIP: ClientEndpoint?
        if clientIsLocal {
            let target: GraphEntity
            switch other {
            case .service(let service):
                target = service
                viaClusterIP = ClientEndpoint(address: local, port: localPort.port, transport: transport)
            case .pod(let pod):
                target = pod.serverEntity(remotePort)
                backend = pod
            case .node(let name): target = GraphEntity(.node, name: name)
            case .external(let address): target = GraphEntity(.external, name: address.description)
            }
            edge = EdgeKey(source: localPod?.clientEntity ?? node, target: target, transport: transport, port: remotePort.port)
        } else {
            let source: GraphEntity
            let client = ClientEndpoint(address: remote, port: remotePort.port, transport: transport)
            let served = localPod.map { GraphEntity(.pod, namespace: $0.namespace, name: $0.name) }
            switch other {
            case .service(let service): source = service
            case .pod(let pod):
                if index.reportingNodes.contains(pod.node) { return .otherEnd(client, served) }
                source = pod.clientEntity
            case .node(let name):
                if index.reportingNodes.contains(name) { return .otherEnd(client, served) }
                source = GraphEntity(.node, name: name)
            case .external(let address): source = GraphEntity(.external, name: address.description)
            }
            edge = EdgeKey(source: source, target: localPod?.serverEntity(localPort) ?? node, transport: transport, port: localPort.port)
            backend = localPod
        }
        let key = ConnectionKey(local: local, remote: remote, netns: connection.netnsInode, localPort: localPort.port, remotePort: remotePort.port, transport: transport)
        return .report(Report(key: key, counters: Cumulative(sent: connection.sentBytes, received: connection.recvBytes, retransmits: connection.retransmits),
                              countersKnown: connection.countersKnown, edge: edge, clientIsLocal: clientIsLocal,
                              rttMicros: connection.hasRttMicros ? connection.rttMicros : nil, backend: backend, viaClusterIP: viaClusterIP))
    }

    /// Forgets nodes whose agents went silent.
    public func forget(nodes names: [String]) {
        state.withLock { state in for name in names { state.replace(node: name, with: nil) } }
    }

    // MARK: Refresh

    /// Closes the open interval, rebuilds the resolution index from the informers and the
    /// agents' pods, and builds the default window's view. Returns the view and its edges
    /// as history samples.
    @discardableResult
    public func refresh(now: Double, version: Int, cluster: (any ClusterView)?) -> (view: GraphView, history: [EdgeHistory]) {
        let started = ContinuousClock.now
        let (agentPods, retired) = state.withLock { state -> ([String: AgentPods], [ClientEndpoint: (pod: GraphEntity, time: Double)]) in
            if let since = state.openSince, now > since {
                state.fine.append(Bucket(start: since, end: now, entries: state.open))
                for (id, counters) in state.open { state.cumulative[id, default: EdgeCounters()].add(counters) }
                state.open = [:]
                state.openSince = now
            }
            // Buckets older than a minute merge into minute buckets; those older than the
            // longest window go.
            while let first = state.fine.first, first.end <= now - 60 {
                state.fine.removeFirst()
                if var last = state.coarse.last, last.end - last.start < 60 {
                    for (id, counters) in first.entries { last.entries[id, default: EdgeCounters()].add(counters) }
                    last.end = first.end
                    state.coarse[state.coarse.count - 1] = last
                } else {
                    state.coarse.append(first)
                }
            }
            state.coarse.removeAll { $0.end <= now - maxWindowSeconds }
            // A client end's backend is kept one to two minutes after its server last
            // reported it: the older generation goes (freed after the lock).
            var retired: [ClientEndpoint: (pod: GraphEntity, time: Double)] = [:]
            if state.backendsTurnedAt.map({ now - $0 >= 60 }) ?? true {
                retired = state.olderBackends
                state.olderBackends = state.backendsByClient
                state.backendsByClient = [:]
                state.backendsTurnedAt = now
            }
            // Edges in no bucket, no open interval and no node's snapshot are forgotten (an
            // edge that never carried traffic goes once no snapshot has it).
            var kept = Set<UInt32>()
            for node in state.nodes.values { kept.formUnion(node.active.keys) }
            for bucket in state.fine { kept.formUnion(bucket.entries.keys) }
            for bucket in state.coarse { kept.formUnion(bucket.entries.keys) }
            kept.formUnion(state.open.keys)
            var forgotten = 0
            for (id, key) in state.edgeKeys.enumerated() where key != nil && !kept.contains(UInt32(id)) {
                state.edgeIDs[key!] = nil
                state.edgeKeys[id] = nil
                state.cumulative[UInt32(id)] = nil
                state.free.append(UInt32(id))
                forgotten += 1
            }
            if forgotten > 0 { state.compact() }
            return (state.nodes.mapValues { $0.pods }, retired)
        }
        withExtendedLifetime(retired) {}
        let updated = indexer.withLock {
            $0.update(cluster: cluster, agentPods: agentPods, now: now, grace: Double(configuration.addressGrace.components.seconds))
        }
        index.withLock { $0 = updated }
        let view = build(window: Double(defaultWindowSeconds), now: now)
        views.withLock { $0 = (version, now, [defaultWindowSeconds: view]) }
        _ = live.set(GraphFrame(view: view, version: version))
        edgeGauge.record(view.edges.count)
        // History keeps each edge's cumulative counters (bytes, connections opened,
        // retransmits) and its open connections, once per refresh.
        let history = cumulativeEdges()
        buildTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
        return (view, history)
    }

    /// Every edge's cumulative counters since this process first saw it (bytes, connections
    /// opened, retransmits) and its open connections, as of the latest refresh.
    public func cumulativeEdges() -> [EdgeHistory] {
        // By reference under the lock, read after it (as `build`).
        let (nodes, cumulative, edgeKeys) = state.withLock { ($0.nodes, $0.cumulative, $0.edgeKeys) }
        var active: [UInt32: Int] = [:]
        for node in nodes.values { for (id, count) in node.active { active[id, default: 0] += Int(count) } }
        return cumulative.compactMap { id, totals in
            Int(id) < edgeKeys.count ? edgeKeys[Int(id)].map { EdgeHistory(key: $0, totals: totals, active: active[id] ?? 0) } : nil
        }
    }

    /// The live graph of the latest refresh over a window (seconds, clamped to the longest
    /// kept); built once per refresh and window.
    public func view(window seconds: Int) -> GraphView {
        let window = min(max(seconds, 1), Int(maxWindowSeconds))
        let (cached, time) = views.withLock { ($0.byWindow[window], $0.time) }
        if let cached { return cached }
        guard time > 0 else { return .empty }
        let view = build(window: Double(window), now: time)
        // A few windows per refresh are kept; callers asking for many others build theirs.
        views.withLock { if $0.time == time && $0.byWindow.count < 8 { $0.byWindow[window] = view } }
        return view
    }

    func build(window: Double, now: Double) -> GraphView {
        // The state's parts by reference under the lock, read after it: ingest takes the
        // same lock for every batch (a pass over every node's connections under it held
        // ingest for up to a second).
        let (buckets, nodes, current, older, edgeKeys) = state.withLock { state in
            (state.coarse + state.fine, state.nodes, state.backendsByClient, state.olderBackends, state.edgeKeys)
        }
        var sums: [UInt32: EdgeCounters] = [:]
        var start = now
        for bucket in buckets where bucket.end > now - window {
            start = min(start, bucket.start)
            for (id, counters) in bucket.entries { sums[id, default: EdgeCounters()].add(counters) }
        }
        var active: [UInt32: Int] = [:]
        var backends: [UInt32: Set<GraphEntity>] = [:]
        for node in nodes.values {
            for (id, count) in node.active { active[id, default: 0] += Int(count) }
            for backend in node.backends where backends[backend.edge, default: []].count < Self.backendsKept {
                backends[backend.edge, default: []].insert(GraphEntity(.pod, namespace: backend.pod.namespace, name: backend.pod.name))
            }
            for (id, clients) in node.clusterIPClients {
                for client in clients where backends[id, default: []].count < Self.backendsKept {
                    if let pod = (current[client] ?? older[client])?.pod { backends[id, default: []].insert(pod) }
                }
            }
        }
        var totals: [EdgeKey: EdgeTotal] = [:]
        totals.reserveCapacity(Swift.max(sums.count, active.count))
        for id in Set(sums.keys).union(active.keys) {
            guard Int(id) < edgeKeys.count, let key = edgeKeys[Int(id)] else { continue }
            totals[key] = EdgeTotal(counters: sums[id] ?? EdgeCounters(), active: active[id] ?? 0, backends: backends[id] ?? [])
        }
        let span = now - start
        let dns = self.dns
        return GraphView.build(timestamp: Int64(now), window: window, span: max(span, 1), totals: totals) { entity in
            if entity.kind == .external, let dns, let address = NetworkAddress(entity.name), let name = dns.name(for: address) { return name }
            return entity.name
        }
    }

    /// Edges known, ids given out (forgotten ones among them) and the room of the edges'
    /// table (tests).
    var edgeStorage: (edges: Int, ids: Int, room: Int) { state.withLock { ($0.edgeIDs.count, $0.edgeKeys.count, $0.edgeIDs.capacity) } }

    /// Connections tracked across nodes (the agents' latest snapshots).
    public var trackedConnections: Int { state.withLock { $0.nodes.values.reduce(0) { $0 + $1.table.count } } }
}

/// The graph of the newest refresh, for `/sse/graph`.
public struct GraphFrame: Sendable, Equatable {
    public var view: GraphView
    public var version: Int
    public static func == (a: GraphFrame, b: GraphFrame) -> Bool { a.view === b.view }
}
