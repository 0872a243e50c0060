import Kubernetes
import Synchronization

/// One node as the live views show it (REFERENCE.md §1 NodeMetrics), serialized once.
public struct NodeView: Sendable {
    public var name: String
    public var cpuPercent: Double
    public var memoryPercent: Double
    public var diskPercent: Double
    /// MemoryPressure, DiskPressure and PIDPressure from the Node object.
    public var conditions: [(type: String, status: String)]
    /// The agent has been silent for more than three intervals.
    public var stale: Bool
    /// The NodeMetrics JSON object.
    public var json: [UInt8]
}

/// One pod as the live views show it (REFERENCE.md §1 PodMetrics): its figures, written as
/// JSON when served. The objects written once per refresh and kept were ~460 bytes a pod
/// (70 MB at 150,000 pods, and the changed half again while a refresh's view is built),
/// for answers that are a tenant's few thousand pods each.
public struct PodView: Sendable {
    public var namespace: String
    public var name: String
    public var node: String
    var figures: PodFigures

    /// The PodMetrics JSON object.
    public var json: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(480)
        figures.write(name: name, namespace: namespace, node: node, to: &bytes)
        return bytes
    }
}

/// A live pod's figures as its PodMetrics object shows them.
struct PodFigures: Sendable, Equatable {
    struct Workload: Sendable, Equatable {
        var kind: String
        var name: String
    }

    /// Nanocores.
    var cpuUsage: UInt64
    var cpuCapacity: UInt64
    var memoryUsage: UInt64
    var memoryCapacity: UInt64
    var diskUsage: UInt64
    var diskCapacity: UInt64
    /// Millicores, as the snapshot has them (written as nanocores).
    var cpuRequest: UInt64
    var cpuLimit: UInt64
    var memoryRequest: UInt64
    var memoryLimit: UInt64
    var restarts: Int64
    var oomKilled: Bool
    var stale: Bool
    var gpu: PodGPU?
    var workload: Workload?

    init(_ pod: PodSample, cpuCapacityNanocores: UInt64, memoryCapacity: UInt64, diskCapacity: UInt64,
         workload: (kind: String, name: String)?, stale: Bool) {
        cpuUsage = pod.cpuNanocores ?? 0
        cpuCapacity = cpuCapacityNanocores
        memoryUsage = pod.memoryBytes ?? 0
        self.memoryCapacity = memoryCapacity
        diskUsage = pod.diskBytes ?? 0
        self.diskCapacity = diskCapacity
        cpuRequest = pod.cpuRequestMillicores
        cpuLimit = pod.cpuLimitMillicores
        memoryRequest = pod.memoryRequestBytes
        memoryLimit = pod.memoryLimitBytes
        restarts = Int64(pod.restarts)
        oomKilled = pod.oomKilled
        self.stale = stale
        gpu = pod.gpu
        self.workload = workload.map { Workload(kind: $0.kind, name: $0.name) }
    }

    /// The PodMetrics object, from fixed key bytes: keys never need escaping and the object
    /// nests once, so no writer's comma stack (writing keys through the general writer was
    /// a sixth of a 150,000-pod live view). Written at a cursor into stack memory and
    /// appended once (an append per key and value was ~570 ns a pod, most of a user's
    /// answer).
    func write(name: String, namespace: String, node: String, to b: inout [UInt8]) {
        typealias W = JSONWriter
        let kind = workload?.kind ?? "", owner = workload?.name ?? ""
        // Keys and punctuation ~330 bytes, 14 numbers of at most 20 digits, the strings.
        let bound = 640 + W.stringBound(name) + W.stringBound(namespace) + W.stringBound(node) + W.stringBound(kind) + W.stringBound(owner)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { buffer in
            let start = buffer.baseAddress!
            var c = start
            @inline(__always) func literal(_ text: StaticString) { W.put(text, at: &c) }
            @inline(__always) func string(_ text: String) { W.putString(text, at: &c) }
            @inline(__always) func digits(_ number: UInt64) { W.putDigits(number, at: &c) }
            literal(#"{"name":"#); string(name)
            literal(#","namespace":"#); string(namespace)
            literal(#","node":"#); string(node)
            literal(#","cpu_usage":"#); digits(cpuUsage)
            literal(#","cpu_capacity":"#); digits(cpuCapacity)
            literal(#","memory_usage":"#); digits(memoryUsage)
            literal(#","memory_capacity":"#); digits(memoryCapacity)
            literal(#","disk_usage":"#); digits(diskUsage)
            literal(#","disk_capacity":"#); digits(diskCapacity)
            literal(#","cpu_request":"#); digits(cpuRequest &* 1_000_000)
            literal(#","cpu_limit":"#); digits(cpuLimit &* 1_000_000)
            literal(#","memory_request":"#); digits(memoryRequest)
            literal(#","memory_limit":"#); digits(memoryLimit)
            literal(#","restarts":"#)
            if restarts < 0 { literal("-") }
            digits(restarts.magnitude)
            literal(#","oom_killed":"#); if oomKilled { literal("true") } else { literal("false") }
            if let gpu {
                literal(#","gpu_request":"#); digits(gpu.requestedDevices)
                literal(#","gpu_memory_usage":"#); digits(gpu.memoryBytes)
                if let percent = gpu.utilizationPercent { literal(#","gpu_utilization":"#); digits(UInt64(percent)) }
            }
            if workload != nil {
                literal(#","workload":{"kind":"#); string(kind)
                literal(#","name":"#); string(owner)
                literal("}")
            }
            literal(#","stale":"#); if stale { literal("true}") } else { literal("false}") }
            b.append(contentsOf: UnsafeBufferPointer(start: start, count: c - start))
        }
    }
}

/// Everything the live endpoints serve, computed once per refresh and shared by every
/// request and stream: serving a user is selecting its namespaces' pods and writing their
/// figures (the nodes' objects and `/cluster-info` are written once, here).
public final class LiveView: Sendable {
    public let version: Int
    /// Unix seconds of this refresh.
    public let timestamp: Int64
    public let nodes: [NodeView]
    /// Sorted by (namespace, name).
    public let pods: [PodView]
    /// Where each namespace's pods are in `pods`.
    public let namespaces: [(name: String, range: Range<Int>)]
    /// Pod statuses for the `cluster.pods` event.
    public let podStatuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)]
    /// `{"timestamp":…,"nodes":[…]}`.
    public let clusterInfoJSON: [UInt8]
    /// What each node's part was made from, in `nodes` order (the next build takes the parts
    /// of nodes whose inputs did not change).
    let parts: [NodePart]
    /// How many nodes' parts were taken from the view before.
    let keptParts: Int

    /// A node's snapshot and staleness its part was made from, and its pods' places in `pods`
    /// with their ranks among the API server's pods (-1 without them).
    struct NodePart: Sendable {
        var instance: String
        var sequence: UInt64
        var receivedAt: Double
        var stale: Bool
        var pods: [(place: Int32, rank: Int32)]

        init(_ sample: NodeSample, stale: Bool, pods: [(place: Int32, rank: Int32)] = []) {
            instance = sample.agentInstance
            sequence = sample.sequence
            receivedAt = sample.receivedAt
            self.stale = stale
            self.pods = pods
        }

        /// Made from this snapshot, as stale as it is now.
        func isMade(from sample: NodeSample, stale: Bool) -> Bool {
            sequence == sample.sequence && receivedAt == sample.receivedAt && self.stale == stale && instance == sample.agentInstance
        }
    }

    init(version: Int, timestamp: Int64, nodes: [NodeView], pods: [PodView],
         podStatuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)], parts: [NodePart] = [], keptParts: Int = 0) {
        self.version = version
        self.timestamp = timestamp
        self.nodes = nodes
        self.pods = pods
        self.podStatuses = podStatuses
        self.parts = parts
        self.keptParts = keptParts
        var groups: [(name: String, range: Range<Int>)] = []
        var start = 0
        for index in pods.indices where index + 1 == pods.count || pods[index + 1].namespace != pods[index].namespace {
            groups.append((pods[index].namespace, start..<(index + 1)))
            start = index + 1
        }
        namespaces = groups
        var writer = JSONWriter(capacity: 64 + nodes.reduce(0) { $0 + $1.json.count + 1 })
        writer.beginObject()
        writer.field("timestamp", UnixTime(seconds: timestamp).rfc3339)
        writer.key("nodes")
        writer.beginArray()
        for node in nodes { writer.raw(node.json) }
        writer.endArray()
        writer.endObject()
        clusterInfoJSON = writer.bytes
    }

    public static let empty = LiveView(version: 0, timestamp: 0, nodes: [], pods: [], podStatuses: [])

    /// The pods of the namespaces `visible` admits (asked once per namespace), optionally
    /// one namespace and one node only.
    public func pods(visible: (String) -> Bool, namespace: String? = nil, node: String? = nil) -> [PodView] {
        var result: [PodView] = []
        for group in namespaces where (namespace == nil || group.name == namespace) && visible(group.name) {
            if let node { result.append(contentsOf: pods[group.range].filter { $0.node == node }) }
            else { result.append(contentsOf: pods[group.range]) }
        }
        return result
    }

    /// A JSON array of pods.
    public static func podArray(_ pods: [PodView]) -> [UInt8] {
        var bytes: [UInt8] = []
        // Most objects are 400-480 bytes; the buffer grows for the rest.
        bytes.reserveCapacity(2 + 480 * pods.count)
        bytes.append(UInt8(ascii: "["))
        for index in pods.indices {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            pods[index].figures.write(name: pods[index].name, namespace: pods[index].namespace, node: pods[index].node, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        return bytes
    }

    /// `{"timestamp":…,"pods":[…]}`.
    public func podMetricsJSON(_ pods: [PodView]) -> [UInt8] {
        var bytes: [UInt8] = Array(#"{"timestamp":"#.utf8)
        JSONWriter.appendString(UnixTime(seconds: timestamp).rfc3339, to: &bytes)
        bytes.append(contentsOf: #","pods":"#.utf8)
        bytes.append(contentsOf: Self.podArray(pods))
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}

/// The API server's pods in (namespace, name) order with their cache entries, and every
/// listed pod's container statuses in that order, kept from one refresh to the next: the
/// pods' change log names the pods modified since, whose entries are replaced in place; a pod
/// added or deleted, or a change log that does not reach back, sorts them again. (Copying
/// the 150,000 pods out of the informer, keying them in a dictionary and sorting the keys
/// was about a third of every refresh's live view at that size, for a list that rarely changes
/// between two refreshes.)
struct ListedPods: Sendable {
    /// The pods' change count the order holds every change up to (nil: no change log).
    var count: Int?
    var ordered: [(key: ObjectKey, entry: Informer<Pod>.Entry)]
    /// Each key's place in `ordered`.
    var rank: [ObjectKey: Int32]
    var statuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)]
    /// Where each ranked pod's statuses start in `statuses` (one more: the end).
    var statusStarts: [Int32]

    /// The order as of now: `previous` brought up to date, or made anew.
    static func current(_ cluster: any ClusterView, previous: ListedPods?) -> ListedPods? {
        guard let (entries, count) = cluster.podEntries() else { return nil }
        if var order = previous, let since = order.count, let count {
            if count == since { return order }
            if let changes = cluster.changes(.pods, since: since), order.apply(changes.keys, entries) {
                order.count = count
                return order
            }
        }
        return ListedPods(entries, count: count)
    }

    init(_ entries: [ObjectKey: Informer<Pod>.Entry], count: Int?) {
        self.count = count
        ordered = entries.map { (key: $0.key, entry: $0.value) }
        ordered.sort { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }
        rank = [ObjectKey: Int32](minimumCapacity: ordered.count)
        for index in ordered.indices { rank[ordered[index].key] = Int32(index) }
        statuses = []
        statusStarts = []
        collectStatuses()
    }

    /// Replaces the entries of modified pods; false when a pod was added or deleted (the
    /// order must be made anew). A key whose pod the entries do not hold and the order
    /// never had came and went (or comes after the entries were taken: the next refresh
    /// sees it, since the count stays before it).
    mutating func apply(_ keys: [ObjectKey], _ entries: [ObjectKey: Informer<Pod>.Entry]) -> Bool {
        var recollect = false
        for key in Set(keys) {
            let entry = entries[key], place = rank[key]
            switch (entry, place) {
            case (nil, nil): continue
            case (let entry?, let place?):
                let index = Int(place)
                guard ordered[index].entry !== entry else { continue }
                ordered[index].entry = entry
                // Its statuses in place when it has as many containers as before.
                let list = entry.object.containerStatuses
                let start = Int(statusStarts[index])
                if list.count == Int(statusStarts[index + 1]) - start {
                    for status in list.indices {
                        statuses[start + status].restartCount = list[status].restartCount
                        statuses[start + status].oomKilled = list[status].oomKilled
                    }
                } else {
                    recollect = true
                }
            default: return false
            }
        }
        if recollect { collectStatuses() }
        return true
    }

    private mutating func collectStatuses() {
        statuses.removeAll(keepingCapacity: true)
        statuses.reserveCapacity(ordered.count)
        statusStarts.removeAll(keepingCapacity: true)
        statusStarts.reserveCapacity(ordered.count + 1)
        for index in ordered.indices {
            statusStarts.append(Int32(statuses.count))
            // By index: iterating would copy each status (a dozen strings).
            let list = ordered[index].entry.object.containerStatuses
            for status in list.indices {
                statuses.append((ordered[index].key.namespace, ordered[index].key.name, list[status].restartCount, list[status].oomKilled))
            }
        }
        statusStarts.append(Int32(statuses.count))
    }
}

/// Joins the agents' snapshots with the API server's objects into a `LiveView`. One builder
/// kept across refreshes keeps the API server's pods' order between them (`ListedPods`) and
/// the last view: a node whose snapshot and staleness did not change since, in a cluster whose
/// pods, nodes and ReplicaSets did not change either, keeps its part of that view (its
/// object and its pods' figures) instead of making it again. With a 10 s agent interval and
/// a 5 s refresh that is about half the nodes of each refresh.
public struct LiveViewBuilder: Sendable {
    /// Silent for this many intervals: stale.
    public var staleIntervals: Double = 3
    static let pressureConditions: Set<String> = ["MemoryPressure", "DiskPressure", "PIDPressure"]
    private let listed = Kept()

    /// What the last build kept (a class: the builder stays a value that can be copied).
    private final class Kept: Sendable {
        let order = Mutex<ListedPods?>(nil)
        /// The last view and the cluster's change counts it was built with.
        let last = Mutex<(view: LiveView, counts: [Int?])?>(nil)
    }

    public init() {}

    /// The cluster's change counts a view's parts depend on: the API server's pods (their
    /// filter, order and controllers: the count the listed order holds every change up to,
    /// -1 when pods are not listed), the Nodes' (capacity, conditions) and the ReplicaSets'
    /// (workloads). Read before the objects are.
    static func counts(_ cluster: (any ClusterView)?, listed: ListedPods?) -> [Int?] {
        guard let cluster else { return [] }
        let pods: Int? = if let listed { listed.count } else { -1 }
        return [pods, cluster.changeCount(.nodes), cluster.changeCount(.replicaSets)]
    }

    public func build(version: Int, now: Double, nodes samples: [NodeSample], cluster: (any ClusterView)?) -> LiveView {
        // Refreshes take turns on this builder; the order is taken out and put back.
        let previous = listed.order.withLock { $0.take() }
        let order = cluster.flatMap { ListedPods.current($0, previous: previous) }
        let counts = Self.counts(cluster, listed: order)
        // Parts are taken only from a view built with the same counts, every one of them known.
        let last = listed.last.withLock { $0 }.flatMap { $0.counts == counts && !counts.contains(nil) ? $0.view : nil }
        let view = build(version: version, now: now, nodes: samples, cluster: cluster, listed: order, last: last)
        listed.order.withLock { $0 = order }
        listed.last.withLock { $0 = (view, counts) }
        return view
    }

    private func build(version: Int, now: Double, nodes samples: [NodeSample], cluster: (any ClusterView)?, listed: ListedPods?,
                       last: LiveView?) -> LiveView {
        var nodes: [NodeView] = []
        // Each shown pod's view, in node order until sorted in place below, and its rank
        // among the API server's pods (-1 without them).
        var written: [PodView] = []
        var ranks: [Int32] = []
        written.reserveCapacity(samples.reduce(0) { $0 + $1.pods.count })
        ranks.reserveCapacity(written.capacity)
        // Pods the API server no longer has are gone, whatever the last snapshot said.
        var statuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)] = listed?.statuses ?? []
        // Each node's part: its snapshot and where its pods are in `written`.
        var parts: [(part: LiveView.NodePart, pods: Range<Int>)] = []
        parts.reserveCapacity(samples.count)
        var cursor = 0, kept = 0
        for sample in samples.sorted(by: { $0.name < $1.name }) {
            let stale = now - sample.receivedAt > staleIntervals * sample.intervalSeconds
            // The last view's part of this node when it was made from the same snapshot
            // (both views' nodes are in name order).
            if let last {
                while cursor < last.nodes.count && last.nodes[cursor].name < sample.name { cursor += 1 }
                if cursor < last.nodes.count, last.nodes[cursor].name == sample.name, last.parts[cursor].isMade(from: sample, stale: stale) {
                    let first = written.count
                    for pod in last.parts[cursor].pods {
                        written.append(last.pods[Int(pod.place)])
                        ranks.append(pod.rank)
                    }
                    kept += 1
                    if listed == nil { Self.appendStatuses(sample, to: &statuses) }
                    nodes.append(last.nodes[cursor])
                    parts.append((LiveView.NodePart(sample, stale: stale), first..<written.count))
                    continue
                }
            }
            let object = cluster?.node(named: sample.name)
            let cpuCapacityMillicores = object?.capacity["cpu"]?.milliValue ?? Int64(sample.cpuCount) * 1000
            let memoryCapacity = object?.capacity["memory"].map { UInt64(max($0.value, 0)) } ?? sample.memoryTotalBytes
            let cpuMillicores = Int64(((sample.cpuCores ?? 0) * 1000).rounded())
            let memoryUsed = sample.memoryUsedBytes ?? 0
            let cpuPercent = percent(Double(cpuMillicores), Double(cpuCapacityMillicores))
            let memoryPercent = percent(Double(memoryUsed), Double(memoryCapacity))
            let diskPercent = percent(Double(sample.diskUsedBytes ?? 0), Double(sample.diskCapacityBytes ?? 0))
            let conditions = (object?.conditions ?? []).filter { Self.pressureConditions.contains($0.type) }.map { (type: $0.type, status: $0.status) }

            var w = JSONWriter(capacity: 512)
            w.beginObject()
            w.field("name", sample.name)
            w.field("cpu_usage", Quantity.formatCPU(millicores: cpuMillicores))
            w.field("cpu_capacity", Quantity.formatCPU(millicores: cpuCapacityMillicores))
            w.field("cpu_percent", cpuPercent)
            w.field("memory_usage", Quantity.formatBytes(memoryUsed))
            w.field("memory_capacity", Quantity.formatBytes(memoryCapacity))
            w.field("memory_percent", memoryPercent)
            w.field("disk_usage", sample.diskUsedBytes ?? 0)
            w.field("disk_capacity", sample.diskCapacityBytes ?? 0)
            w.field("disk_percent", diskPercent)
            w.key("conditions")
            w.beginArray()
            for condition in conditions {
                w.beginObject(); w.field("type", condition.type); w.field("status", condition.status); w.endObject()
            }
            w.endArray()
            w.field("stale", stale)
            w.field("last_seen", UnixTime(seconds: Int64(sample.receivedAt)).rfc3339)
            w.field("pods", sample.pods.count)
            if let gpu = sample.gpu {
                w.field("gpu_count", gpu.count)
                w.field("gpu_memory_usage", gpu.memoryUsedBytes)
                w.field("gpu_memory_capacity", gpu.memoryTotalBytes)
                if let percent = gpu.utilizationPercent { w.field("gpu_percent", (percent * 100).rounded() / 100) }
            }
            if !sample.collectorErrors.isEmpty {
                w.key("collector_errors")
                w.beginArray()
                for error in sample.collectorErrors { w.value(error) }
                w.endArray()
            }
            w.endObject()
            nodes.append(NodeView(name: sample.name, cpuPercent: cpuPercent, memoryPercent: memoryPercent, diskPercent: diskPercent,
                                  conditions: conditions, stale: stale, json: w.bytes))

            let cpuCapacityNanocores = UInt64(max(cpuCapacityMillicores, 0)) * 1_000_000
            let first = written.count
            for pod in sample.pods {
                var rank: Int32 = -1
                var workload: (kind: String, name: String)?
                if let listed, let cluster {
                    guard let found = listed.rank[ObjectKey(pod.namespace, pod.name)] else { continue }
                    let entry = listed.ordered[Int(found)].entry
                    guard entry.object.uid == pod.uid || entry.object.uid.isEmpty || pod.uid.isEmpty else { continue }
                    rank = found
                    workload = cluster.workload(namespace: entry.object.namespace, controller: entry.object.metadata.controller).map { ($0.kind, $0.name) }
                }
                if workload == nil, let controller = pod.controller { workload = (controller.kind, controller.name) }
                let figures = PodFigures(pod, cpuCapacityNanocores: cpuCapacityNanocores, memoryCapacity: memoryCapacity,
                                         diskCapacity: sample.diskCapacityBytes ?? 0, workload: workload, stale: stale)
                written.append(PodView(namespace: pod.namespace, name: pod.name, node: sample.name, figures: figures))
                ranks.append(rank)
            }
            if listed == nil { Self.appendStatuses(sample, to: &statuses) }
            parts.append((LiveView.NodePart(sample, stale: stale), first..<written.count))
        }
        // The shown pods' order, as places in `written`.
        let order: [Int]
        if listed != nil {
            // The shown pods follow the API server's key order by their ranks, an integer
            // sort; (rank, index) in one word: a pod two agents report keeps agent order.
            var keys = ranks.indices.map { UInt64(UInt32(bitPattern: ranks[$0])) << 32 | UInt64($0) }
            keys.sort()
            order = keys.map { Int($0 & 0xFFFF_FFFF) }
        } else {
            order = written.indices.sorted { (written[$0].namespace, written[$0].name) < (written[$1].namespace, written[$1].name) }
        }
        // Each node's pods' places in the sorted order, for the next build.
        var place = [Int32](repeating: 0, count: written.count)
        for (position, index) in order.enumerated() { place[index] = Int32(position) }
        let made = parts.map { entry in
            var part = entry.part
            part.pods = entry.pods.map { (place: place[$0], rank: ranks[$0]) }
            return part
        }
        Self.permute(&written, by: order)
        return LiveView(version: version, timestamp: Int64(now), nodes: nodes, pods: written, podStatuses: statuses, parts: made, keptParts: kept)
    }

    /// Reorders `elements` in place so that position i holds what was at `order[i]` (a
    /// permutation), cycle by cycle: a sorted copy of a 150,000-pod view was 30 MB more at
    /// every refresh, beside the view before it.
    static func permute<Element>(_ elements: inout [Element], by order: [Int]) {
        precondition(order.count == elements.count, "a permutation of every element")
        var done = [Bool](repeating: false, count: order.count)
        for start in order.indices where !done[start] {
            var position = start
            let first = elements[start]
            while true {
                done[position] = true
                let source = order[position]
                if source == start {
                    elements[position] = first
                    break
                }
                elements[position] = elements[source]
                position = source
            }
        }
    }

    /// A snapshot's containers' statuses, for the `cluster.pods` event (without the API
    /// server's pods).
    static func appendStatuses(_ sample: NodeSample, to statuses: inout [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)]) {
        for pod in sample.pods {
            for container in pod.containers where !container.isInit {
                statuses.append((pod.namespace, pod.name, container.restartCount, container.oomKilled))
            }
        }
    }

    /// One pod's PodMetrics object, as the views serve it.
    static func appendPod(_ pod: PodSample, node: String, cpuCapacityNanocores: UInt64, memoryCapacity: UInt64, diskCapacity: UInt64,
                          workload: (kind: String, name: String)?, stale: Bool, to b: inout [UInt8]) {
        PodFigures(pod, cpuCapacityNanocores: cpuCapacityNanocores, memoryCapacity: memoryCapacity, diskCapacity: diskCapacity,
                   workload: workload, stale: stale).write(name: pod.name, namespace: pod.namespace, node: node, to: &b)
    }

    func percent(_ used: Double, _ capacity: Double) -> Double {
        capacity > 0 ? (used / capacity * 10_000).rounded() / 100 : 0
    }
}
