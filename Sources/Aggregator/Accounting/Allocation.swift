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

    /// The properties an allocation reports, in order.
    public static let propertyNames = ["cluster", "node", "namespace", "controllerKind", "controller", "pod", "container"]

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
        let plan = AllocationPlan(self, query)
        if plan.instances.isEmpty { return Array(repeating: [:], count: query.edges.count - 1) }
        let metrics = AccountingMetrics()
        let container = HistoryFamily.container.rawValue, pod = HistoryFamily.pod.rawValue
        var steps: [[String: Allocation]] = []
        for window in 0..<(query.edges.count - 1) {
            let start = query.edges[window], end = query.edges[window + 1]
            var figures = [InstanceFigures](repeating: .init(), count: plan.instances.count)
            var network = [(rx: UInt64, tx: UInt64)](repeating: (0, 0), count: plan.pods.count)
            let (days, spans) = ledgerSplit(start, end)
            for day in days {
                if let summary = try store.summary(day: day, family: container), let slots = metrics.slots(in: summary) {
                    for (row, id) in summary.entities.enumerated() {
                        if let index = plan.instance(id) { figures[index].add(summary, row: row, slots) }
                    }
                }
                if let summary = try store.summary(day: day, family: pod), let rx = summary.slot(of: metrics.rx), let tx = summary.slot(of: metrics.tx) {
                    for (row, id) in summary.entities.enumerated() {
                        guard let index = plan.pod(id) else { continue }
                        network[index].rx &+= summary.columns[rx].increase[row]
                        network[index].tx &+= summary.columns[tx].increase[row]
                    }
                }
            }
            let pieces = Self.pieces(of: spans)
            if !pieces.isEmpty {
                let gap = store.configuration.gapLimit
                let live = plan.instances.filter { $0.last >= start - gap && $0.first < end }.map(\.id)
                try scan(live, metrics: metrics.container, pieces: pieces) { _, found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let index = plan.instance(id) else { continue }
                            for stats in buckets where !stats.isEmpty { figures[index].add(stats, slot: slot) }
                        }
                    }
                }
                let livePods = plan.podEntities.filter { $0.last >= start - gap && $0.first < end }.map(\.id)
                try scan(livePods, metrics: [metrics.rx, metrics.tx], pieces: pieces) { _, found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let index = plan.pod(id) else { continue }
                            let increase = buckets.reduce(UInt64(0)) { $0 &+ $1.increase }
                            if slot == 0 { network[index].rx &+= increase } else { network[index].tx &+= increase }
                        }
                    }
                }
            }
            steps.append(plan.group(figures, network: network, window: (start, end)))
        }
        return steps
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

    /// One of `Allocation.propertyNames` of an instance ("" when it has none).
    static func property(_ name: String, _ p: InstanceProperties, _ query: AllocationQuery) -> String {
        switch name {
        case "cluster": query.cluster
        case "node": p.node
        case "namespace": p.namespace
        case "controllerKind": p.controllerKind
        case "controller": p.controller
        case "pod": p.pod
        case "container": p.container
        default: ""
        }
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

/// One allocation query's instances, pods, groups and slots as dense indexes, computed once
/// for all its steps.
struct AllocationPlan {
    let query: AllocationQuery
    let instances: [AccountedEntity]
    let podEntities: [AccountedEntity]
    /// Distinct pod uids of the instances.
    let pods: [String]
    /// EntityID.raw -> instance index + 1 (0: not in the query).
    private let instanceByRaw: [Int32]
    /// EntityID.raw -> pod index + 1 (pod entities; a recreated pod's entities share an index).
    private let podByRaw: [Int32]
    let keys: [String]
    let keyOf: [Int]
    let podOf: [Int]
    /// A pod's instances, by container name then id (the order the network is split in).
    let podMembers: [[Int]]
    /// Pod uid + container name: instances of one slot run one after the other.
    let slotOf: [Int]
    /// Each instance's properties as `Allocation.propertyNames` orders them ("" when absent).
    let propertyValues: [[String]]

    init(_ history: HistoryStore, _ query: AllocationQuery) {
        self.query = query
        let instances = history.accountedEntities(.container, namespaces: query.namespaces).filter { query.filter($0.properties) }
        var podIndex: [String: Int] = [:], pods: [String] = []
        var keyIndex: [String: Int] = [:], keys: [String] = []
        var slotIndex: [String: Int] = [:]
        var keyOf: [Int] = [], podOf: [Int] = [], slotOf: [Int] = [], values: [[String]] = []
        var instanceByRaw = [Int32](repeating: 0, count: Int(instances.last?.id.raw ?? 0) + 1)
        for (index, instance) in instances.enumerated() {
            let p = instance.properties
            instanceByRaw[Int(instance.id.raw)] = Int32(index + 1)
            let key = HistoryStore.allocationKey(p, query)
            if let known = keyIndex[key] { keyOf.append(known) } else { keyIndex[key] = keys.count; keyOf.append(keys.count); keys.append(key) }
            if let known = podIndex[p.podUID] { podOf.append(known) } else { podIndex[p.podUID] = pods.count; podOf.append(pods.count); pods.append(p.podUID) }
            let slot = p.podUID + "/" + p.container
            if let known = slotIndex[slot] { slotOf.append(known) } else { slotOf.append(slotIndex.count); slotIndex[slot] = slotIndex.count }
            values.append(Allocation.propertyNames.map { HistoryStore.property($0, p, query) })
        }
        let podEntities = history.accountedEntities(.pod, namespaces: query.namespaces).filter { podIndex[$0.properties.podUID] != nil }
        var podByRaw = [Int32](repeating: 0, count: Int(podEntities.last?.id.raw ?? 0) + 1)
        for entity in podEntities { podByRaw[Int(entity.id.raw)] = Int32(podIndex[entity.properties.podUID]! + 1) }
        var members = [[Int]](repeating: [], count: pods.count)
        for index in instances.indices { members[podOf[index]].append(index) }
        podMembers = members.map { list in
            list.sorted { (instances[$0].properties.container, instances[$0].id) < (instances[$1].properties.container, instances[$1].id) }
        }
        self.instances = instances
        self.podEntities = podEntities
        self.pods = pods
        self.keys = keys
        self.keyOf = keyOf
        self.podOf = podOf
        self.slotOf = slotOf
        propertyValues = values
        self.instanceByRaw = instanceByRaw
        self.podByRaw = podByRaw
    }

    @inline(__always) func instance(_ id: EntityID) -> Int? {
        let raw = Int(id.raw)
        guard raw < instanceByRaw.count else { return nil }
        let found = instanceByRaw[raw]
        return found > 0 ? Int(found) - 1 : nil
    }

    @inline(__always) func pod(_ id: EntityID) -> Int? {
        let raw = Int(id.raw)
        guard raw < podByRaw.count else { return nil }
        let found = podByRaw[raw]
        return found > 0 ? Int(found) - 1 : nil
    }

    /// One step's instance figures into its allocations.
    func group(_ figures: [InstanceFigures], network: [(rx: UInt64, tx: UInt64)], window: (Int64, Int64)) -> [String: Allocation] {
        // Each pod's network over its containers of this step, evenly, the remainder first.
        var share = [(rx: UInt64, tx: UInt64)](repeating: (0, 0), count: instances.count)
        for (pod, members) in podMembers.enumerated() where network[pod] != (0, 0) {
            let present = members.filter { figures[$0].seen }
            guard !present.isEmpty else { continue }
            let n = UInt64(present.count), totals = network[pod]
            for (order, index) in present.enumerated() {
                share[index] = (totals.rx / n + (order == 0 ? totals.rx % n : 0), totals.tx / n + (order == 0 ? totals.tx % n : 0))
            }
        }
        var entries = [Allocation?](repeating: nil, count: keys.count)
        /// Per key, the properties all its members so far agree on (nil: they disagree).
        var agreed = [[String?]](repeating: [], count: keys.count)
        var slots = [Set<Int>](repeating: [], count: keys.count)
        for index in instances.indices where figures[index].seen {
            let f = figures[index], instance = instances[index], key = keyOf[index]
            var entry = entries[key] ?? Allocation(name: keys[key], windowStart: window.0, windowEnd: window.1)
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
            entry.networkReceiveBytes &+= share[index].rx
            entry.networkTransferBytes &+= share[index].tx
            entry.containerInstances += 1
            slots[key].insert(slotOf[index])
            let values = propertyValues[index]
            if agreed[key].isEmpty {
                agreed[key] = values.map { $0.isEmpty ? nil : $0 }
            } else {
                for (slot, value) in values.enumerated() where agreed[key][slot] != nil && agreed[key][slot] != value { agreed[key][slot] = nil }
            }
            entries[key] = entry
        }
        var result: [String: Allocation] = [:]
        for (key, found) in entries.enumerated() {
            guard var entry = found else { continue }
            entry.restarts = entry.containerInstances - slots[key].count
            entry.observed = max(entry.end - entry.start, 0)
            for (slot, name) in Allocation.propertyNames.enumerated() { if let value = agreed[key][slot] { entry.properties[name] = value } }
            result[keys[key]] = entry
        }
        return result
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
    /// It had any figure in the step.
    var seen = false

    /// A piece's bucket of the metric in `AccountingMetrics.container`'s slot.
    mutating func add(_ stats: BucketStats, slot: Int) {
        seen = true
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
        seen = true
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
