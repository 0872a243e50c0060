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
    /// GPUs allocated x seconds (a MIG profile as its share of a GPU), from the requests.
    public var gpuRequestSeconds: Double = 0
    /// GPU memory held x seconds.
    public var gpuMemoryByteSeconds: Double = 0
    /// SM activity in GPUs (a GPU busy half the time: 0.5) x seconds.
    public var gpuUsageSeconds: Double = 0

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
    /// GPUs held on average over the time it ran; GPU-hours; SM utilization on average (in GPUs:
    /// one GPU busy half the time is 0.5); GPU memory x hours.
    public var gpuCount: Double { observed > 0 ? gpuRequestSeconds / observedSeconds : 0 }
    public var gpuHours: Double { gpuRequestSeconds / 3600 }
    public var gpuUsageAverage: Double { observed > 0 ? gpuUsageSeconds / observedSeconds : 0 }
    public var gpuMemoryByteHours: Double { gpuMemoryByteSeconds / 3600 }

    static func efficiency(_ usage: Double, _ request: Double) -> Double { request > 0 ? usage / request : (usage > 0 ? 1 : 0) }

    public func cpuCost(_ prices: PriceTable) -> Double { cpuCoreHours * prices.cpuCoreHour }
    public func ramCost(_ prices: PriceTable) -> Double { ramByteHours / 1_073_741_824 * prices.ramGiBHour }
    public func gpuCost(_ prices: PriceTable) -> Double { gpuHours * prices.gpuHour }
    public func networkCost(_ prices: PriceTable) -> Double { Double(networkTransferBytes) / 1_073_741_824 * prices.networkGiB }
    public func totalCost(_ prices: PriceTable) -> Double { cpuCost(prices) + ramCost(prices) + gpuCost(prices) + networkCost(prices) }

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
        let plan = try AllocationPlan(self, query)
        if plan.instances.isEmpty { return Array(repeating: [:], count: query.edges.count - 1) }
        let metrics = AccountingMetrics()
        let container = HistoryFamily.container.rawValue, pod = HistoryFamily.pod.rawValue
        var steps: [[String: Allocation]] = []
        // Buffers of one step, reused by the next.
        var figures = [InstanceFigures](repeating: .init(), count: plan.instances.count)
        var network = [(rx: UInt64, tx: UInt64)](repeating: (0, 0), count: plan.pods.count)
        var scratch = AllocationPlan.Scratch(plan)
        for window in 0..<(query.edges.count - 1) {
            let start = query.edges[window], end = query.edges[window + 1]
            if window > 0 {
                figures.withUnsafeMutableBufferPointer { $0.update(repeating: .init()) }
                network.withUnsafeMutableBufferPointer { $0.update(repeating: (0, 0)) }
            }
            let (days, spans) = ledgerSplit(start, end)
            for day in days {
                if let columns = try store.summaryColumns(day: day, family: container, fields: metrics.containerFields) {
                    let words = columns.words.compactMap { $0 }
                    guard words.count == 8 else { continue }
                    let (cpu, covered, peak, cpuRequest, memory, samples, memoryMax, memoryRequest) =
                        (words[0], words[1], words[2], words[3], words[4], words[5], words[6], words[7])
                    figures.withUnsafeMutableBufferPointer { figures in
                        for (row, id) in columns.entities.enumerated() {
                            guard let index = plan.instance(id) else { continue }
                            figures[index].add(cpu: cpu[row], covered: covered[row], peak: peak[row], cpuRequest: cpuRequest[row], memory: memory[row],
                                               samples: samples[row], memoryMax: memoryMax[row], memoryRequest: memoryRequest[row])
                        }
                    }
                }
                if let columns = try store.summaryColumns(day: day, family: pod, fields: [(metrics.rx, .increase), (metrics.tx, .increase)]),
                   let rx = columns.words[0], let tx = columns.words[1] {
                    for (row, id) in columns.entities.enumerated() {
                        guard let index = plan.pod(id) else { continue }
                        network[index].rx &+= rx[row]
                        network[index].tx &+= tx[row]
                    }
                }
            }
            let pieces = Self.pieces(of: spans)
            if !pieces.isEmpty {
                let gap = store.configuration.gapLimit
                let live = plan.instances.filter { $0.last >= start - gap && $0.first < end }.map(\.id)
                try scan(live, metrics: metrics.container, pieces: pieces) { found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let index = plan.instance(id) else { continue }
                            for stats in buckets where !stats.isEmpty { figures[index].add(stats, slot: slot) }
                        }
                    }
                }
                let livePods = plan.podEntities.filter { $0.last >= start - gap && $0.first < end }.map(\.id)
                try scan(livePods, metrics: [metrics.rx, metrics.tx], pieces: pieces) { found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let index = plan.pod(id) else { continue }
                            let increase = buckets.reduce(UInt64(0)) { $0 &+ $1.increase }
                            if slot == 0 { network[index].rx &+= increase } else { network[index].tx &+= increase }
                        }
                    }
                }
            }
            // GPUs: only the containers that had any, over the whole step (no day summaries:
            // they would hold a column of zeros for every other container).
            if !plan.gpuInstances.isEmpty, let range = narrowed(start, end) {
                let gap = store.configuration.gapLimit
                let live = plan.gpuInstances.filter { plan.instances[$0].last >= start - gap && plan.instances[$0].first < end }.map { plan.instances[$0].id }
                try scan(live, metrics: metrics.gpu, pieces: Self.pieces(of: [range])) { found in
                    for (slot, list) in found.enumerated() {
                        for (id, buckets) in list {
                            guard let index = plan.instance(id) else { continue }
                            for stats in buckets where !stats.isEmpty { figures[index].addGPU(stats, slot: slot) }
                        }
                    }
                }
            }
            steps.append(plan.group(figures, network: network, window: (start, end), scratch: &scratch))
        }
        return steps
    }

    static func allocationKey(_ p: InstanceProperties, _ query: AllocationQuery) -> String {
        guard !query.aggregate.isEmpty else { return "\(p.namespace)/\(p.pod)/\(p.container)" }
        if query.aggregate == [.namespace] { return p.namespace.isEmpty ? "__unallocated__" : p.namespace }
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
}

/// The container and pod metrics accounting reads, by catalog index.
struct AccountingMetrics {
    let cpu = HistoryCatalog.index(.container, "cpu/usage")
    let cpuRequest = HistoryCatalog.index(.container, "cpu/request")
    let memory = HistoryCatalog.index(.container, "memory/working_set")
    let memoryRequest = HistoryCatalog.index(.container, "memory/request")
    let rx = HistoryCatalog.index(.pod, "network/rx")
    let tx = HistoryCatalog.index(.pod, "network/tx")
    let gpuRequest = HistoryCatalog.index(.container, "gpu/request")
    let gpuMemory = HistoryCatalog.index(.container, "gpu/memory_usage")
    let gpuUtilization = HistoryCatalog.index(.container, "gpu/utilization")
    /// The container metrics in `InstanceFigures` slot order.
    var container: [Int] { [cpu, cpuRequest, memory, memoryRequest] }
    /// The GPU metrics in `InstanceFigures.addGPU` slot order.
    var gpu: [Int] { [gpuRequest, gpuMemory, gpuUtilization] }

    /// The day-summary columns `InstanceFigures.add(cpu:covered:...)` takes, in its order.
    var containerFields: [(metric: Int, field: SummaryField)] {
        [(cpu, .increase), (cpu, .covered), (cpu, .peakRate), (cpuRequest, .integral), (memory, .integral), (memory, .samples), (memory, .max),
         (memoryRequest, .integral)]
    }
}

/// One allocation query's instances, pods, groups and slots as dense indexes, computed once
/// for all its steps.
struct AllocationPlan {
    let query: AllocationQuery
    let instances: [AccountedEntity]
    let podEntities: [AccountedEntity]
    /// The instances that requested or used a GPU (indexes into `instances`).
    let gpuInstances: [Int]
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
    let slotCount: Int
    /// Each instance's properties as `Allocation.propertyNames` orders them, as ids into
    /// `propertyText` (0: absent), `propertyNames.count` per instance.
    let propertyIDs: [Int32]
    let propertyText: [String]

    init(_ history: HistoryStore, _ query: AllocationQuery) throws {
        self.query = query
        let instances = try history.accountedEntities(.container, namespaces: query.namespaces).filter { query.filter($0.properties) }
        let texts = history.accountingProperties.withLock { $0.texts }
        var podIndex: [Int32: Int] = [:], pods: [String] = []
        var keyIndex: [String: Int] = [:], keys: [String] = []
        var namespaceKey: [Int32: Int] = [:]
        var slotIndex: [Int32: Int] = [:]
        var keyOf: [Int] = [], podOf: [Int] = [], slotOf: [Int] = []
        keyOf.reserveCapacity(instances.count); podOf.reserveCapacity(instances.count); slotOf.reserveCapacity(instances.count)
        // Property ids: the cluster's name is one more text after the cache's.
        let clusterID = Int32(texts.count)
        var propertyText = texts
        propertyText.append(query.cluster)
        var propertyIDs: [Int32] = []
        propertyIDs.reserveCapacity(instances.count * Allocation.propertyNames.count)
        let byNamespace = query.aggregate == [.namespace]
        var instanceByRaw = [Int32](repeating: 0, count: Int(instances.last?.id.raw ?? 0) + 1)
        for (index, instance) in instances.enumerated() {
            let ids = instance.record.ids
            instanceByRaw[Int(instance.id.raw)] = Int32(index + 1)
            // The key: by namespace without building text, else from the properties.
            if byNamespace, let known = namespaceKey[ids[1]] { keyOf.append(known) } else {
                let key = HistoryStore.allocationKey(instance.properties, query)
                if let known = keyIndex[key] { keyOf.append(known) } else { keyIndex[key] = keys.count; keyOf.append(keys.count); keys.append(key) }
                if byNamespace { namespaceKey[ids[1]] = keyOf.last! }
            }
            let uid = ids[AccountingRecord.podUID]
            if let known = podIndex[uid] { podOf.append(known) } else { podIndex[uid] = pods.count; podOf.append(pods.count); pods.append(texts[Int(uid)]) }
            let slot = ids[AccountingRecord.slot]
            if let known = slotIndex[slot] { slotOf.append(known) } else { slotOf.append(slotIndex.count); slotIndex[slot] = slotIndex.count }
            // cluster, node, namespace, controllerKind, controller, pod, container.
            propertyIDs.append(query.cluster.isEmpty ? 0 : clusterID)
            propertyIDs.append(contentsOf: ids[0..<6])
        }
        // A pod entity's key is its uid.
        let podIDs = history.store.lookup(family: HistoryFamily.pod.rawValue, keys: pods)
        let podSpans = history.store.spans(podIDs.map { $0 ?? EntityID(0) })
        var podEntities: [AccountedEntity] = []
        var podByRaw = [Int32](repeating: 0, count: Int(podIDs.compactMap { $0?.raw }.max() ?? 0) + 1)
        for (index, id) in podIDs.enumerated() {
            guard let id, let span = podSpans[index] else { continue }
            podByRaw[Int(id.raw)] = Int32(index + 1)
            podEntities.append(AccountedEntity(id: id, record: AccountingRecord(InstanceProperties(namespace: "", pod: "", podUID: pods[index]), ids: []),
                                               first: span.first, last: span.last))
        }
        var members = [[Int]](repeating: [], count: pods.count)
        for index in instances.indices { members[podOf[index]].append(index) }
        podMembers = members.map { list in
            list.count < 2 ? list : list.sorted { (instances[$0].properties.container, instances[$0].id) < (instances[$1].properties.container, instances[$1].id) }
        }
        self.instances = instances
        gpuInstances = instances.indices.filter { !instances[$0].properties.gpu.isEmpty }
        self.podEntities = podEntities
        self.pods = pods
        self.keys = keys
        self.keyOf = keyOf
        self.podOf = podOf
        self.slotOf = slotOf
        slotCount = slotIndex.count
        self.propertyIDs = propertyIDs
        self.propertyText = propertyText
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

    /// Per-step working arrays, reused across steps.
    struct Scratch {
        var share: [(rx: UInt64, tx: UInt64)]
        var presentInPod: [Int32]
        /// The step (+1) a slot was last counted in.
        var slotStep: [Int32]
        var step: Int32 = 0

        init(_ plan: AllocationPlan) {
            share = Array(repeating: (0, 0), count: plan.instances.count)
            presentInPod = Array(repeating: 0, count: plan.pods.count)
            slotStep = Array(repeating: 0, count: plan.slotCount)
        }
    }

    /// A group's figures while a step is grouped.
    struct Totals {
        var seen = false
        var start = Int64.max, end = Int64.min, lived: Int64 = 0, covered: Int64 = 0
        var cpu: UInt64 = 0, cpuRequest = 0.0, cpuBasis = 0.0, memory = 0.0, memoryRequest = 0.0, memoryBasis = 0.0
        var cpuMax = 0.0, memoryMax = 0.0, rx: UInt64 = 0, tx: UInt64 = 0
        var gpuRequest = 0.0, gpuMemory = 0.0, gpuUsage = 0.0
        var instances = 0, slots = 0
    }

    /// One step's instance figures into its allocations.
    func group(_ figures: [InstanceFigures], network: [(rx: UInt64, tx: UInt64)], window: (Int64, Int64), scratch: inout Scratch) -> [String: Allocation] {
        scratch.step += 1
        let step = scratch.step
        // Each pod's network over its containers of this step, evenly, the remainder to the
        // first (by container name).
        for index in instances.indices where figures[index].seen { scratch.presentInPod[podOf[index]] += 1 }
        for (pod, members) in podMembers.enumerated() {
            let n = UInt64(scratch.presentInPod[pod])
            scratch.presentInPod[pod] = 0
            guard n > 0 else { continue }
            let totals = network[pod]
            var first = true
            for index in members where figures[index].seen {
                scratch.share[index] = (totals.rx / n + (first ? totals.rx % n : 0), totals.tx / n + (first ? totals.tx % n : 0))
                first = false
            }
        }
        let width = Allocation.propertyNames.count
        var totals = [Totals](repeating: Totals(), count: keys.count)
        /// Per key, the property ids its members agree on (-1: they disagree).
        var agreed = [Int32](repeating: -1, count: keys.count * width)
        for index in instances.indices where figures[index].seen {
            let f = figures[index], instance = instances[index], key = keyOf[index]
            let lower = max(instance.first, window.0), upper = min(instance.last, window.1)
            let cpuSeconds = Double(f.cpu) / 1e9
            let share = scratch.share[index]
            let first = !totals[key].seen
            totals.withUnsafeMutableBufferPointer { all in
                let t = all.baseAddress! + key
                t.pointee.seen = true
                t.pointee.start = min(t.pointee.start, lower)
                t.pointee.end = max(t.pointee.end, upper)
                t.pointee.lived += max(upper - lower, 0)
                t.pointee.covered += f.covered
                t.pointee.cpu &+= f.cpu
                t.pointee.cpuRequest += f.cpuRequest
                t.pointee.memory += f.memory
                t.pointee.memoryRequest += f.memoryRequest
                t.pointee.gpuRequest += f.gpuRequest
                t.pointee.gpuMemory += f.gpuMemory
                t.pointee.gpuUsage += f.gpuUsage
                switch query.basis {
                case .max:
                    t.pointee.cpuBasis += max(cpuSeconds, f.cpuRequest)
                    t.pointee.memoryBasis += max(f.memory, f.memoryRequest)
                case .usage:
                    t.pointee.cpuBasis += cpuSeconds
                    t.pointee.memoryBasis += f.memory
                case .request:
                    t.pointee.cpuBasis += f.cpuRequest
                    t.pointee.memoryBasis += f.memoryRequest
                }
                t.pointee.cpuMax = max(t.pointee.cpuMax, f.cpuPeak / 1e9)
                t.pointee.memoryMax = max(t.pointee.memoryMax, f.memoryMax)
                t.pointee.rx &+= share.rx
                t.pointee.tx &+= share.tx
                t.pointee.instances += 1
                if scratch.slotStep[slotOf[index]] != step {
                    scratch.slotStep[slotOf[index]] = step
                    t.pointee.slots += 1
                }
            }
            let base = index * width, at = key * width
            for slot in 0..<width {
                let id = propertyIDs[base + slot]
                if first { agreed[at + slot] = id == 0 ? -1 : id } else if agreed[at + slot] != id { agreed[at + slot] = -1 }
            }
        }
        var result: [String: Allocation] = [:]
        result.reserveCapacity(keys.count)
        for (key, t) in totals.enumerated() where t.seen {
            var entry = Allocation(name: keys[key], windowStart: window.0, windowEnd: window.1)
            entry.start = t.start
            entry.end = t.end
            entry.observed = max(t.end - t.start, 0)
            entry.lived = t.lived
            entry.covered = t.covered
            entry.cpuCoreNanoseconds = t.cpu
            entry.cpuRequestCoreSeconds = t.cpuRequest
            entry.cpuBasisCoreSeconds = t.cpuBasis
            entry.ramUsageByteSeconds = t.memory
            entry.ramRequestByteSeconds = t.memoryRequest
            entry.ramBasisByteSeconds = t.memoryBasis
            entry.cpuCoreUsageMax = t.cpuMax
            entry.ramByteUsageMax = t.memoryMax
            entry.networkReceiveBytes = t.rx
            entry.networkTransferBytes = t.tx
            entry.gpuRequestSeconds = t.gpuRequest
            entry.gpuMemoryByteSeconds = t.gpuMemory
            entry.gpuUsageSeconds = t.gpuUsage
            entry.containerInstances = t.instances
            entry.restarts = t.instances - t.slots
            for (slot, name) in Allocation.propertyNames.enumerated() where agreed[key * width + slot] > 0 {
                entry.properties[name] = propertyText[Int(agreed[key * width + slot])]
            }
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
    /// GPU-seconds requested, GPU memory byte-seconds, SM activity in GPU-seconds.
    var gpuRequest = 0.0, gpuMemory = 0.0, gpuUsage = 0.0
    /// It had any figure in the step.
    var seen = false

    /// A piece's bucket of the metric in `AccountingMetrics.gpu`'s slot.
    mutating func addGPU(_ stats: BucketStats, slot: Int) {
        seen = true
        switch slot {
        case 0: gpuRequest += stats.integral
        case 1: gpuMemory += stats.integral
        default: gpuUsage += stats.integral / 100     // percent-seconds
        }
    }

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

    /// A day summary's row: the words of `AccountingMetrics.containerFields`.
    @inline(__always)
    mutating func add(cpu: UInt64, covered: UInt64, peak: UInt64, cpuRequest: UInt64, memory: UInt64, samples: UInt64, memoryMax: UInt64, memoryRequest: UInt64) {
        seen = true
        self.cpu &+= cpu
        self.covered += Int64(bitPattern: covered)
        cpuPeak = max(cpuPeak, Double(bitPattern: peak))
        self.cpuRequest += Double(bitPattern: cpuRequest) / 1000
        self.memory += Double(bitPattern: memory)
        if samples > 0 { self.memoryMax = max(self.memoryMax, Double(bitPattern: memoryMax)) }
        self.memoryRequest += Double(bitPattern: memoryRequest)
    }
}
