import Foundation
import TimeSeries

/// What an allocation's CPU and RAM hours count (OpenCost's default is `max`).
public enum AllocationBasis: String, Sendable, CaseIterable {
    /// max(request, usage) per container instance and step.
    case max
    case usage
    case request
}

/// One property an allocation query groups by.
public enum AllocationKey: Sendable, Equatable {
    case cluster, node, namespace, controllerKind, controller, pod, container, owner
    case label(String)

    public init?(_ text: String) {
        switch text {
        case "cluster": self = .cluster
        case "node": self = .node
        case "namespace": self = .namespace
        case "controllerKind": self = .controllerKind
        case "controller": self = .controller
        case "pod": self = .pod
        case "container": self = .container
        case "owner": self = .owner
        default:
            guard text.hasPrefix("label:"), text.count > 6 else { return nil }
            self = .label(String(text.dropFirst(6)))
        }
    }

    /// The names `init` accepts, for error messages.
    public static let names = "cluster, node, namespace, controllerKind, controller, pod, container, owner, label:<key>"
}

/// Prices per unit (`--prices`): costs appear only when a table is configured.
public struct PriceTable: Sendable, Codable, Equatable {
    public var cpuCoreHour: Double
    public var ramGiBHour: Double
    public var gpuHour: Double
    /// Per GiB transmitted.
    public var networkGiB: Double
    public var currency: String

    public init(cpuCoreHour: Double, ramGiBHour: Double, gpuHour: Double = 0, networkGiB: Double = 0, currency: String) {
        self.cpuCoreHour = cpuCoreHour
        self.ramGiBHour = ramGiBHour
        self.gpuHour = gpuHour
        self.networkGiB = networkGiB
        self.currency = currency
    }
}

/// An allocation query, parsed.
public struct AllocationQuery: Sendable {
    /// Window edges (Unix milliseconds), ascending: one step per pair.
    public var edges: [Int64]
    /// Empty: one allocation per container (`<namespace>/<pod>/<container>`).
    public var aggregate: [AllocationKey] = []
    /// All steps summed into one.
    public var accumulate = false
    public var basis: AllocationBasis = .max
    /// Applied to each container instance before grouping.
    public var filter: @Sendable (InstanceProperties) -> Bool = { _ in true }
    /// The namespaces the caller may see.
    public var namespaces: @Sendable (String) -> Bool = { _ in true }
    /// A namespace's owner (user id), for `aggregate=owner`.
    public var owner: @Sendable (String) -> String? = { _ in nil }
    public var cluster = ""
    public var prices: PriceTable?

    public init(edges: [Int64]) { self.edges = edges }
}

/// The figures of one allocation over one step (OpenCost's fields and clustermon's).
public struct Allocation: Sendable, Equatable {
    public var name: String
    /// Properties every member shares (a property members disagree on is left out).
    public var properties: [String: String] = [:]
    public var windowStart: Int64
    public var windowEnd: Int64
    /// The first and last sample inside the window (Unix milliseconds).
    public var start: Int64 = .max
    public var end: Int64 = .min
    /// From the first to the last sample of its members inside the window (milliseconds):
    /// the time it ran (OpenCost's `minutes`); gaps inside it are in `coverage`.
    public var observed: Int64 = 0
    /// Time the members existed inside the window (first to last sample), summed.
    var lived: Int64 = 0
    /// Covered time of every member, summed.
    var covered: Int64 = 0
    public var cpuCoreNanoseconds: UInt64 = 0
    public var cpuRequestCoreSeconds: Double = 0
    /// The basis's core-seconds (max(request, usage) per instance, or one of them).
    public var cpuBasisCoreSeconds: Double = 0
    public var ramUsageByteSeconds: Double = 0
    public var ramRequestByteSeconds: Double = 0
    public var ramBasisByteSeconds: Double = 0
    /// The busiest member's highest one-hour average (a part-hour at a window's edge counts
    /// as its own hour).
    public var cpuCoreUsageMax: Double = 0
    /// The busiest member's largest working-set sample.
    public var ramByteUsageMax: Double = 0
    public var networkReceiveBytes: UInt64 = 0
    public var networkTransferBytes: UInt64 = 0
    public var containerInstances = 0
    public var restarts = 0

    public var minutes: Double { Double(observed) / 60_000 }
    /// The share of the members' lifetime inside the window that had samples (1: no gap).
    public var coverage: Double { lived > 0 ? min(Double(covered) / Double(lived), 1) : (containerInstances > 0 ? 1 : 0) }
    public var cpuCoreHours: Double { cpuBasisCoreSeconds / 3600 }
    public var ramByteHours: Double { ramBasisByteSeconds / 3600 }
    var observedSeconds: Double { Double(observed) / 1000 }
    public var cpuCoreUsageAverage: Double { observed > 0 ? Double(cpuCoreNanoseconds) / 1e9 / observedSeconds : 0 }
    public var cpuCoreRequestAverage: Double { observed > 0 ? cpuRequestCoreSeconds / observedSeconds : 0 }
    public var ramByteUsageAverage: Double { observed > 0 ? ramUsageByteSeconds / observedSeconds : 0 }
    public var ramByteRequestAverage: Double { observed > 0 ? ramRequestByteSeconds / observedSeconds : 0 }
    /// usage / request; 1 when there is usage and no request (as OpenCost).
    public var cpuEfficiency: Double { Self.efficiency(Double(cpuCoreNanoseconds) / 1e9, cpuRequestCoreSeconds) }
    public var ramEfficiency: Double { Self.efficiency(ramUsageByteSeconds, ramRequestByteSeconds) }

    static func efficiency(_ usage: Double, _ request: Double) -> Double { request > 0 ? usage / request : (usage > 0 ? 1 : 0) }

    public func cpuCost(_ prices: PriceTable) -> Double { cpuCoreHours * prices.cpuCoreHour }
    public func ramCost(_ prices: PriceTable) -> Double { ramByteHours / 1_073_741_824 * prices.ramGiBHour }
    public func networkCost(_ prices: PriceTable) -> Double { Double(networkTransferBytes) / 1_073_741_824 * prices.networkGiB }
    public func totalCost(_ prices: PriceTable) -> Double { cpuCost(prices) + ramCost(prices) + networkCost(prices) }

    /// Cost-weighted with prices; without, the CPU and RAM efficiencies weighted equally.
    public func totalEfficiency(_ prices: PriceTable?) -> Double {
        guard let prices else { return (cpuEfficiency + ramEfficiency) / 2 }
        let cpu = cpuCost(prices), ram = ramCost(prices)
        return cpu + ram > 0 ? (cpuEfficiency * cpu + ramEfficiency * ram) / (cpu + ram) : 0
    }
}

extension HistoryStore {
    /// Allocations per step (one map per window of `query.edges`, or one when accumulated),
    /// from the container instances' counters and gauges: CPU from the cumulative counter
    /// (exact core-nanoseconds, differences split at window edges in proportion to time),
    /// memory and requests integrated over time, network from the pod's counters split
    /// evenly over the pod's containers of that step, gaps left out and reported in
    /// `coverage`. Finished days come from their day summaries, the rest piece by piece;
    /// both give the same figures.
    public func allocations(_ query: AllocationQuery) throws -> [[String: Allocation]] {
        var query = query
        // Accumulated: the whole range is one step (instances counted once, the basis taken
        // over the whole range).
        if query.accumulate { query.edges = [query.edges.first!, query.edges.last!] }
        let container = HistoryFamily.container, pod = HistoryFamily.pod
        let instances = accountedEntities(container, namespaces: query.namespaces).filter { query.filter($0.properties) }
        if instances.isEmpty { return Array(repeating: [:], count: query.edges.count - 1) }
        let byID = Dictionary(uniqueKeysWithValues: instances.map { ($0.id, $0) })
        let keyOf = byID.mapValues { Self.allocationKey($0.properties, query) }
        let podUIDs = Set(instances.map(\.properties.podUID))
        let pods = accountedEntities(pod, namespaces: query.namespaces).filter { podUIDs.contains($0.properties.podUID) }
        let podUID = Dictionary(pods.map { ($0.id, $0.properties.podUID) }, uniquingKeysWith: { a, _ in a })
        let metrics = AccountingMetrics()

        var steps: [[String: Allocation]] = []
        for window in 0..<(query.edges.count - 1) {
            let start = query.edges[window], end = query.edges[window + 1]
            let live = instances.filter { $0.last >= start - store.configuration.gapLimit && $0.first < end }
            var figures: [EntityID: InstanceFigures] = [:]
            var network: [String: (rx: UInt64, tx: UInt64)] = [:]
            let (days, spans) = ledgerSplit(start, end)
            for day in days {
                if let summary = try store.summary(day: day, family: container.rawValue) {
                    metrics.slots(in: summary).map { slots in
                        for (row, id) in summary.entities.enumerated() where byID[id] != nil { figures[id, default: .init()].add(summary, row: row, slots) }
                    }
                }
                if let summary = try store.summary(day: day, family: pod.rawValue), let rx = summary.slot(of: metrics.rx), let tx = summary.slot(of: metrics.tx) {
                    for (row, id) in summary.entities.enumerated() {
                        guard let uid = podUID[id] else { continue }
                        network[uid, default: (0, 0)].rx &+= summary.columns[rx].increase[row]
                        network[uid, default: (0, 0)].tx &+= summary.columns[tx].increase[row]
                    }
                }
            }
            let pieces = Self.pieces(of: spans)
            if !pieces.isEmpty {
                try scan(live.map(\.id), metrics: metrics.container, pieces: pieces) { _, found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            for stats in buckets where !stats.isEmpty { figures[id, default: .init()].add(stats, slot: slot) }
                        }
                    }
                }
                let livePods = pods.filter { $0.last >= start - store.configuration.gapLimit && $0.first < end }
                try scan(livePods.map(\.id), metrics: [metrics.rx, metrics.tx], pieces: pieces) { _, found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let uid = podUID[id] else { continue }
                            let increase = buckets.reduce(UInt64(0)) { $0 &+ $1.increase }
                            if slot == 0 { network[uid, default: (0, 0)].rx &+= increase } else { network[uid, default: (0, 0)].tx &+= increase }
                        }
                    }
                }
            }
            steps.append(Self.group(figures, network: network, byID: byID, keyOf: keyOf, window: (start, end), query: query))
        }
        return steps
    }

    /// One step's instance figures into its allocations.
    static func group(_ figures: [EntityID: InstanceFigures], network: [String: (rx: UInt64, tx: UInt64)], byID: [EntityID: AccountedEntity],
                      keyOf: [EntityID: String], window: (Int64, Int64), query: AllocationQuery) -> [String: Allocation] {
        // Each pod's network over its containers of this step, evenly, the remainder first.
        var podContainers: [String: [EntityID]] = [:]
        for id in figures.keys { podContainers[byID[id]!.properties.podUID, default: []].append(id) }
        var share: [EntityID: (rx: UInt64, tx: UInt64)] = [:]
        for (uid, members) in podContainers {
            guard let totals = network[uid] else { continue }
            let ordered = members.sorted { (byID[$0]!.properties.container, $0) < (byID[$1]!.properties.container, $1) }
            let n = UInt64(ordered.count)
            for (index, id) in ordered.enumerated() {
                let first = index == 0
                share[id] = (totals.rx / n + (first ? totals.rx % n : 0), totals.tx / n + (first ? totals.tx % n : 0))
            }
        }
        var result: [String: Allocation] = [:]
        var slots: [String: Set<String>] = [:]
        for (id, f) in figures.sorted(by: { $0.key < $1.key }) {
            let instance = byID[id]!, key = keyOf[id]!
            var entry = result[key] ?? Allocation(name: key, windowStart: window.0, windowEnd: window.1)
            let lower = max(instance.first, window.0), upper = min(instance.last, window.1)
            entry.start = min(entry.start, lower)
            entry.end = max(entry.end, upper)
            entry.lived += max(upper - lower, 0)
            entry.covered += f.covered
            entry.cpuCoreNanoseconds &+= f.cpu
            entry.cpuRequestCoreSeconds += f.cpuRequest
            entry.ramUsageByteSeconds += f.memory
            entry.ramRequestByteSeconds += f.memoryRequest
            let cpuSeconds = Double(f.cpu) / 1e9
            switch query.basis {
            case .max:
                entry.cpuBasisCoreSeconds += max(cpuSeconds, f.cpuRequest)
                entry.ramBasisByteSeconds += max(f.memory, f.memoryRequest)
            case .usage:
                entry.cpuBasisCoreSeconds += cpuSeconds
                entry.ramBasisByteSeconds += f.memory
            case .request:
                entry.cpuBasisCoreSeconds += f.cpuRequest
                entry.ramBasisByteSeconds += f.memoryRequest
            }
            entry.cpuCoreUsageMax = max(entry.cpuCoreUsageMax, f.cpuPeak / 1e9)
            entry.ramByteUsageMax = max(entry.ramByteUsageMax, f.memoryMax)
            if let net = share[id] {
                entry.networkReceiveBytes &+= net.rx
                entry.networkTransferBytes &+= net.tx
            }
            entry.containerInstances += 1
            slots[key, default: []].insert(instance.properties.podUID + "/" + instance.properties.container)
            let properties = Self.properties(instance.properties, query)
            entry.properties = entry.containerInstances == 1 ? properties : entry.properties.filter { properties[$0.key] == $0.value }
            result[key] = entry
        }
        for (key, distinct) in slots {
            result[key]!.restarts = result[key]!.containerInstances - distinct.count
            result[key]!.observed = max(result[key]!.end - result[key]!.start, 0)
        }
        return result
    }

    static func allocationKey(_ p: InstanceProperties, _ query: AllocationQuery) -> String {
        guard !query.aggregate.isEmpty else { return "\(p.namespace)/\(p.pod)/\(p.container)" }
        return query.aggregate.map { key -> String in
            let value: String
            switch key {
            case .cluster: value = query.cluster
            case .node: value = p.node
            case .namespace: value = p.namespace
            case .controllerKind: value = p.controllerKind
            case .controller: value = p.controller.isEmpty ? "" : "\(p.namespace)/\(p.controller)"
            case .pod: value = "\(p.namespace)/\(p.pod)"
            case .container: value = "\(p.namespace)/\(p.pod)/\(p.container)"
            case .owner: value = query.owner(p.namespace) ?? ""
            case .label(let name): value = p.labels[name] ?? ""
            }
            return value.isEmpty ? "__unallocated__" : value
        }.joined(separator: "/")
    }

    static func properties(_ p: InstanceProperties, _ query: AllocationQuery) -> [String: String] {
        var result = ["namespace": p.namespace, "pod": p.pod, "container": p.container, "node": p.node]
        if !query.cluster.isEmpty { result["cluster"] = query.cluster }
        if !p.controllerKind.isEmpty { result["controllerKind"] = p.controllerKind }
        if !p.controller.isEmpty { result["controller"] = p.controller }
        return result.filter { !$0.value.isEmpty }
    }
}

/// The container and pod metrics accounting reads, by catalog index.
struct AccountingMetrics {
    let cpu = HistoryCatalog.index(.container, "cpu/usage")
    let cpuRequest = HistoryCatalog.index(.container, "cpu/request")
    let memory = HistoryCatalog.index(.container, "memory/working_set")
    let memoryRequest = HistoryCatalog.index(.container, "memory/request")
    let rx = HistoryCatalog.index(.pod, "network/rx")
    let tx = HistoryCatalog.index(.pod, "network/tx")
    /// The container metrics in `InstanceFigures` slot order.
    var container: [Int] { [cpu, cpuRequest, memory, memoryRequest] }

    /// The summary's column of each container metric, nil unless all are summarized.
    func slots(in summary: DaySummary) -> [Int]? {
        let found = container.compactMap(summary.slot(of:))
        return found.count == container.count ? found : nil
    }
}

/// One container instance's figures over one step.
struct InstanceFigures {
    var cpu: UInt64 = 0
    /// Core-seconds, byte-seconds.
    var cpuRequest = 0.0, memory = 0.0, memoryRequest = 0.0
    var covered: Int64 = 0
    /// Core-nanoseconds per second at its busiest hour; the largest working-set sample.
    var cpuPeak = 0.0, memoryMax = 0.0

    /// A piece's bucket of the metric in `AccountingMetrics.container`'s slot.
    mutating func add(_ stats: BucketStats, slot: Int) {
        switch slot {
        case 0:
            cpu &+= stats.increase
            covered += stats.covered
            if stats.covered > 0 { cpuPeak = max(cpuPeak, Double(stats.increase) / (Double(stats.covered) / 1000)) }
        case 1: cpuRequest += stats.integral / 1000     // millicore-seconds
        case 2:
            memory += stats.integral
            if stats.count > 0 { memoryMax = max(memoryMax, stats.max) }
        default: memoryRequest += stats.integral
        }
    }

    /// A day summary's row; `slots`: the summary's columns in slot order.
    mutating func add(_ summary: DaySummary, row: Int, _ slots: [Int]) {
        let cpuColumn = summary.columns[slots[0]]
        cpu &+= cpuColumn.increase[row]
        covered += cpuColumn.covered[row]
        cpuPeak = max(cpuPeak, cpuColumn.peakRate[row])
        cpuRequest += summary.columns[slots[1]].integral[row] / 1000
        memory += summary.columns[slots[2]].integral[row]
        if summary.columns[slots[2]].count[row] > 0 { memoryMax = max(memoryMax, summary.columns[slots[2]].max[row]) }
        memoryRequest += summary.columns[slots[3]].integral[row]
    }
}
