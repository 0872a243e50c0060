import TimeSeries

/// The history's entities and the metrics each stores, named as Kube-App named them
/// (REFERENCE.md §5). Metrics are only ever added at the end of a family.
public enum HistoryFamily: UInt8, Sendable, CaseIterable {
    case node = 1, pod = 2, container = 3, edge = 4

    public var definition: Family { HistoryCatalog.families[Int(rawValue) - 1] }
}

public enum HistoryCatalog {
    static func counter(_ name: String, fromZero: Bool = false) -> MetricDefinition { MetricDefinition(name, .counter, startsAtZero: fromZero) }
    static func gauge(_ name: String) -> MetricDefinition { MetricDefinition(name, .gauge) }
    /// An uptime (milliseconds): it grows by the time between two snapshots, which the head
    /// predicts (a bit per sample instead of ~3 bytes, a seventh of a pod's row).
    static func uptime() -> MetricDefinition { MetricDefinition("uptime", .gauge, tracksTime: true) }

    /// Every family's stored metrics, in storage order.
    public static let families: [Family] = [
        Family(id: HistoryFamily.node.rawValue, name: "node", metrics: [
            counter("cpu/usage"),                   // busy core-nanoseconds since boot (/proc/stat)
            gauge("cpu/node_capacity"), gauge("cpu/node_allocatable"),   // millicores
            gauge("cpu/request"), gauge("cpu/limit"),                     // millicores, sums over the node's pods
            gauge("memory/usage"), gauge("memory/working_set"), gauge("memory/rss"),
            gauge("memory/node_capacity"), gauge("memory/node_allocatable"),
            gauge("memory/request"), gauge("memory/limit"),
            counter("memory/page_faults"), counter("memory/major_page_faults"),
            gauge("filesystem/usage"), gauge("filesystem/limit"), gauge("filesystem/available"),
            gauge("filesystem/inodes"), gauge("filesystem/inodes_free"),
            counter("network/rx"), counter("network/tx"), counter("network/rx_errors"), counter("network/tx_errors"),
            uptime(),                               // milliseconds since boot
            // GPUs (NVML): devices, memory over all of them, their mean utilization (percent),
            // and what the node's pods request (GPUs, a MIG profile as its share of one).
            gauge("gpu/count"), gauge("gpu/memory_capacity"), gauge("gpu/memory_usage"), gauge("gpu/usage"),
            gauge("gpu/utilization"), MetricDefinition("gpu/request", .gauge, .float),
        ]),
        Family(id: HistoryFamily.pod.rawValue, name: "pod", metrics: [
            counter("cpu/usage", fromZero: true),
            gauge("cpu/request"), gauge("cpu/limit"),
            gauge("memory/usage"), gauge("memory/working_set"), gauge("memory/rss"),
            gauge("memory/request"), gauge("memory/limit"),
            counter("memory/page_faults", fromZero: true), counter("memory/major_page_faults", fromZero: true),
            gauge("filesystem/usage"), gauge("filesystem/limit"),
            counter("network/rx"), counter("network/tx"), counter("network/rx_errors"), counter("network/tx_errors"),
            uptime(),                               // milliseconds since the pod started
        ], summarize: ["network/rx", "network/tx"]),
        Family(id: HistoryFamily.container.rawValue, name: "container", metrics: [
            counter("cpu/usage", fromZero: true),
            gauge("cpu/request"), gauge("cpu/limit"),
            gauge("memory/usage"), gauge("memory/working_set"), gauge("memory/rss"),
            gauge("memory/request"), gauge("memory/limit"),
            counter("memory/page_faults", fromZero: true), counter("memory/major_page_faults", fromZero: true),
            gauge("filesystem/usage"),
            uptime(),                               // milliseconds since this instance started
            // GPUs: requested (GPUs, a MIG profile as its share of one), its processes' memory
            // (bytes; gpu/usage in MiB, Kube-App's "MB") and SM utilization (percent of one
            // GPU, summed over the devices it uses).
            MetricDefinition("gpu/request", .gauge, .float), gauge("gpu/memory_usage"), gauge("gpu/usage"), gauge("gpu/utilization"),
        ], summarize: ["cpu/usage", "cpu/request", "memory/usage", "memory/working_set", "memory/request"]),
        Family(id: HistoryFamily.edge.rawValue, name: "edge", metrics: [
            counter("network/tx", fromZero: true),          // bytes client -> server
            counter("network/rx", fromZero: true),          // bytes server -> client
            counter("connections/opened", fromZero: true),
            counter("network/retransmits", fromZero: true),
            gauge("connections/active"),
        ]),
    ]

    /// What a catalog name means for a family.
    public enum Formula: Sendable, Equatable {
        case stored(Int)
        /// Increase per second x `scale` (cpu/usage_rate: core-ns per s x 1e-6 = millicores).
        case rate(Int, scale: Double)
        /// numerator / denominator (utilization, reservation).
        indirect case ratio(Formula, Formula)
    }

    /// The unit of a catalog name's values.
    public static func unit(_ name: String) -> String {
        switch name {
        case "cpu/usage": "core-nanoseconds"
        case "cpu/usage_rate", "cpu/request", "cpu/limit", "cpu/node_capacity", "cpu/node_allocatable": "millicores"
        case "cpu/node_reservation", "cpu/node_utilization", "memory/node_reservation", "memory/node_utilization": "ratio"
        case "uptime": "milliseconds"
        case "gpu/usage": "MB"
        case "gpu/utilization": "percent"
        case "gpu/request", "gpu/count": "GPUs"
        case "memory/page_faults", "memory/major_page_faults", "connections/opened", "network/retransmits",
             "network/rx_errors", "network/tx_errors": "count"
        case "connections/active": "connections"
        case "filesystem/inodes", "filesystem/inodes_free": "inodes"
        default: name.hasSuffix("_rate") ? "per second" : "bytes"
        }
    }

    /// Every name a family answers to, stored and derived, sorted.
    public static func names(_ family: HistoryFamily) -> [String] {
        let stored = family.definition.metrics
        var names = stored.map(\.name)
        names += stored.filter { $0.kind == .counter }.map { $0.name + "_rate" }
        if family == .node { names += ["cpu/node_reservation", "cpu/node_utilization", "memory/node_reservation", "memory/node_utilization"] }
        return names.sorted()
    }

    public static func formula(_ name: String, in family: HistoryFamily) -> Formula? {
        let definition = family.definition
        if let index = definition.index(of: name) { return .stored(index) }
        if name.hasSuffix("_rate"), let index = definition.index(of: String(name.dropLast(5))), definition.metrics[index].kind == .counter {
            return .rate(index, scale: name == "cpu/usage_rate" ? 1e-6 : 1)
        }
        guard family == .node else { return nil }
        func stored(_ name: String) -> Formula { .stored(definition.index(of: name)!) }
        switch name {
        case "cpu/node_reservation": return .ratio(stored("cpu/request"), stored("cpu/node_allocatable"))
        case "cpu/node_utilization": return .ratio(.rate(definition.index(of: "cpu/usage")!, scale: 1e-6), stored("cpu/node_allocatable"))
        case "memory/node_reservation": return .ratio(stored("memory/request"), stored("memory/node_allocatable"))
        case "memory/node_utilization": return .ratio(stored("memory/working_set"), stored("memory/node_allocatable"))
        default: return nil
        }
    }

    static func index(_ family: HistoryFamily, _ name: String) -> Int { family.definition.index(of: name)! }
}
