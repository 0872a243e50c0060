import Foundation
import TimeSeries

/// What a container instance is, from the labels the history recorded with it.
public struct InstanceProperties: Sendable, Equatable {
    public var namespace: String
    public var pod: String
    public var podUID: String
    public var container: String
    public var containerID: String
    public var node: String
    public var controllerKind: String
    public var controller: String
    public var image: String
    /// The pod's Kubernetes labels.
    public var labels: [String: String]
    /// The GPUs it requested (`nvidia.com/gpu=1,...`), `unrequested` when it used one without
    /// asking, empty for a container without GPUs.
    public var gpu: String = ""
    /// The GPUs the kubelet assigned it (or that its processes used when first seen): UUIDs,
    /// models and indexes on the node, comma-separated in the same order.
    public var gpuUUID = "", gpuName = "", gpuIndex = ""

    public init(namespace: String, pod: String, podUID: String = "", container: String = "", containerID: String = "", node: String = "",
                controllerKind: String = "", controller: String = "", image: String = "", labels: [String: String] = [:]) {
        self.namespace = namespace
        self.pod = pod
        self.podUID = podUID
        self.container = container
        self.containerID = containerID
        self.node = node
        self.controllerKind = controllerKind
        self.controller = controller
        self.image = image
        self.labels = labels
    }

    /// From an entity's history labels (`label:<key>` entries are the pod's labels).
    init(history labels: [String: String]) {
        var podLabels: [String: String] = [:]
        for (key, value) in labels where key.hasPrefix(HistoryRows.labelPrefix) { podLabels[String(key.dropFirst(HistoryRows.labelPrefix.count))] = value }
        self.init(namespace: labels["namespace"] ?? "", pod: labels["pod"] ?? "", podUID: labels["pod_uid"] ?? "",
                  container: labels["container"] ?? "", containerID: labels["container_id"] ?? "", node: labels["node"] ?? "",
                  controllerKind: labels["workload_kind"] ?? "", controller: labels["workload_name"] ?? "", image: labels["image"] ?? "",
                  labels: podLabels)
        gpu = labels["gpu"] ?? ""
        gpuUUID = labels["gpu_uuid"] ?? ""
        gpuName = labels["gpu_name"] ?? ""
        gpuIndex = labels["gpu_index"] ?? ""
    }
}

/// The history's entities of one family, with their properties, that a query reads.
public struct AccountedEntity: Sendable {
    public var id: EntityID
    let record: AccountingRecord
    public var properties: InstanceProperties { record.properties }
    /// Its first and last sample (Unix milliseconds).
    public var first: Int64
    public var last: Int64
}

/// An entity's properties parsed once, with interned ids of the texts accounting groups by.
final class AccountingRecord: Sendable {
    let properties: InstanceProperties
    /// Ids (in `AccountingCache.texts`) of node, namespace, controllerKind, controller,
    /// pod, container (`Allocation.propertyNames` without cluster), the pod uid and the slot
    /// (pod uid + container name).
    let ids: [Int32]
    static let podUID = 6, slot = 7

    init(_ properties: InstanceProperties, ids: [Int32]) {
        self.properties = properties
        self.ids = ids
    }
}

/// Parsed entities and the interned texts of their properties.
struct AccountingCache {
    var records: [EntityID: AccountingRecord] = [:]
    var texts: [String] = [""]
    var index: [String: Int32] = ["": 0]

    mutating func intern(_ text: String) -> Int32 {
        if let id = index[text] { return id }
        texts.append(text)
        index[text] = Int32(texts.count - 1)
        return Int32(texts.count - 1)
    }

    mutating func record(_ p: InstanceProperties) -> AccountingRecord {
        AccountingRecord(p, ids: [intern(p.node), intern(p.namespace), intern(p.controllerKind), intern(p.controller), intern(p.pod),
                                  intern(p.container), intern(p.podUID), intern(p.podUID + "/" + p.container)])
    }
}

extension HistoryStore {
    /// Entities of the pod or container family in the namespaces `admits` allows.
    public func accountedEntities(_ family: HistoryFamily, namespaces admits: @escaping @Sendable (String) -> Bool) throws -> [AccountedEntity] {
        let ids = entityIDs(family, namespaces: admits)
        var known = accountingProperties.withLock { cache in ids.map { cache.records[$0] } }
        let spans = store.spans(ids)
        var missing: [(Int, InstanceProperties)] = []
        let unknown = ids.indices.filter { known[$0] == nil && spans[$0] != nil }
        if !unknown.isEmpty {
            let labels = try store.labels(unknown.map { ids[$0] })
            for (index, labels) in zip(unknown, labels) { missing.append((index, InstanceProperties(history: labels))) }
        }
        if !missing.isEmpty {
            accountingProperties.withLock { cache in
                for (index, properties) in missing {
                    let record = cache.record(properties)
                    cache.records[ids[index]] = record
                    known[index] = record
                }
            }
        }
        var result: [AccountedEntity] = []
        result.reserveCapacity(ids.count)
        for (index, id) in ids.enumerated() {
            guard let span = spans[index], let record = known[index] else { continue }
            result.append(AccountedEntity(id: id, record: record, first: span.first, last: span.last))
        }
        return result
    }

    /// Entities read per store call (bounds the memory of one call's figures).
    static let accountingBatch = 2048
    /// Pieces read per store call (a day of hours).
    static let accountingSpan = 24

    /// Visits `metrics` of `ids` over `pieces` (`WindowPieces.pieces`), a run of at most a
    /// day of pieces and a batch of entities at a time: `visit(figures)` where
    /// `figures[slot][id]` has one `BucketStats` per piece of the run.
    public func scan(_ ids: [EntityID], metrics: [Int], pieces: [(start: Int64, end: Int64)],
                     visit: ([[EntityID: [BucketStats]]]) throws -> Void) throws {
        var chunk = 0
        while chunk < pieces.count {
            let upper = min(chunk + Self.accountingSpan, pieces.count)
            for batch in stride(from: 0, to: ids.count, by: Self.accountingBatch) {
                let slice = Array(ids[batch..<min(batch + Self.accountingBatch, ids.count)])
                try visit(try store.pieces(slice, metrics: metrics, pieces: pieces[chunk..<upper]))
            }
            chunk = upper
        }
    }

    /// [start, end) cut into the finished days that have day summaries and the spans
    /// between them (read piece by piece).
    func ledgerSplit(_ start: Int64, _ end: Int64) -> (days: [Int64], spans: [(Int64, Int64)]) {
        guard let (start, end) = narrowed(start, end) else { return ([], []) }
        let summarized = store.summarizedDays
        var days: [Int64] = [], spans: [(Int64, Int64)] = []
        var cursor = start
        var day = floor(start + 86_400_000 - 1, toMultipleOf: 86_400_000) / 86_400_000
        while (day + 1) * 86_400_000 <= end {
            if summarized.contains(day) {
                if cursor < day * 86_400_000 { spans.append((cursor, day * 86_400_000)) }
                days.append(day)
                cursor = (day + 1) * 86_400_000
            }
            day += 1
        }
        if cursor < end { spans.append((cursor, end)) }
        return (days, spans)
    }

    /// [start, end) narrowed to whole days around the stored samples (a day's margin and the
    /// gap limit on each side), nil when it holds none: outside, every piece is empty, so the
    /// figures are the same and a window of centuries costs what its data costs.
    func narrowed(_ start: Int64, _ end: Int64) -> (Int64, Int64)? {
        guard let extent = store.extent else { return nil }
        let day: Int64 = 86_400_000, gap = store.configuration.gapLimit
        let low = floor(extent.first - gap, toMultipleOf: day) - day
        let high = floor(extent.last + gap, toMultipleOf: day) + 2 * day
        let narrowedStart = max(start, low), narrowedEnd = min(end, high)
        return narrowedStart < narrowedEnd ? (narrowedStart, narrowedEnd) : nil
    }

    /// The pieces of the given spans.
    static func pieces(of spans: [(Int64, Int64)]) -> [(start: Int64, end: Int64)] {
        spans.flatMap { WindowPieces.pieces($0.0, $0.1) }
    }
}
