import Kubernetes

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

/// One pod as the live views show it (REFERENCE.md §1 PodMetrics), serialized once.
public struct PodView: Sendable {
    public var namespace: String
    public var name: String
    public var node: String
    /// The PodMetrics JSON object: a slice of its node's one buffer (a buffer per pod held
    /// twice its size, since a writer grows by doubling: 1 KiB per pod at 150,000 pods).
    public var json: ArraySlice<UInt8>
}

/// Everything the live endpoints serve, computed once per refresh and shared by every
/// request and stream: serving a user is slicing and concatenating, never recomputing.
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

    init(version: Int, timestamp: Int64, nodes: [NodeView], pods: [PodView],
         podStatuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)]) {
        self.version = version
        self.timestamp = timestamp
        self.nodes = nodes
        self.pods = pods
        self.podStatuses = podStatuses
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
        bytes.reserveCapacity(pods.reduce(2) { $0 + $1.json.count + 1 })
        bytes.append(UInt8(ascii: "["))
        for (index, pod) in pods.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: pod.json)
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

/// Joins the agents' snapshots with the API server's objects into a `LiveView`.
public struct LiveViewBuilder: Sendable {
    /// Silent for this many intervals: stale.
    public var staleIntervals: Double = 3
    static let pressureConditions: Set<String> = ["MemoryPressure", "DiskPressure", "PIDPressure"]

    public init() {}

    public func build(version: Int, now: Double, nodes samples: [NodeSample], cluster: (any ClusterView)?) -> LiveView {
        var nodes: [NodeView] = []
        var pods: [PodView] = []
        // Pods the API server no longer has are gone, whatever the last snapshot said.
        // By key, each pod's place in the refresh's list: 150,000 pods copied into a
        // dictionary, then again into a sorted array, were a tenth of a refresh at that size
        // (a pod is some twenty reference-counted fields).
        let all = cluster?.allPods()
        let listed = all.map { all in
            var places = [Informer<Pod>.Key: Int](minimumCapacity: all.count)
            for index in all.indices.reversed() { places[Informer<Pod>.Key(all[index].namespace, all[index].name)] = index }
            return places
        }
        var statuses: [(namespace: String, name: String, restartCount: Int, oomKilled: Bool)] = []
        for sample in samples.sorted(by: { $0.name < $1.name }) {
            let object = cluster?.node(named: sample.name)
            let cpuCapacityMillicores = object?.capacity["cpu"]?.milliValue ?? Int64(sample.cpuCount) * 1000
            let memoryCapacity = object?.capacity["memory"].map { UInt64(max($0.value, 0)) } ?? sample.memoryTotalBytes
            let cpuMillicores = Int64(((sample.cpuCores ?? 0) * 1000).rounded())
            let memoryUsed = sample.memoryUsedBytes ?? 0
            let stale = now - sample.receivedAt > staleIntervals * sample.intervalSeconds
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
            // Every pod of the node in one buffer; each PodView takes its slice of it.
            var p = JSONWriter(capacity: 448 * sample.pods.count)
            var written: [(namespace: String, name: String, range: Range<Int>)] = []
            written.reserveCapacity(sample.pods.count)
            for pod in sample.pods {
                var place: Int?
                if let listed, let all {
                    guard let found = listed[Informer<Pod>.Key(pod.namespace, pod.name)],
                          all[found].uid == pod.uid || all[found].uid.isEmpty || pod.uid.isEmpty else { continue }
                    place = found
                }
                p.nextDocument()
                let begin = p.bytes.count
                p.beginObject()
                p.field("name", pod.name)
                p.field("namespace", pod.namespace)
                p.field("node", sample.name)
                p.field("cpu_usage", pod.cpuNanocores ?? 0)
                p.field("cpu_capacity", cpuCapacityNanocores)
                p.field("memory_usage", pod.memoryBytes ?? 0)
                p.field("memory_capacity", memoryCapacity)
                p.field("disk_usage", pod.diskBytes ?? 0)
                p.field("disk_capacity", sample.diskCapacityBytes ?? 0)
                p.field("cpu_request", pod.cpuRequestMillicores * 1_000_000)
                p.field("cpu_limit", pod.cpuLimitMillicores * 1_000_000)
                p.field("memory_request", pod.memoryRequestBytes)
                p.field("memory_limit", pod.memoryLimitBytes)
                p.field("restarts", pod.restarts)
                p.field("oom_killed", pod.oomKilled)
                if let gpu = pod.gpu {
                    p.field("gpu_request", gpu.requestedDevices)
                    p.field("gpu_memory_usage", gpu.memoryBytes)
                    if let percent = gpu.utilizationPercent { p.field("gpu_utilization", UInt64(percent)) }
                }
                let workload = place.flatMap { place in all.flatMap { cluster?.workload(of: $0[place]) } }
                if let kind = workload?.kind ?? pod.controller?.kind, let name = workload?.name ?? pod.controller?.name {
                    p.key("workload")
                    p.beginObject(); p.field("kind", kind); p.field("name", name); p.endObject()
                }
                p.field("stale", stale)
                p.endObject()
                written.append((pod.namespace, pod.name, begin..<p.bytes.count))
                if listed == nil {
                    for container in pod.containers where !container.isInit {
                        statuses.append((pod.namespace, pod.name, container.restartCount, container.oomKilled))
                    }
                }
            }
            let buffer = p.compactBytes
            for pod in written { pods.append(PodView(namespace: pod.namespace, name: pod.name, node: sample.name, json: buffer[pod.range])) }
        }
        // The API server knows every pod, also those on nodes without an agent.
        if let all, let listed {
            // The pods in key order (places sorted, not pods moved); a duplicate key counts once.
            for index in listed.values.sorted(by: { (all[$0].namespace, all[$0].name) < (all[$1].namespace, all[$1].name) }) {
                for status in all[index].containerStatuses {
                    statuses.append((all[index].namespace, all[index].name, status.restartCount, status.oomKilled))
                }
            }
        }
        pods.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        return LiveView(version: version, timestamp: Int64(now), nodes: nodes, pods: pods, podStatuses: statuses)
    }

    func percent(_ used: Double, _ capacity: Double) -> Double {
        capacity > 0 ? (used / capacity * 10_000).rounded() / 100 : 0
    }
}
