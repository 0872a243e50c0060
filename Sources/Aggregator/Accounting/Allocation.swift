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
    /// Observed time (milliseconds): per piece, the longest covered time of one container
    /// slot (a pod's container, whose instances follow each other, so theirs add up), summed.
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
    /// The highest average over one piece (an hour, or a part-hour at a window's edge).
    public var cpuCoreUsageMax: Double = 0
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
    /// `coverage`.
    public func allocations(_ query: AllocationQuery) throws -> [[String: Allocation]] {
        var query = query
        // Accumulated: the whole range is one step (instances counted once, the basis taken
        // over the whole range).
        if query.accumulate { query.edges = [query.edges.first!, query.edges.last!] }
        let windows = WindowPieces(edges: query.edges)
        let container = HistoryFamily.container, pod = HistoryFamily.pod
        let instances = accountedEntities(container, namespaces: query.namespaces).filter { query.filter($0.properties) }
        // Each instance's group key, computed once.
        var keyOf: [EntityID: Int] = [:]
        var keys: [String] = []
        var keyIndex: [String: Int] = [:]
        var byID: [EntityID: AccountedEntity] = [:]
        for instance in instances {
            let key = Self.allocationKey(instance.properties, query)
            let index = keyIndex[key] ?? { keys.append(key); keyIndex[key] = keys.count - 1; return keys.count - 1 }()
            keyOf[instance.id] = index
            byID[instance.id] = instance
        }
        if instances.isEmpty { return Array(repeating: [:], count: query.edges.count - 1) }

        // The pods' network counters per step, by pod uid.
        let podUIDs = Set(instances.map(\.properties.podUID))
        let pods = accountedEntities(pod, namespaces: query.namespaces).filter { podUIDs.contains($0.properties.podUID) }
        let podUID = Dictionary(pods.map { ($0.id, $0.properties.podUID) }, uniquingKeysWith: { a, _ in a })
        let rx = HistoryCatalog.index(pod, "network/rx"), tx = HistoryCatalog.index(pod, "network/tx")
        var network: [[String: (rx: UInt64, tx: UInt64)]] = Array(repeating: [:], count: query.edges.count - 1)
        try scan(pods.map(\.id), metrics: [rx, tx], windows: windows) { range, figures in
            for slot in 0..<2 {
                for (id, list) in figures[slot] {
                    guard let uid = podUID[id] else { continue }
                    for (offset, stats) in list.enumerated() {
                        let window = windows.pieces[range.lowerBound + offset].window
                        if slot == 0 { network[window][uid, default: (0, 0)].rx &+= stats.increase } else { network[window][uid, default: (0, 0)].tx &+= stats.increase }
                    }
                }
            }
        } windowDone: { _ in }

        let cpu = HistoryCatalog.index(container, "cpu/usage"), cpuRequest = HistoryCatalog.index(container, "cpu/request")
        let memory = HistoryCatalog.index(container, "memory/working_set"), memoryRequest = HistoryCatalog.index(container, "memory/request")
        /// One instance's figures over the current window.
        struct Running {
            var cpu: UInt64 = 0, cpuRequest = 0.0, memory = 0.0, memoryRequest = 0.0, covered: Int64 = 0, seen = false
        }
        var running: [EntityID: Running] = [:]
        /// Per group and piece of the current run: usage and the longest slot's covered time.
        var pieceUsage: [[(cpu: UInt64, memory: Double, covered: Int64)]] = []
        /// A slot per pod uid and container name: its instances run one after the other.
        var slotOf: [EntityID: Int] = [:]
        var slotIndex: [String: Int] = [:]
        for instance in instances {
            let name = instance.properties.podUID + "/" + instance.properties.container
            slotOf[instance.id] = slotIndex[name] ?? { slotIndex[name] = slotIndex.count; return slotIndex.count - 1 }()
        }
        /// Per slot touched in the current run: its instances' covered time per piece.
        var slotCovered: [Int: (key: Int, covered: [Int64])] = [:]
        var steps: [[String: Allocation]] = []
        var current: [Int: Allocation] = [:]
        func allocation(_ key: Int, window: Int) -> Allocation {
            current[key] ?? Allocation(name: keys[key], windowStart: query.edges[window], windowEnd: query.edges[window + 1])
        }
        var pieceRun = -1
        /// The run's per-piece figures into the groups' maxima and observed time.
        func foldPieces() {
            guard !pieceUsage.isEmpty, pieceRun >= 0 else { return }
            for (_, slot) in slotCovered {
                for (offset, covered) in slot.covered.enumerated() {
                    pieceUsage[slot.key][offset].covered = max(pieceUsage[slot.key][offset].covered, covered)
                }
            }
            slotCovered = [:]
            for (key, list) in pieceUsage.enumerated() {
                var entry: Allocation?
                for (offset, piece) in list.enumerated() where piece.covered > 0 || piece.cpu > 0 || piece.memory > 0 {
                    let window = windows.pieces[pieceRun + offset].window
                    if entry == nil { entry = allocation(key, window: window) }
                    entry!.observed += piece.covered
                    if piece.covered > 0 {
                        let seconds = Double(piece.covered) / 1000
                        entry!.cpuCoreUsageMax = max(entry!.cpuCoreUsageMax, Double(piece.cpu) / 1e9 / seconds)
                        entry!.ramByteUsageMax = max(entry!.ramByteUsageMax, piece.memory / seconds)
                    }
                }
                if let entry { current[key] = entry }
            }
            pieceUsage = []
        }
        try scan(instances.map(\.id), metrics: [cpu, cpuRequest, memory, memoryRequest], windows: windows) { range, figures in
            if pieceUsage.isEmpty || pieceUsage[0].count != range.count || range.lowerBound != pieceRun {
                foldPieces()
                pieceRun = range.lowerBound
                pieceUsage = Array(repeating: Array(repeating: (0, 0, 0), count: range.count), count: keys.count)
            }
            for (id, list) in figures[0] {
                guard let key = keyOf[id] else { continue }
                var figures = running[id] ?? Running()
                for (offset, stats) in list.enumerated() where !stats.isEmpty {
                    figures.cpu &+= stats.increase
                    figures.covered += stats.covered
                    figures.seen = true
                    pieceUsage[key][offset].cpu &+= stats.increase
                    if stats.covered > 0, let slot = slotOf[id] {
                        slotCovered[slot, default: (key, Array(repeating: 0, count: range.count))].covered[offset] += stats.covered
                    }
                }
                running[id] = figures
            }
            for slot in 1...3 {
                for (id, list) in figures[slot] {
                    guard let key = keyOf[id] else { continue }
                    var figures = running[id] ?? Running()
                    for (offset, stats) in list.enumerated() where !stats.isEmpty {
                        figures.seen = true
                        switch slot {
                        case 1: figures.cpuRequest += stats.integral / 1000     // millicore-seconds -> core-seconds
                        case 2:
                            figures.memory += stats.integral
                            pieceUsage[key][offset].memory += stats.integral
                        default: figures.memoryRequest += stats.integral
                        }
                    }
                    running[id] = figures
                }
            }
        } windowDone: { window in
            foldPieces()
            pieceUsage = []
            // Each pod's network over its containers of this step, evenly, remainder first.
            var podContainers: [String: [EntityID]] = [:]
            for (id, figures) in running where figures.seen { podContainers[byID[id]!.properties.podUID, default: []].append(id) }
            var share: [EntityID: (rx: UInt64, tx: UInt64)] = [:]
            for (uid, members) in podContainers {
                guard let totals = network[window][uid] else { continue }
                let ordered = members.sorted { (byID[$0]!.properties.container, $0) < (byID[$1]!.properties.container, $1) }
                let n = UInt64(ordered.count)
                for (index, id) in ordered.enumerated() {
                    let first = index == 0
                    share[id] = (totals.rx / n + (first ? totals.rx % n : 0), totals.tx / n + (first ? totals.tx % n : 0))
                }
            }
            var pairs: [Int: Set<String>] = [:]
            for (id, figures) in running where figures.seen {
                let instance = byID[id]!, key = keyOf[id]!
                var entry = allocation(key, window: window)
                let lower = max(instance.first, query.edges[window]), upper = min(instance.last, query.edges[window + 1])
                entry.start = min(entry.start, lower)
                entry.end = max(entry.end, upper)
                entry.lived += max(upper - lower, 0)
                entry.covered += figures.covered
                entry.cpuCoreNanoseconds &+= figures.cpu
                entry.cpuRequestCoreSeconds += figures.cpuRequest
                entry.ramUsageByteSeconds += figures.memory
                entry.ramRequestByteSeconds += figures.memoryRequest
                let cpuSeconds = Double(figures.cpu) / 1e9
                switch query.basis {
                case .max:
                    entry.cpuBasisCoreSeconds += max(cpuSeconds, figures.cpuRequest)
                    entry.ramBasisByteSeconds += max(figures.memory, figures.memoryRequest)
                case .usage:
                    entry.cpuBasisCoreSeconds += cpuSeconds
                    entry.ramBasisByteSeconds += figures.memory
                case .request:
                    entry.cpuBasisCoreSeconds += figures.cpuRequest
                    entry.ramBasisByteSeconds += figures.memoryRequest
                }
                if let net = share[id] {
                    entry.networkReceiveBytes &+= net.rx
                    entry.networkTransferBytes &+= net.tx
                }
                entry.containerInstances += 1
                pairs[key, default: []].insert(instance.properties.podUID + "/" + instance.properties.container)
                let properties = Self.properties(instance.properties, query)
                entry.properties = entry.containerInstances == 1 ? properties : entry.properties.filter { properties[$0.key] == $0.value }
                current[key] = entry
            }
            for (key, distinct) in pairs { current[key]!.restarts = current[key]!.containerInstances - distinct.count }
            steps.append(Dictionary(uniqueKeysWithValues: current.map { (keys[$0.key], $0.value) }))
            current = [:]
            running = [:]
        }
        // Steps without any allocation still answer (an empty map).
        while steps.count < query.edges.count - 1 { steps.append([:]) }
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

    static func properties(_ p: InstanceProperties, _ query: AllocationQuery) -> [String: String] {
        var result = ["namespace": p.namespace, "pod": p.pod, "container": p.container, "node": p.node]
        if !query.cluster.isEmpty { result["cluster"] = query.cluster }
        if !p.controllerKind.isEmpty { result["controllerKind"] = p.controllerKind }
        if !p.controller.isEmpty { result["controller"] = p.controller }
        return result.filter { !$0.value.isEmpty }
    }
}
