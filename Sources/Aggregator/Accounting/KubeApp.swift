import Foundation
import TimeSeries

/// Kube-App's history queries (REFERENCE.md §5) over the time-series history: raw rows per
/// container and sums per pod or namespace, each container counted once and exactly.
public enum KubeApp {
    /// Kube-App's metrics clustermon has no family for: known names that answer an empty set.
    public static let pending: Set<String> = []

    /// Which family answers a metric: the container's when it has it, else the pod's (the
    /// network and the pod's filesystem limit are the pod's, as Heapster wrote them). Node
    /// metrics have no namespace, so Kube-App's namespace filter never matched them: nil.
    public static func family(_ metric: String) -> HistoryFamily? {
        if HistoryCatalog.formula(metric, in: .container) != nil { return .container }
        if HistoryCatalog.formula(metric, in: .pod) != nil { return .pod }
        return nil
    }

    /// Every name the API answers to, sorted.
    public static var metrics: [String] {
        Array(Set(HistoryCatalog.names(.container) + HistoryCatalog.names(.pod) + HistoryCatalog.names(.node)).union(pending)).sorted()
    }

    public static func knows(_ metric: String) -> Bool {
        pending.contains(metric) || HistoryFamily.allCases.contains { $0 != .edge && HistoryCatalog.formula(metric, in: $0) != nil }
    }

    /// One raw row.
    public struct Row: Sendable, Equatable {
        /// Unix milliseconds.
        public var time: Int64
        public var value: Double
        /// Integer metrics print as integers.
        public var integer: Bool
        /// `pod_container` or `pod`.
        public var type: String
        public var properties: InstanceProperties
    }

    /// How `agg` groups.
    public enum Grouping: String, Sendable, CaseIterable {
        case podByNamespace = "pod-by-namespace", allPod = "all-pod", allNamespace = "all-namespace"
    }

    /// One `agg` row: the group and its sum in Kube-App's unit.
    public struct Sum: Sendable, Equatable {
        public var namespace: String
        /// nil for `all-namespace`.
        public var pod: String?
        public var sum: Double
        /// A counter's increase, exact (a month of core-nanoseconds exceeds a Double's 2^53).
        public var exact: UInt64?
    }
}

extension HistoryStore {
    /// Rows of `metric` for the containers (or pods) of the namespaces `admits` allows,
    /// begin < time < end (Unix milliseconds), newest first, at most `limit`.
    public func kubeAppRows(_ metric: String, namespaces admits: @escaping @Sendable (String) -> Bool, begin: Int64, end: Int64,
                            limit: Int) throws -> [KubeApp.Row] {
        guard let family = KubeApp.family(metric), let formula = HistoryCatalog.formula(metric, in: family), end - begin > 1 else { return [] }
        let entities = try accountedEntities(family, namespaces: admits).filter { $0.last > begin && $0.first < end }
        if entities.isEmpty { return [] }
        let ids = entities.map(\.id)
        let needed = Array(Set(Self.metrics(of: formula))).sorted()
        let gapLimit = store.configuration.gapLimit
        let from = begin + 1, to = end - 1
        let fetched = try store.samples(ids, metrics: needed, from: from - gapLimit, to: to)
        let byMetric = Dictionary(uniqueKeysWithValues: zip(needed, fetched))
        let encodings = family.definition.encodings
        let points = Self.raw(formula, from: from, to: to, gapLimit: gapLimit, encodings: encodings, millisecondTimes: true) { byMetric[$0] ?? [:] }
        let integer: Bool = if case .stored(let index) = formula { encodings[index] == .integer } else { false }
        let type = family == .container ? "pod_container" : "pod"
        var rows: [KubeApp.Row] = []
        for entity in entities {
            for point in points[entity.id] ?? [] {
                rows.append(KubeApp.Row(time: point.time, value: point.value, integer: integer, type: type, properties: entity.properties))
            }
        }
        // Newest first; at one time, by pod and container (a stable order for equal times).
        rows.sort { a, b in
            if a.time != b.time { return a.time > b.time }
            return (a.properties.namespace, a.properties.pod, a.properties.container, a.properties.containerID)
                < (b.properties.namespace, b.properties.pod, b.properties.container, b.properties.containerID)
        }
        return Array(rows.prefix(limit))
    }

    /// `metric` over [begin, end) per pod or namespace, in Kube-App's unit: the value
    /// integrated over the window in minutes (rates from the counter's exact increase, so
    /// `cpu/usage_rate` gives millicore-minutes), a counter's increase, each container once.
    public func kubeAppSums(_ metric: String, grouping: KubeApp.Grouping, namespaces admits: @escaping @Sendable (String) -> Bool,
                            begin: Int64, end: Int64) throws -> [KubeApp.Sum] {
        guard let family = KubeApp.family(metric), let formula = HistoryCatalog.formula(metric, in: family), begin < end else { return [] }
        let index: Int, scale: Double, counter: Bool
        switch formula {
        case .stored(let stored):
            index = stored
            counter = family.definition.metrics[stored].kind == .counter
            scale = counter ? 1 : 1.0 / 60
        case .rate(let stored, let rateScale):
            index = stored
            counter = true
            scale = rateScale / 60
        case .ratio: return []
        }
        // Each entity's group as a dense index by raw id, from the index's display keys (no
        // entity's labels are read).
        let (groups, groupByRaw) = kubeAppGroups(family, namespaces: admits, byPod: grouping != .allNamespace)
        if groups.isEmpty { return [] }
        var increases = [UInt64](repeating: 0, count: groups.count)
        var integrals = [Double](repeating: 0, count: groups.count)
        var seen = [Bool](repeating: false, count: groups.count)
        @inline(__always) func group(_ id: EntityID) -> Int? {
            let raw = Int(id.raw)
            guard raw < groupByRaw.count, groupByRaw[raw] > 0 else { return nil }
            return Int(groupByRaw[raw]) - 1
        }
        // Finished days from their summaries when the metric has them, the rest piece by piece.
        var (days, spans) = family.definition.summarized.contains(index) ? ledgerSplit(begin, end) : ([], narrowed(begin, end).map { [$0] } ?? [])
        for day in days {
            guard let columns = try store.summaryColumns(day: day, family: family.rawValue, fields: [(index, counter ? .increase : .integral)]),
                  let words = columns.words[0] else {
                spans.append((day * 86_400_000, (day + 1) * 86_400_000))
                continue
            }
            for (row, id) in columns.entities.enumerated() {
                guard let index = group(id) else { continue }
                seen[index] = true
                if counter { increases[index] &+= words[row] } else { integrals[index] += Double(bitPattern: words[row]) }
            }
        }
        let pieces = Self.pieces(of: spans)
        if !pieces.isEmpty {
            let ids = entityIDs(family, namespaces: admits)
            try scan(ids, metrics: [index], pieces: pieces) { figures in
                for (id, list) in figures[0] {
                    guard let index = group(id) else { continue }
                    for stats in list where !stats.isEmpty {
                        seen[index] = true
                        increases[index] &+= stats.increase
                        integrals[index] += stats.integral
                    }
                }
            }
        }
        let exact = counter && scale == 1
        var sums: [KubeApp.Sum] = []
        for (index, group) in groups.enumerated() where seen[index] {
            sums.append(counter
                ? KubeApp.Sum(namespace: group.namespace, pod: group.pod, sum: Double(increases[index]) * scale, exact: exact ? increases[index] : nil)
                : KubeApp.Sum(namespace: group.namespace, pod: group.pod, sum: integrals[index] * scale, exact: nil))
        }
        sums.sort { ($0.namespace, $0.pod ?? "") < ($1.namespace, $1.pod ?? "") }
        return sums
    }
}
